#!/usr/bin/env python3
"""score.py's match figures split by whether the row states a pack size.

    python3 tests/scripts/by_row_size.py QUERIES.csv PREDICTIONS.csv

PREDICTIONS comes from `catalog match ... --out P`, whose `sizes` column holds the pack sizes
the engine read from the row ('|'-joined, empty when none). A row without a size is never
linked on its own to a product with one (the catalog may lack the size it means), so its
auto_correct is low by design; this shows the figures with those rows apart. Like score.py it
reads the answer columns; the engine never does. Standard library only.
"""
import csv
import sys


def load(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    queries = {q["query_id"]: q for q in load(argv[1])}
    groups = {"states a size": [], "no size": []}
    predictions = load(argv[2])
    if predictions and "sizes" not in predictions[0]:
        print(f"{argv[2]} has no sizes column: write it with a newer catalog match", file=sys.stderr)
        return 2
    for p in predictions:
        q = queries[p["query_id"]]
        if q["kind"] != "match":
            continue
        right = p["product_id"] in q["expected_product_ids"].split("|")
        groups["states a size" if p["sizes"] else "no size"].append((right, p["decision"] == "match"))
    for name, rows in groups.items():
        if not rows:
            continue
        n = len(rows)
        print(f"{name:14} rows={n:5} recall@1={sum(r for r, _ in rows) / n:.4f} "
              f"auto_correct={sum(r and m for r, m in rows) / n:.4f} "
              f"auto_wrong={sum(m and not r for r, m in rows) / n:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
