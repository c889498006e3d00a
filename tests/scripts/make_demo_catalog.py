#!/usr/bin/env python3
"""Builds the demo catalog `make run` loads into an empty data folder
(functions/catalog/demo/off-india.jsonl.gz) from Open Food Facts data in ../shared/matchbench
(off_lifyzer/off_barcode_names.csv: barcode and name pairs from an OFF export of 2019, ODbL 1.0,
"Open Food Facts contributors").

Keeps products whose barcode is a valid GTIN-13 under GS1 India's prefix 890 (made for the
Indian market), with a usable name; at most 2,000, in barcode order, written as OFF's JSONL
export writes a product (`code`, `product_name`). Deterministic: the same input gives the same
bytes (gzip without a timestamp).

    python3 tests/scripts/make_demo_catalog.py [--source PATH] [--out PATH]
"""
import argparse
import csv
import gzip
import io
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def valid_gtin13(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])


def usable(name: str) -> bool:
    name = " ".join(name.split())
    return 3 <= len(name) <= 200 and any(c.isalpha() for c in name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=str(ROOT.parent / "shared/matchbench/data/off_lifyzer/off_barcode_names.csv"))
    ap.add_argument("--out", default=str(ROOT / "functions/catalog/demo/off-india.jsonl.gz"))
    ap.add_argument("--limit", type=int, default=2000)
    a = ap.parse_args()
    seen = {}
    with open(a.source, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            code, name = row["barcode"].strip(), " ".join(row["product_name"].split())
            if code.startswith("890") and valid_gtin13(code) and usable(name) and code not in seen:
                seen[code] = name
    lines = [json.dumps({"code": c, "product_name": seen[c]}, ensure_ascii=False) for c in sorted(seen)[: a.limit]]
    raw = ("\n".join(lines) + "\n").encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    pathlib.Path(a.out).write_bytes(buf.getvalue())
    print(f"{a.out}: {len(lines)} products, {len(buf.getvalue())} bytes")


if __name__ == "__main__":
    main()
