#!/usr/bin/env python3
"""Reference for `cargo xtask bench ingest`: the XQuAD and Multi30K conversion of
`polyret-ingest`, written with the standard library and pyarrow.

It reads the raw files (laid out as OWNER/REPO/PATH, as `fetch-data` leaves them in data/raw),
builds the same tables with the same rules — sentence of the answer span, Romanian splitter,
article split, parallel caption sets — and writes them as zstd Parquet under OUT/<table>/.
The benchmark then checks that both sides produced identical rows, so this file doubles as an
independent implementation of docs/data-format.md.

    python3 scripts/bench_ingest.py --raw data/raw --out /tmp/out --repeats 5

runs the conversion once to warm up, then REPEATS timed times, and prints one JSON line:
{"rows": total rows written per run, "seconds": [one per timed run]}. Timing covers reading,
converting and writing; interpreter start-up and imports are excluded.
"""

import argparse
import gzip
import hashlib
import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq

XQUAD_LANGS = ["ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh"]
XQUAD_R_LANGS = [lang for lang in XQUAD_LANGS if lang != "ro"]
TEST_ARTICLES = 12

# --- Romanian sentence splitter: the rule of crates/ingest/src/sentences.rs -------------------
TERMINATORS = set(".!?…")
CLOSERS = set("\"'”’»)]")
OPENERS = set("\"„«“'(")
ABBREVIATIONS = {
    "aprox", "art", "cca", "cf", "col", "dl", "dna", "dr", "ex", "gen", "ing", "jr", "jud", "lt", "mr", "mrs", "ms",
    "nr", "p", "pag", "prof", "rev", "sec", "sf", "sr", "st", "str", "vol", "vs",
}


def is_abbreviation(before):
    """Whether the last token of `before` (up to a ".") is an initial or an abbreviation."""
    cut = len(before)
    while cut > 0 and not before[cut - 1].isspace():
        cut -= 1
    token = before[cut:].lstrip("".join(OPENERS))
    if len(token) == 1 and token.isalpha():
        return True
    if "." in token:
        return True
    return token.lower() in ABBREVIATIONS


def split_sentences(c):
    n = len(c)
    out = []
    start = 0
    while start < n and c[start].isspace():
        start += 1
    i = start
    while i < n:
        if c[i] not in TERMINATORS:
            i += 1
            continue
        j = i
        while j < n and c[j] in TERMINATORS:
            j += 1
        while j < n and c[j] in CLOSERS:
            j += 1
        end = j
        if j < n and c[j].isspace():
            k = j
            while k < n and c[k].isspace():
                k += 1
            starts = k < n and (c[k].isupper() or c[k] in OPENERS)
            abbreviation = c[i] == "." and j == i + 1 and is_abbreviation(c[start:i])
            if starts and not abbreviation:
                out.append((start, end))
                start = k
                i = k
                continue
        i = j
    e = n
    while e > start and c[e - 1].isspace():
        e -= 1
    if e > start:
        out.append((start, e))
    return out


