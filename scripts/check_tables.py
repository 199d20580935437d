#!/usr/bin/env python3
"""Reads every table of data/parquet/catalog.json with pyarrow and checks it.

For every table: each Parquet file exists, has the checksum and row count the catalog records
and the documented schema (docs/data-format.md); evaluation sets have unique ids and qrels that
point at existing queries and documents. For the bundled benchmarks, the expected sizes:
XQuAD pairs = 12 languages x 1190 questions minus the dropped ones recorded in the notes,
XQuAD-R 11 languages, MLQA-R the questions and candidates per language of the LAReQA README,
Multi30K test_2016 4 x 1000 captions, xFlickr&CO 8 x 2000 captions minus
recorded empty ones, Tatoeba 112 subsets. Only tables present in the catalog are checked.

    python3 scripts/check_tables.py [--data-dir data]

Exits non-zero listing every failed check. CI runs it after `cargo xtask fetch-data`.
"""

import argparse
import collections
import hashlib
import json
import os
import re
import sys

import pyarrow as pa
import pyarrow.parquet as pq

STRING = pa.string()
SCHEMAS = {
    "pairs": [("group_id", STRING, False), ("query_lang", STRING, False), ("query", STRING, False),
              ("positive_lang", STRING, False), ("positive", STRING, False), ("negative", STRING, True),
              ("context", STRING, True), ("split", STRING, False), ("source", STRING, False)],
    "queries": [("qid", STRING, False), ("lang", STRING, False), ("text", STRING, False),
                ("group_id", STRING, False), ("subset", STRING, True)],
    "corpus": [("docid", STRING, False), ("lang", STRING, False), ("text", STRING, False),
               ("group_id", STRING, False), ("subset", STRING, True)],
    "qrels": [("qid", STRING, False), ("docid", STRING, False), ("rel", pa.int32(), False)],
}

# MLQA-R (questions, candidates) per language, as in the LAReQA README.
MLQA_R = {"ar": (517, 2545), "de": (512, 2362), "en": (1148, 6264), "es": (500, 1787), "hi": (507, 2426),
          "vi": (511, 2828), "zh": (504, 2322)}

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)
    return ok


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def note_number(entry, pattern):
    """The first integer captured by `pattern` in the entry's notes, 0 when absent."""
    for note in entry.get("notes", []):
        m = re.search(pattern, note)
        if m:
            return int(m.group(1))
    return 0


def read_parts(root, entry):
    tables = {}
    for part, rel in sorted(entry["paths"].items()):
        path = os.path.join(root, rel)
        where = f"{entry['name']}/{part} ({path})"
        if not check(os.path.isfile(path), f"{where}: missing"):
            continue
        check(sha256(path) == entry["sha256"][part], f"{where}: sha256 differs from the catalog")
        table = pq.read_table(path)
        check(table.num_rows == entry["rows"][part],
              f"{where}: {table.num_rows} rows, catalog says {entry['rows'][part]}")
        for name, typ, nullable in SCHEMAS[part]:
            if not check(name in table.column_names, f"{where}: no column {name}"):
                continue
            col = table.column(name)
            check(col.type == typ, f"{where}: column {name} is {col.type}, expected {typ}")
            if not nullable:
                check(col.null_count == 0, f"{where}: column {name} has nulls")
        tables[part] = table
    return tables


def check_eval(name, t):
    qids = t["queries"].column("qid").to_pylist()
    docids = t["corpus"].column("docid").to_pylist()
    check(len(set(qids)) == len(qids), f"{name}: duplicate qid")
    check(len(set(docids)) == len(docids), f"{name}: duplicate docid")
    qset, dset = set(qids), set(docids)
    rq = t["qrels"].column("qid").to_pylist()
    rd = t["qrels"].column("docid").to_pylist()
    check(all(q in qset for q in rq), f"{name}: qrel with unknown qid")
    check(all(d in dset for d in rd), f"{name}: qrel with unknown docid")
    check(all(q != d for q, d in zip(rq, rd)), f"{name}: qrel judging a text relevant to itself")
    check(set(rq) == qset, f"{name}: some queries have no relevant document")


