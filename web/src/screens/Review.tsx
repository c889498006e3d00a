// The admins' and reviewers' queue: each pending product beside the catalog products it may
// duplicate, with images, the matcher's evidence and the quality reasons; approve, reject with a
// reason, or merge into a candidate (confirmed first: it is final). Approving and rejecting
// apply to the version shown (If-Match), so a colleague's decision made meanwhile is not
// undone (the API's merge takes no version: the confirmation names both products). A
// product's history opens below it.
import { useCallback, useState } from "preact/hooks";
import { ApiError, call, client, type Schemas } from "../api";
import { ErrorLine, Pager, Thumb, usePaged, when } from "../ui";

type ReviewItem = Schemas["ReviewItem"];
type Product = Schemas["Product"];

const SOURCES = [
  ["", "All"],
  ["scan", "Scans"],
  ["import", "Imports"],
  ["api", "Added by hand"],
  ["openfoodfacts", "Open Food Facts"],
];

export function Review() {
  const [sort, setSort] = useState("oldest");
  const [source, setSource] = useState("");
  const page = useCallback(
    (cursor?: string) => call(client.GET("/v1/review", { params: { query: { sort, source: source || undefined, limit: 10, cursor } } })),
    [sort, source],
  );
  const list = usePaged<ReviewItem>(page, [page]);
  const decided = (id: string) => list.setItems((items) => items.filter((i) => i.product.product_id !== id));

  return (
    <main>
      <h1>Review</h1>
      <div class="chips" role="group" aria-label="Order">
        {[
          ["oldest", "Oldest first"],
          ["quality", "Weakest first"],
        ].map(([s, label]) => (
          <button aria-pressed={sort === s} onClick={() => setSort(s)}>
            {label}
          </button>
        ))}
      </div>
      <div class="chips" role="group" aria-label="Made by">
        {SOURCES.map(([s, label]) => (
          <button aria-pressed={source === s} onClick={() => setSource(s)}>
            {label}
          </button>
        ))}
      </div>
      {list.items.map((it) => (
        <Pending key={`${it.product.product_id}@${it.product.version}`} item={it} onDecided={decided} onStale={list.reload} />
      ))}
      <ErrorLine error={list.error} />
      {!list.loading && list.items.length === 0 && !list.error && <p class="empty">Nothing waits for review.</p>}
      {list.loading && <p class="loading">Loading…</p>}
      <Pager list={list} />
    </main>
  );
}

const image = (p: Product) => p.canonical_image_urls?.thumbnail;