# --- Parquet --------------------------------------------------------------------------------
def write(path, columns):
    """columns: list of (name, type, nullable, values)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    schema = pa.schema([pa.field(n, t, nullable=nullable) for n, t, nullable, _ in columns])
    table = pa.table([pa.array(v, type=t) for _, t, _, v in columns], schema=schema)
    tmp = path + ".tmp"
    pq.write_table(table, tmp, compression="zstd", compression_level=3)
    os.replace(tmp, path)
    return table.num_rows


def write_pairs(out, name, rows):
    names = ["group_id", "query_lang", "query", "positive_lang", "positive", "negative", "context", "split", "source"]
    nullable = {"negative", "context"}
    cols = [(n, pa.string(), n in nullable, [r[i] for r in rows]) for i, n in enumerate(names)]
    return write(os.path.join(out, name, "pairs.parquet"), cols)


def write_eval(out, name, queries, corpus, qrels):
    def text_cols(id_name, rows):
        names = [id_name, "lang", "text", "group_id", "subset"]
        return [(n, pa.string(), n == "subset", [r[i] for r in rows]) for i, n in enumerate(names)]

    d = os.path.join(out, name)
    n = write(os.path.join(d, "queries.parquet"), text_cols("qid", queries))
    n += write(os.path.join(d, "corpus.parquet"), text_cols("docid", corpus))
    n += write(os.path.join(d, "qrels.parquet"), [
        ("qid", pa.string(), False, [r[0] for r in qrels]),
        ("docid", pa.string(), False, [r[1] for r in qrels]),
        ("rel", pa.int32(), False, [r[2] for r in qrels]),
    ])
    return n


# --- XQuAD ----------------------------------------------------------------------------------
def load_json(path):
    with open(path, "rb") as f:
        return json.load(f)


def xquad(raw, out):
    xq = {lang: load_json(os.path.join(raw, "deepmind/xquad", f"xquad.{lang}.json"))["data"] for lang in XQUAD_LANGS}
    xr = {lang: load_json(os.path.join(raw, "google-research-datasets/lareqa/xquad-r", f"{lang}.json"))["data"]
          for lang in XQUAD_R_LANGS}
    titles = [a["title"] for a in xq["en"]]
    ordered = sorted(titles, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    test = set(ordered[:TEST_ARTICLES])

    # seg[lang][a][p] = (sentences, [(sentence of answer_start, whole span inside)])
    seg = {}
    for lang in XQUAD_LANGS:
        per_article = []
        for a, article in enumerate(xq[lang]):
            per_para = []
            for p, para in enumerate(article["paragraphs"]):
                ctx = para["context"]
                if lang in xr:
                    rp = xr[lang][a]["paragraphs"][p]
                    breaks = rp["sentence_breaks"]
                    sentences = rp["sentences"]
                else:
                    breaks = split_sentences(ctx)
                    sentences = [ctx[s:e] for s, e in breaks]
                answers = []
                for qa in para["qas"]:
                    ans = qa["answers"][0]
                    start = ans["answer_start"]
                    i = next(i for i, (s, e) in enumerate(breaks) if s <= start < e)
                    answers.append((i, start + len(ans["text"]) <= breaks[i][1]))
                per_para.append((sentences, answers))
            per_article.append(per_para)
        seg[lang] = per_article

    rows = []
    for a, article in enumerate(xq["en"]):
        split = "test" if article["title"] in test else "train"
        for p, para in enumerate(article["paragraphs"]):
            for k, qa in enumerate(para["qas"]):
                for lang in XQUAD_LANGS:
                    lpara = xq[lang][a]["paragraphs"][p]
                    sentences, answers = seg[lang][a][p]
                    i, whole = answers[k]
                    if not whole:
                        continue
                    rows.append((qa["id"], lang, lpara["qas"][k]["question"].strip(), lang, sentences[i], None,
                                 lpara["context"], split, "xquad"))
    n = write_pairs(out, "xquad-pairs", rows)

    def eval_set(name, keep):
        queries, corpus, qrels = [], [], []
        for a, article in enumerate(xq["en"]):
            if not keep(article["title"]):
                continue
            for p, para in enumerate(article["paragraphs"]):
                for lang in XQUAD_R_LANGS:
                    sentences, _ = seg[lang][a][p]
                    corpus.extend((f"{lang}.{a}.{p}.{s}", lang, t, f"{a}.{p}", None) for s, t in enumerate(sentences))
                    lqas = xq[lang][a]["paragraphs"][p]["qas"]
                    for k, qa in enumerate(para["qas"]):
                        qid = f"{qa['id']}.{lang}"
                        queries.append((qid, lang, lqas[k]["question"].strip(), qa["id"], None))
                        for target in XQUAD_R_LANGS:
                            qrels.append((qid, f"{target}.{a}.{p}.{seg[target][a][p][1][k][0]}", 1))
        return write_eval(out, name, queries, corpus, qrels)

    n += eval_set("xquad-r", lambda t: t in test)
    n += eval_set("xquad-r-full", lambda t: True)
    return n


# --- Multi30K -------------------------------------------------------------------------------
def read_lines(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            text = f.read().decode("utf-8")
    else:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line[:-1].strip() if line.endswith("\r") else line.strip() for line in lines]


def image_id(line):
    i = line.find(".jpg")
    return line if i < 0 else line[:i]


def multi30k(raw, out):
    data = os.path.join(raw, "multi30k/dataset/data")
    rows = []
    for split in ["train", "val"]:
        ids = [image_id(x) for x in read_lines(os.path.join(data, "task2/image_splits", f"{split}_images.txt"))]
        caps = {(lang, k): read_lines(os.path.join(data, "task2/raw", f"{split}.{k}.{lang}.gz"))
                for lang in ["en", "de"] for k in [1, 2]}
        for i, gid in enumerate(ids):
            for lang in ["en", "de"]:
                q, pos = caps[(lang, 1)][i], caps[(lang, 2)][i]
                if q and pos:
                    rows.append((gid, lang, q, lang, pos, None, None, split, "multi30k"))
    n = write_pairs(out, "multi30k-pairs", rows)

    splits = [("test_2016", "test_2016_flickr", ["en", "de", "fr", "cs"]),
              ("test_2017", "test_2017_flickr", ["en", "de", "fr"]),
              ("test_2017_mscoco", "test_2017_mscoco", ["en", "de", "fr"]),
              ("test_2018", "test_2018_flickr", ["en", "de", "fr", "cs"])]
    for suffix, stem, langs in splits:
        ids = [image_id(x) for x in read_lines(os.path.join(data, "task1/image_splits", f"{stem}.txt"))]
        corpus, groups = [], {}
        for lang in langs:
            for gid, text in zip(ids, read_lines(os.path.join(data, "task1/raw", f"{stem}.{lang}.gz"))):
                if not text:
                    continue
                groups.setdefault(gid, []).append(len(corpus))
                corpus.append((f"{gid}.{lang}", lang, text, gid, None))
        queries, qrels = [], []
        for members in groups.values():
            if len(members) < 2:
                continue
            for i in members:
                queries.append(corpus[i])
                qrels.extend((corpus[i][0], corpus[j][0], 1) for j in members if j != i)
        n += write_eval(out, f"multi30k-{suffix}", queries, corpus, qrels)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--raw", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    seconds, rows = [], 0
    for run in range(args.repeats + 1):
        t0 = time.perf_counter()
        rows = xquad(args.raw, args.out) + multi30k(args.raw, args.out)
        if run > 0:
            seconds.append(time.perf_counter() - t0)
    print(json.dumps({"rows": rows, "seconds": seconds}))


if __name__ == "__main__":
    main()
