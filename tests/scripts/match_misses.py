#!/usr/bin/env python3
"""Why the matcher's top candidate is not the expected product, for a matchbench query set.

    python3 tests/scripts/match_misses.py QUERIES.csv PREDICTIONS.csv EXPLAIN.jsonl

PREDICTIONS and EXPLAIN come from `catalog match ... --out P --explain E`. This reads the
query set's answer columns (as score.py does) to analyse a run; the engine never sees them.

Each `match` query whose top candidate is wrong falls in one class:
    tie          the expected product's evidence is identical to the chosen one's (same text
                 score, coverages, brand, size and barcode states): the catalog holds the same
                 text twice, and only chance picks
    unstated     the query's words explain both products equally (same query coverage, brand
                 and size states): they differ only in words the query leaves out (a colour, a
                 variant, a pack size it does not state)
    lower        the expected product is a candidate with weaker evidence
    not_found    the expected product is not among the explained candidates
Then, per script, recall@1 and the most it would reach if every `lower` and `not_found` query
were fixed while the indistinguishable ones (`tie`, `unstated`) stayed as they are.
Standard library only.
"""
import collections
import csv
import json
import sys


def evidence(c):
    e = c["evidence"]
    return (round(e["text"], 4), round(e["q_cov"], 4), round(e["c_cov"], 4), e["brand"],
            e["size"], e["barcode"], e["number_conflict"], json.dumps(e.get("conflict")))


def classify(expected, candidates):
    found = [c for c in candidates if c["product_id"] in expected]
    if not found:
        return "not_found"
    top, exp = candidates[0]["evidence"], found[0]["evidence"]
    if evidence(found[0]) == evidence(candidates[0]):
        return "tie"
    if abs(exp["q_cov"] - top["q_cov"]) < 0.005 and exp["brand"] == top["brand"] \
            and exp["size"] == top["size"]:
        return "unstated"
    return "lower"


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], newline="", encoding="utf-8") as f:
        queries = list(csv.DictReader(f))
    with open(argv[2], newline="", encoding="utf-8") as f:
        preds = {r["query_id"]: r for r in csv.DictReader(f)}
    with open(argv[3], encoding="utf-8") as f:
        explained = {e["query_id"]: e for e in map(json.loads, f)}
    counts = collections.defaultdict(collections.Counter)
    examples = collections.defaultdict(list)
    for q in queries:
        if q["kind"] != "match":
            continue
        script = "latin" if q.get("script", "latin") == "latin" else "indic"
        expected = set(q["expected_product_ids"].split("|"))
        counts[script]["queries"] += 1
        if preds[q["query_id"]]["product_id"] in expected:
            counts[script]["right"] += 1
            continue
        kind = classify(expected, explained[q["query_id"]]["candidates"])
        counts[script][kind] += 1
        examples[kind].append(q["query_id"])
    for script, c in sorted(counts.items()):
        n = c["queries"]
        fixable = c["lower"] + c["not_found"]
        print(f"{script:6} queries={n} right={c['right']} tie={c['tie']} unstated={c['unstated']} "
              f"lower={c['lower']} not_found={c['not_found']} recall@1={c['right'] / n:.4f} "
              f"recall@1_if_every_lower_and_not_found_were_fixed={(c['right'] + fixable) / n:.4f}")
    for kind in ("tie", "unstated", "lower", "not_found"):
        print(f"{kind}: {' '.join(examples[kind])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