function Pending({ item, onDecided, onStale }: { item: ReviewItem; onDecided: (id: string) => void; onStale: () => void }) {
  const p = item.product;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState("");
  const [merging, setMerging] = useState<Product | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [history, setHistory] = useState(false);
  const path = { params: { path: { product_id: p.product_id }, header: { "If-Match": `"${p.version}"` } } };

  const decide = async (act: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    try {
      setDone(await act());
      setTimeout(() => onDecided(p.product_id), 1500);
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        setError(new Error("Someone decided on this product meanwhile: the queue has been read again."));
        setTimeout(onStale, 1500);
      } else setError(e);
    } finally {
      setBusy(false);
    }
  };
  const approve = () => decide(async () => (await call(client.POST("/v1/products/{product_id}/approve", path)), "Approved."));
  const reject = () => decide(async () => (await call(client.POST("/v1/products/{product_id}/reject", { ...path, body: { reason } })), "Rejected."));
  // A merge is final and moves every store's stock: confirmed first (below), then asked again
  // while stores are still moving (a 202: the request ran out of time; nothing moves twice).
  // Stores whose stock together would pass 10,000,000 keep theirs: the merge stays open here,
  // to be asked again once an owner lowers a count.
  const merge = async (into: Product) => {
    setBusy(true);
    setError(null);
    try {
      for (let round = 0; round < 10; round++) {
        const report = await call(
          client.POST("/v1/products/{product_id}/merge", { params: { path: { product_id: p.product_id } }, body: { into: into.product_id } }),
        );
        if (report.complete) {
          setMerging(null);
          setDone(`Merged into ${into.name}.`);
          setTimeout(() => onDecided(p.product_id), 1500);
          return;
        }
        const left = report.overflowed ?? [];
        if (left.length && report.stores_moved === 0) {
          setError(
            new Error(
              `Merged, but ${left.join(", ")} keep their stock: with ${into.name}'s it would pass 10,000,000. Merge again once a count there is lower.`,
            ),
          );
          return;
        }
        await new Promise((r) => setTimeout(r, 500));
      }
      setError(new Error("Some stores' stock is still moving. Merge again to finish."));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const missing = p.quality_reasons.filter((r) => r.missing);
  return (
    <article class="pending" aria-labelledby={`p-${p.product_id}`} data-testid="pending">
      <header class="item-head">
        <Thumb url={image(p)} name={p.name} />
        <div>
          <h2 id={`p-${p.product_id}`}>{p.name}</h2>
          <p class="sub">{[p.brand, p.barcode, p.category, `from ${p.source ?? "?"}`].filter(Boolean).join(" · ")}</p>
          <p class="sub">
            Quality {p.quality_score}/100{missing.length ? `: ${missing.map((r) => r.missing).join("; ")}` : ""}
          </p>
          <p class="sub">
            In {item.stocked.stores} store{item.stocked.stores === 1 ? "" : "s"} ({item.stocked.units} unit{item.stocked.units === "1" ? "" : "s"})
          </p>
        </div>
      </header>
      {item.duplicates.length > 0 && (
        <ul class="dups" aria-label="May duplicate">
          {item.duplicates.map((d) => (
            <li>
              {d.name ?? d.product_id}: {(d.reasons ?? []).join(", ").replace(/_/g, " ")}
            </li>
          ))}
        </ul>
      )}
      {done ? (
        <p role="status" class="done">
          {done}
        </p>
      ) : (
        <>
          <div class="actions">
            <button class="primary" disabled={busy} onClick={approve}>
              Approve
            </button>
            <button disabled={busy} onClick={() => setRejecting(!rejecting)} aria-expanded={rejecting}>
              Reject…
            </button>
          </div>
          {rejecting && (
            <form
              class="inline"
              onSubmit={(e) => {
                e.preventDefault();
                void reject();
              }}
            >
              <label class="field">
                <span>Why (the maker sees it)</span>
                <input name="reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
              </label>
              <button disabled={busy || !reason.trim()}>Reject</button>
            </form>
          )}
          {item.candidates.length > 0 && (
            <>
              <h3>Catalog products it may be</h3>
              <ul class="candidates">
                {item.candidates.map((c) => (
                  <li key={c.product.product_id}>
                    <Thumb url={image(c.product)} name={c.product.name} />
                    <span class="what">
                      <span class="name">{c.product.name}</span>
                      <span class="sub">
                        {[c.product.brand, c.product.barcode].filter(Boolean).join(" · ")} · {Math.round(c.probability * 100)}% likely
                        {c.conflict ? ` · ${c.conflict.kind}: ${c.conflict.row} vs ${c.conflict.product}` : ""}
                        {c.unstated ? ` · names ${c.unstated.product}` : ""}
                      </span>
                    </span>
                    <button disabled={busy} onClick={() => setMerging(c.product)} aria-label={`Merge into ${c.product.name}`}>
                      Merge into this
                    </button>
                  </li>
                ))}
              </ul>
              {merging && (
                <div class="confirm" role="group" aria-label="Confirm the merge">
                  <p>
                    Merge “{p.name}” into “{merging.name}”? It is final: every store's stock of it moves there.
                  </p>
                  <button class="primary" disabled={busy} onClick={() => void merge(merging)}>
                    Merge
                  </button>
                  <button disabled={busy} onClick={() => setMerging(null)}>
                    Cancel
                  </button>
                </div>
              )}
            </>
          )}
        </>
      )}
      <ErrorLine error={error} />
      <button class="link" aria-expanded={history} onClick={() => setHistory(!history)}>
        {history ? "Hide history" : "History"}
      </button>
      {history && <History productId={p.product_id} />}
    </article>
  );
}

function History({ productId }: { productId: string }) {
  const page = useCallback(
    (cursor?: string) =>
      call(client.GET("/v1/products/{product_id}/history", { params: { path: { product_id: productId }, query: { limit: 20, cursor } } })),
    [productId],
  );
  const list = usePaged<Schemas["HistoryEntry"]>(page, [page]);
  return (
    <ol class="history">
      {list.items.map((h) => (
        <li key={h.version}>
          <strong>{h.action}</strong> by {h.actor.role} {h.actor.sub} · <time dateTime={h.at}>{when(h.at)}</time>
          {h.reason ? ` · ${h.reason}` : ""}
          {Object.keys(h.changes ?? {}).length > 0 && <span class="sub"> ({Object.keys(h.changes ?? {}).join(", ")})</span>}
        </li>
      ))}
      {list.error ? (
        <li>
          <ErrorLine error={list.error} />
        </li>
      ) : null}
    </ol>
  );
}
