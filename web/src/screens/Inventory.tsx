// The store's stock: search, low/out-of-stock filters, thumbnails, and pages read as the list
// scrolls. A row opens the item.
import { useCallback, useState } from "preact/hooks";
import { call, client, type Schemas } from "../api";
import { ErrorLine, Pager, StockBadges, Thumb, useDebounced, usePaged } from "../ui";

type Filter = "all" | "low" | "out";

export function Inventory({ store }: { store: string }) {
  const [q, setQ] = useState("");
  const [filter, setFilter] = useState<Filter>("all");
  const words = useDebounced(q.trim(), 300);

  const page = useCallback(
    (cursor?: string) =>
      call(
        client.GET("/v1/stores/{store_id}/inventory", {
          params: {
            path: { store_id: store },
            query: {
              q: words || undefined,
              low_stock: filter === "low" ? true : undefined,
              out_of_stock: filter === "out" ? true : undefined,
              sort: "name",
              limit: 25,
              cursor,
            },
          },
        }),
      ),
    [store, words, filter],
  );
  const list = usePaged<Schemas["InventoryItem"]>(page, [page]);

  return (
    <main>
      <h1 class="visually-hidden">Stock</h1>
      <div class="toolbar">
        <input
          type="search"
          aria-label="Search the stock"
          placeholder="Search name, brand or barcode"
          value={q}
          onInput={(e) => setQ(e.currentTarget.value)}
        />
        <div class="chips" role="group" aria-label="Show">
          {(["all", "low", "out"] as Filter[]).map((f) => (
            <button aria-pressed={filter === f} onClick={() => setFilter(f)}>
              {f === "all" ? "All" : f === "low" ? "Low stock" : "Out of stock"}
            </button>
          ))}
        </div>
      </div>
      <ul class="items">
        {list.items.map((it) => {
          const name = it.product?.name ?? it.product_id;
          return (
            <li key={it.product_id}>
              <a href={`#/item/${encodeURIComponent(it.product_id)}`} class="row">
                <Thumb url={it.photo?.urls?.thumbnail ?? it.product?.thumbnail_url} name={name} />
                <span class="what">
                  <span class="name">{name}</span>
                  <span class="sub">{[it.product?.brand, it.product?.size].filter(Boolean).join(" · ")}</span>
                </span>
                <span class="qty">
                  <span class="n" data-testid="quantity">
                    {it.quantity}
                  </span>
                  <StockBadges quantity={it.quantity} low={it.low_stock} />
                </span>
              </a>
            </li>
          );
        })}
      </ul>
      <ErrorLine error={list.error} />
      {!list.loading && list.items.length === 0 && !list.error && (
        <p class="empty">{words || filter !== "all" ? "Nothing matches." : "No stock yet. Scan or import to add items."}</p>
      )}
      <p class="visually-hidden" role="status">
        {list.loading ? "Loading" : `${list.items.length} items${list.done ? "" : ", more below"}`}
      </p>
      {list.loading && (
        <p class="loading" aria-hidden="true">
          Loading…
        </p>
      )}
      <Pager list={list} />
    </main>
  );
}
