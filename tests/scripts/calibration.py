#!/usr/bin/env python3
"""How well the matcher's confidence is calibrated, on a matchbench query set.

    python3 tests/scripts/calibration.py QUERIES.csv PREDICTIONS.csv

PREDICTIONS comes from `catalog match ... --out P`: its `score` column is the top candidate's
probability (`matching::calibrate`). This reads the query set's answers (as score.py does) to
judge a run; the engine never sees them. It prints:
    reliability  per tenth of probability: rows, mean probability, share whose proposal is right
                 (a negative or hard-negative row's proposal is never right)
    brier / ece  mean squared error of the probability, and the rows-weighted gap between the
                 mean probability and the share right
    links        the rules' links, and the links left if each also needed a probability of at
                 least t: auto_correct, auto_wrong, false_match_neg, false_match_hard
Standard library only.
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
    preds = load(argv[2])
    rows = []
    for p in preds:
        q = queries[p["query_id"]]
        right = q["kind"] == "match" and p["product_id"] in q["expected_product_ids"].split("|")
        rows.append((q["kind"], p["product_id"], p["decision"], float(p["score"] or 0), right))
    proposed = [r for r in rows if r[1]]
    if not proposed:
        print("no query has a proposed product")
        return 0
    bins = [[] for _ in range(10)]
    for r in proposed:
        bins[min(int(r[3] * 10), 9)].append(r)
    print("reliability (probability: rows, mean probability, share right)")
    ece = 0.0
    for i, b in enumerate(bins):
        if not b:
            continue
        mean = sum(r[3] for r in b) / len(b)
        share = sum(r[4] for r in b) / len(b)
        ece += len(b) * abs(mean - share)
        print(f"  {i / 10:.1f}-{(i + 1) / 10:.1f}: {len(b):5} {mean:.3f} {share:.3f}")
    brier = sum((r[3] - r[4]) ** 2 for r in proposed) / len(proposed)
    print(f"brier={brier:.4f} ece={ece / len(proposed):.4f} proposals={len(proposed)}")
    count = {k: sum(1 for r in rows if r[0] == k) for k in ("match", "negative", "hard_negative")}
    print("links (auto_correct auto_wrong false_match_neg false_match_hard)")
    for t in (None, 0.5, 0.6, 0.7, 0.8, 0.9):
        linked = [r for r in rows if r[2] == "match" and (t is None or r[3] >= t)]
        share = lambda test, kind: sum(1 for r in linked if r[0] == kind and test(r)) / max(1, count[kind])
        label = "rules" if t is None else f"p>={t}"
        print(f"  {label:8} {share(lambda r: r[4], 'match'):.4f} {share(lambda r: not r[4], 'match'):.4f} "
              f"{share(lambda r: True, 'negative'):.3f} {share(lambda r: True, 'hard_negative'):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
