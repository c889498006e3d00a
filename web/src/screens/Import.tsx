// Importing a stock list: the file is sent to the presigned upload the API hands out, then the
// job is followed until it ends, with its counts and, when rows were refused, the report to
// download. Earlier imports are listed below.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, call, client, type Schemas } from "../api";
import { ErrorLine, Pager, usePaged, when } from "../ui";

type Job = Schemas["JobView"];

/** The API's limit for a CSV upload (README "Limits"): 100 MiB. */
const MAX_BYTES = 100 * 1024 * 1024;

/** PUT with upload progress (fetch has none). */
function upload(req: Schemas["PresignedRequest"], file: File, onProgress: (f: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open(req.method, req.url);
    for (const [k, v] of req.headers) {
      // Browsers set these themselves and refuse to be told.
      if (!["content-length", "host"].includes(k.toLowerCase())) x.setRequestHeader(k, v);
    }
    x.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    x.onload = () => (x.status < 300 ? resolve() : reject(new Error(`The upload was refused (HTTP ${x.status}). Try again.`)));
    x.onerror = () => reject(new Error("The upload did not reach the server. Check the network and try again."));
    x.send(file);
  });
}

export function Import({ store }: { store: string }) {
  const [file, setFile] = useState<File | null>(null);
  const [sending, setSending] = useState<number | null>(null);
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<unknown>(null);

  const page = useCallback(
    (cursor?: string) => call(client.GET("/v1/stores/{store_id}/imports", { params: { path: { store_id: store }, query: { limit: 10, cursor } } })),
    [store],
  );
  const past = usePaged<Job>(page, [page]);

  // Follow the job until it ends: every second, later and later (up to 30 s) while the server
  // cannot be reached, and not at all once it says the job is not to be read.
  const misses = useRef(0);
  useEffect(() => {
    if (!job || job.status === "completed" || job.status === "failed") {
      if (job) past.reload();
      return;
    }
    const t = setTimeout(async () => {
      try {
        setJob(await call(client.GET("/v1/jobs/{job_id}", { params: { path: { job_id: job.job_id } } })));
        misses.current = 0;
        setError(null);
      } catch (e) {
        setError(e);
        if (e instanceof ApiError && !e.offline && e.status < 500 && e.status !== 429) return;
        misses.current++;
        setJob({ ...job });
      }
    }, Math.min(1000 * 2 ** misses.current, 30_000));
    return () => clearTimeout(t);
  }, [job]);

  const start = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setJob(null);
    if (file.size === 0) return setError(new Error("That file is empty."));
    if (file.size > MAX_BYTES) return setError(new Error("That file is over 100 MB: split it into smaller lists."));
    misses.current = 0;
    try {
      setSending(0);
      const created = await call(
        client.POST("/v1/stores/{store_id}/imports", {
          params: { path: { store_id: store } },
          body: { content_length: file.size, content_type: "text/csv" },
        }),
      );
      await upload(created.upload, file, setSending);
      setJob({ ...created, status: "queued" });
    } catch (err) {
      setError(err);
    } finally {
      setSending(null);
    }
  };

  return (
    <main>
      <h1>Import a stock list</h1>
      <form onSubmit={start}>
        <label class="field">
          <span>CSV file (name, brand, size, barcode, quantity, prices…)</span>
          <input type="file" name="file" accept=".csv,text/csv,text/plain" onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)} />
        </label>
        <button class="primary" disabled={!file || sending !== null}>
          Import
        </button>
      </form>
      {sending !== null && (
        <p role="status">
          Sending the file… <progress value={sending} max={1} />
        </p>
      )}
      <ErrorLine error={error} />
      {job && <JobCard job={job} />}
      <h2>Earlier imports</h2>
      <ul class="jobs">
        {past.items.map((j) => (
          <li key={j.job_id}>
            <JobCard job={j} />
          </li>
        ))}
      </ul>
      <Pager list={past} />
    </main>
  );
}

const STATUS: Record<Job["status"], string> = {
  awaiting_upload: "waiting for the file",
  queued: "queued",
  processing: "importing",
  completed: "done",
  failed: "failed",
};

function JobCard({ job }: { job: Job }) {
  return (
    <article class="job" data-testid="job" data-status={job.status}>
      <p>
        <strong>{STATUS[job.status]}</strong> · {when(job.created_at)}
      </p>
      {(job.status === "processing" || job.status === "queued") && <progress value={job.progress} max={1} aria-label="Import progress" />}
      <p>
        {job.processed} rows read: {job.successful} imported, {job.failed} refused, {job.duplicates_found} duplicates
      </p>
      {job.failure_reason && <p class="error">{job.failure_reason}</p>}
      {job.column_notes.map((n) => (
        <p class="hint">{n}</p>
      ))}
      {job.report_url && (
        <p>
          <a href={job.report_url} download>
            Download the refused rows (CSV)
          </a>
        </p>
      )}
    </article>
  );
}
