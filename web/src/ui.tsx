// Small pieces every screen uses: an error line, a product thumbnail, stock badges, and a hook
// that pages a listing as the user scrolls.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { messageOf } from "./api";
import { type Format, type Running, startCamera } from "./camera";

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {messageOf(error)}
    </p>
  );
}

export function Thumb({ url, name }: { url?: string | null; name: string }) {
  const [broken, setBroken] = useState(false);
  if (url && !broken) {
    return <img class="thumb" src={url} alt="" loading="lazy" width={56} height={56} onError={() => setBroken(true)} />;
  }
  const initials = name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0]?.toUpperCase())
    .join("");
  return (
    <span class="thumb placeholder" aria-hidden="true">
      {initials}
    </span>
  );
}

export function StockBadges({ quantity, low }: { quantity: string; low: boolean }) {
  if (Number(quantity) === 0) return <span class="badge out">Out of stock</span>;
  if (low) return <span class="badge low">Low stock</span>;
  return null;
}

export function Field({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/**
 * A listing read page by page: `more()` reads the next page (the sentinel's observer calls it
 * as the end of the list comes into view); `reset` whenever `deps` change.
 */
export function usePaged<T>(fetchPage: (cursor?: string) => Promise<Page<T>>, deps: unknown[]) {
  const [items, setItems] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const generation = useRef(0);

  const load = useCallback(
    async (from: string | undefined, replace: boolean) => {
      const g = generation.current;
      setLoading(true);
      setError(null);
      try {
        const page = await fetchPage(from);
        if (g !== generation.current) return;
        setItems((old) => (replace ? page.items : old.concat(page.items)));
        setCursor(page.next_cursor ?? null);
      } catch (e) {
        if (g === generation.current) {
          setError(e);
          asked.current = null; // "More" may ask for this page again
        }
      } finally {
        if (g === generation.current) setLoading(false);
      }
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    deps,
  );

  const asked = useRef<string | null>(null);
  useEffect(() => {
    generation.current++;
    asked.current = null;
    setItems([]);
    setCursor(undefined);
    void load(undefined, true);
  }, [load]);

  // One page at a time: the sentinel and the button may both ask before `loading` shows.
  const more = useCallback(() => {
    if (loading || !cursor || asked.current === cursor) return;
    asked.current = cursor;
    void load(cursor, false);
  }, [loading, cursor, load]);
  const reload = useCallback(() => {
    generation.current++;
    asked.current = null;
    void load(undefined, true);
  }, [load]);

  return { items, setItems, more, reload, loading, error, done: cursor === null };
}

/** Calls `onVisible` when the element scrolls into view (infinite paging). */
function Sentinel({ onVisible }: { onVisible: () => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el || !("IntersectionObserver" in window)) return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && onVisible(), {
      rootMargin: "300px",
    });
    io.observe(el);
    return () => io.disconnect();
  }, [onVisible]);
  return <div ref={ref} class="sentinel" aria-hidden="true" />;
}

/** The end of a paged list: the next page is read as it scrolls into view, or on "More". */
export function Pager({ list, label = "More" }: { list: { done: boolean; loading: boolean; more: () => void }; label?: string }) {
  if (list.done || list.loading) return null;
  return (
    <>
      <Sentinel onVisible={list.more} />
      <button class="more" onClick={list.more}>
        {label}
      </button>
    </>
  );
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export const when = (at: string) => new Date(at).toLocaleString();

/**
 * While `on`, the camera shows in `video` and each code read goes to `onCode`; a camera that
 * cannot start calls `onError` (and the caller turns `on` off).
 */
export function useCamera(
  on: boolean,
  video: { current: HTMLVideoElement | null },
  formats: Format[],
  onCode: (code: string) => void,
  onError: (e: unknown) => void,
) {
  const handlers = useRef({ onCode, onError });
  handlers.current = { onCode, onError };
  useEffect(() => {
    if (!on || !video.current) return;
    let cam: Running | null = null;
    let cancelled = false;
    startCamera(video.current, formats, (c) => handlers.current.onCode(c))
      .then((c) => (cancelled ? c.stop() : (cam = c)))
      .catch((e) => handlers.current.onError(e));
    return () => {
      cancelled = true;
      cam?.stop();
    };
  }, [on]);
}

/** A decimal count as the API takes it: up to 8 digits, up to 3 decimals. */
export const QUANTITY = /^\d{1,8}(\.\d{1,3})?$/;