def per_lang(table, column="lang"):
    return collections.Counter(table.column(column).to_pylist())


def check_expectations(entry, t):
    name = entry["name"]
    if name == "xquad-pairs":
        langs = per_lang(t["pairs"], "query_lang")
        dropped = note_number(entry, r"minus (\d+) dropped")
        check(len(langs) == 12, f"{name}: {len(langs)} languages, expected 12")
        check(all(n <= 1190 for n in langs.values()), f"{name}: a language has more than 1190 questions")
        check(sum(langs.values()) + dropped == 12 * 1190,
              f"{name}: {sum(langs.values())} rows + {dropped} dropped != 12 x 1190")
        print(f"  xquad-pairs: {sum(langs.values())} rows = 12 x 1190 - {dropped} dropped; per language "
              + " ".join(f"{k}={v}" for k, v in sorted(langs.items())))
    elif name in ("xquad-r", "xquad-r-full"):
        langs = per_lang(t["queries"])
        check(len(langs) == 11 and len(set(langs.values())) == 1,
              f"{name}: expected the same number of queries in 11 languages, got {dict(langs)}")
        if name == "xquad-r-full":
            check(sum(langs.values()) == 11 * 1190, f"{name}: {sum(langs.values())} queries, expected 11 x 1190")
    elif name == "mlqa-r":
        queries, corpus = per_lang(t["queries"]), per_lang(t["corpus"])
        check({k: (queries[k], corpus[k]) for k in queries | corpus} == MLQA_R,
              f"{name}: (questions, candidates) per language {dict(queries)} / {dict(corpus)}, expected {MLQA_R}")
    elif name == "multi30k-test_2016":
        langs = per_lang(t["corpus"])
        check(dict(langs) == {"en": 1000, "de": 1000, "fr": 1000, "cs": 1000},
              f"{name}: captions per language {dict(langs)}, expected 4 x 1000")
    elif name == "xflickrco":
        langs = per_lang(t["corpus"])
        dropped = note_number(entry, r"(\d+) empty texts dropped")
        check(len(langs) == 8 and sum(langs.values()) + dropped == 8 * 2000,
              f"{name}: {dict(langs)} + {dropped} dropped, expected 8 x 2000")
        print(f"  xflickrco: {sum(langs.values())} captions = 8 x 2000 - {dropped} empty; per language "
              + " ".join(f"{k}={v}" for k, v in sorted(langs.items())))
    elif name == "tatoeba":
        subsets = set(t["corpus"].column("subset").to_pylist())
        check(len(subsets) == 112, f"{name}: {len(subsets)} subsets, expected 112")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default="data")
    args = ap.parse_args()
    root = os.path.join(args.data_dir, "parquet")
    catalog_path = os.path.join(root, "catalog.json")
    with open(catalog_path, encoding="utf-8") as f:
        catalog = json.load(f)
    for entry in catalog["tables"]:
        t = read_parts(root, entry)
        if entry["kind"] == "eval" and len(t) == 3:
            check_eval(entry["name"], t)
        if len(t) == len(entry["paths"]):
            check_expectations(entry, t)
        rows = ", ".join(f"{k} {v}" for k, v in sorted(entry["rows"].items()))
        print(f"{entry['name']:28} {entry['kind']:5} {rows}; {len(entry['languages'])} languages")
    split = catalog.get("xquad_split")
    if split is not None:
        check(len(split["train"]) == 36 and len(split["test"]) == 12, "xquad_split: expected 36 train / 12 test")
    if failures:
        print(f"{catalog_path}: {len(failures)} checks failed:", file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)
    print(f"pyarrow {pa.__version__} read all {len(catalog['tables'])} tables of {catalog_path}: all checks passed")


if __name__ == "__main__":
    main()
