// One item: its product, quantity and prices, quick adjustments (+/- with a reason, each sent
// with an Idempotency-Key that a retry reuses), a price edit (a PUT of the version shown: a
// change made meanwhile is not overwritten), and its movements, newest first.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { stockChanged } from "../alerts";
import { ApiError, call, client, newId, type Schemas } from "../api";
import { ErrorLine, Field, QUANTITY, Pager, StockBadges, Thumb, usePaged, when } from "../ui";

type Item = Schemas["InventoryItem"];
type Reason = Schemas["AdjustmentReason"];

const REASONS: Reason[] = ["sale", "restock", "return", "damage", "expiry", "correction", "other"];

export function ItemScreen({ store, productId }: { store: string; productId: string }) {
  const [item, setItem] = useState<Item | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [movesKey, setMovesKey] = useState(0);

  const load = useCallback(async () => {
    try {
      setItem(
        await call(client.GET("/v1/stores/{store_id}/inventory/{product_id}", { params: { path: { store_id: store, product_id: productId } } })),
      );
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [store, productId]);
  useEffect(() => void load(), [load]);

  const changed = (next: Item) => {
    setItem((old) => ({ ...next, product: next.product ?? old?.product }));
    setMovesKey((k) => k + 1);
    stockChanged();
  };

  if (!item) {
    return (
      <main>
        <a href="#/" class="back">
          ← Stock
        </a>
        {error ? <ErrorLine error={error} /> : <p class="loading">Loading…</p>}
      </main>
    );
  }
  const name = item.product?.name ?? item.product_id;
  return (
    <main class="item">
      <a href="#/" class="back">
        ← Stock
      </a>
      <header class="item-head">
        <Thumb url={item.photo?.urls?.thumbnail ?? item.product?.thumbnail_url} name={name} />
        <div>
          <h1>{name}</h1>
          <p class="sub">{[item.product?.brand, item.product?.size, item.product?.barcode].filter(Boolean).join(" · ")}</p>
        </div>
      </header>
      <p class="stock">
        <span class="n" data-testid="quantity">
          {item.quantity}
        </span>{" "}
        in stock <StockBadges quantity={item.quantity} low={item.low_stock} />
      </p>
      <Adjust store={store} item={item} onChanged={changed} />
      <Prices store={store} item={item} onChanged={changed} onStale={load} />
      <Movements store={store} productId={productId} key={movesKey} />
    </main>
  );
}

/** Which way each reason moves stock: correction and other go either way. */
const DIRECTION: Record<Reason, "out" | "in" | "either"> = {
  sale: "out",
  damage: "out",
  expiry: "out",
  restock: "in",
  return: "in",
  correction: "either",
  other: "either",
  scan: "either",
  import: "either",
};

function Adjust({ store, item, onChanged }: { store: string; item: Item; onChanged: (i: Item) => void }) {
  const [amount, setAmount] = useState("1");
  const [reason, setReason] = useState<Reason>("sale");
  const [down, setDown] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // One key per adjustment the person means: a retry after a lost answer sends the same key
  // (the server applies it once); a new one is made after an answer, or when what is asked changes.
  const key = useRef<{ what: string; id: string } | null>(null);
  const [replayed, setReplayed] = useState(false);

  const adjust = async (delta: string, why: Reason) => {
    const what = `${delta} ${why}`;
    if (key.current?.what !== what) key.current = { what, id: newId() };
    setBusy(true);
    setError(null);
    try {
      const r = await call(
        client.POST("/v1/stores/{store_id}/inventory/{product_id}/adjustments", {
          params: { path: { store_id: store, product_id: item.product_id }, header: { "Idempotency-Key": key.current.id } },
          body: { delta, reason: why },
        }),
      );
      key.current = null;
      setReplayed(r.replayed);
      onChanged(r.item);
    } catch (e) {
      // Refused (not a lost answer): the next try is a new adjustment.
      if (e instanceof ApiError && !e.offline && e.status < 500) key.current = null;
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const valid = QUANTITY.test(amount) && Number(amount) > 0;
  const direction = DIRECTION[reason];
  const out = direction === "out" || (direction === "either" && down);

  return (
    <section aria-labelledby="adjust-h">
      <h2 id="adjust-h">Adjust</h2>
      <div class="quick">
        <button disabled={busy} onClick={() => adjust("-1", "sale")}>
          −1<span class="visually-hidden"> (a sale)</span>
        </button>
        <button disabled={busy} onClick={() => adjust("1", "restock")}>
          +1<span class="visually-hidden"> (restocked)</span>
        </button>
      </div>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          void adjust(out ? `-${amount}` : amount, reason);
        }}
      >
        <Field label="Amount">
          <input name="amount" inputMode="decimal" value={amount} onInput={(e) => setAmount(e.currentTarget.value)} />
        </Field>
        <Field label="Reason">
          <select name="reason" value={reason} onChange={(e) => setReason(e.currentTarget.value as Reason)}>
            {REASONS.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </Field>
        {direction === "either" && (
          <Field label="Stock">
            <select name="direction" value={down ? "out" : "in"} onChange={(e) => setDown(e.currentTarget.value === "out")}>
              <option value="in">goes up</option>
              <option value="out">goes down</option>
            </select>
          </Field>
        )}
        <button disabled={busy || !valid}>{out ? `Take away ${valid ? amount : ""}` : `Add ${valid ? amount : ""}`}</button>
      </form>
      {replayed && <p role="status">That adjustment had reached the server already: it counted once.</p>}
      <ErrorLine error={error} />
    </section>
  );
}

function Prices({ store, item, onChanged, onStale }: { store: string; item: Item; onChanged: (i: Item) => void; onStale: () => void }) {
  // What the person typed; a field they have not touched shows the item as it is now (a +1
  // or a colleague's change updates it without wiping what is being typed).
  const [edits, setEdits] = useState<{ selling_price?: string; cost_price?: string; reorder_level?: string }>({});
  const selling = edits.selling_price ?? item.selling_price ?? "";
  const cost = edits.cost_price ?? item.cost_price ?? "";
  const reorder = edits.reorder_level ?? item.reorder_level ?? "";
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      // A PUT sets every field: the others are sent as they are, and If-Match makes it apply
      // only to the version on screen.
      const next = await call(
        client.PUT("/v1/stores/{store_id}/inventory/{product_id}", {
          params: { path: { store_id: store, product_id: item.product_id }, header: { "If-Match": `"${item.version}"` } },
          body: {
            quantity: item.quantity,
            selling_price: selling.trim() || null,
            cost_price: cost.trim() || null,
            reorder_level: reorder.trim() || null,
            supplier: item.supplier ?? null,
            location: item.location ?? null,
            notes: item.notes ?? null,
            custom_image_urls: item.custom_image_urls,
          },
        }),
      );
      setEdits({});
      onChanged(next);
      setSaved(true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) {
        setError(new Error("Someone changed this item meanwhile. It has been reloaded: check it and save again."));
        onStale();
      } else setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="prices-h">
      <h2 id="prices-h">Prices and reorder level</h2>
      <form onSubmit={save} class="grid">
        <Field label="Selling price (₹)">
          <input name="selling_price" inputMode="decimal" value={selling} onInput={(e) => setEdits({ ...edits, selling_price: e.currentTarget.value })} />
        </Field>
        <Field label="Cost price (₹)">
          <input name="cost_price" inputMode="decimal" value={cost} onInput={(e) => setEdits({ ...edits, cost_price: e.currentTarget.value })} />
        </Field>
        <Field label="Reorder at">
          <input name="reorder_level" inputMode="decimal" value={reorder} onInput={(e) => setEdits({ ...edits, reorder_level: e.currentTarget.value })} />
        </Field>
        <button disabled={busy}>Save</button>
      </form>
      {saved && <p role="status">Saved.</p>}
      <ErrorLine error={error} />
    </section>
  );
}

const KIND: Record<string, string> = {
  adjust: "Adjusted",
  scan: "Scanned",
  count: "Counted",
  put: "Set",
  import: "Imported",
  delete: "Removed",
  merge: "Merged",
};

function Movements({ store, productId }: { store: string; productId: string }) {
  const page = useCallback(
    (cursor?: string) =>
      call(
        client.GET("/v1/stores/{store_id}/inventory/{product_id}/movements", {
          params: { path: { store_id: store, product_id: productId }, query: { limit: 20, cursor } },
        }),
      ),
    [store, productId],
  );
  const list = usePaged<Schemas["Movement"]>(page, [page]);
  return (
    <section aria-labelledby="moves-h">
      <h2 id="moves-h">Movements</h2>
      <ul class="moves">
        {list.items.map((m) => (
          <li key={m.version}>
            <span class="what">
              {KIND[m.kind] ?? m.kind}
              {m.reason ? ` (${m.reason})` : ""}
            </span>
            <span class="delta">{m.delta ? (m.delta.startsWith("-") ? m.delta : `+${m.delta}`) : m.count ? `= ${m.count}` : ""}</span>
            <span class="after">→ {m.quantity_after}</span>
            <time dateTime={m.at}>{when(m.at)}</time>
          </li>
        ))}
      </ul>
      <ErrorLine error={list.error} />
      <Pager list={list} label="Older" />
    </section>
  );
}
