"""Checks crisis_heldout3.csv (header, labels and categories, no duplicate texts) and prints
the counts used in README_heldout3.md."""

import collections
import csv
import os
import re
import sys

p = (
    sys.argv[1]
    if len(sys.argv) > 1
    else os.path.join(os.path.dirname(os.path.abspath(__file__)), "crisis_heldout3.csv")
)
rows = list(csv.DictReader(open(p, encoding="utf-8", newline="")))
allowed = {
    "crisis": {
        "wish_dead",
        "active_thoughts",
        "method",
        "intent_plan",
        "preparatory",
        "hopeless",
        "burden",
        "trapped_pain",
        "goodbye",
        "means",
        "self_harm",
    },
    "distress": {"guilt", "intrusive", "sleep", "anxiety", "sadness", "anger", "numbness", "mixed"},
    "ordinary": {"accept", "defer", "decline", "peer_code", "keyword", "question", "other"},
    "idiom": {"idiom_death", "idiom_kill", "idiom_other", "near_miss"},
}
assert list(rows[0].keys()) == ["text", "label", "category", "source_note"]
texts = [r["text"].strip().lower() for r in rows]
dups = [t for t, n in collections.Counter(texts).items() if n > 1]
assert not dups, dups
for r in rows:
    assert r["label"] in allowed, r
    assert r["category"] in allowed[r["label"]], r
    assert r["text"].strip() and r["source_note"].strip(), r
print("rows:", len(rows))
lab = collections.Counter(r["label"] for r in rows)
cat = collections.Counter((r["label"], r["category"]) for r in rows)
for label in allowed:
    print(f"{label}: {lab[label]}")
    for c in sorted(allowed[label]):
        print(f"  {c}: {cat[(label, c)]}")
cr = [r["text"] for r in rows if r["label"] == "crisis"]
direct = [t for t in cr if re.search(r"suicid|kill|\bdie\b|\bdying\b|\bdead\b", t, re.I)]
print(f"crisis rows using suicide/kill/die/dead: {len(direct)} of {len(cr)}")
wc = [len(r["text"].split()) for r in rows]
print(
    "words per text: min",
    min(wc),
    "median",
    sorted(wc)[len(wc) // 2],
    "max",
    max(wc),
    "| 2-25 words:",
    sum(2 <= n <= 25 for n in wc),
)
