"""LAReQA evaluation in plain numpy + pytrec_eval: the reference that ``bench.py`` times against
``polyret.evaluate`` and that the tests compare it with.

Relevance by group; every query ranked against the whole pool (multilingual) and against each
corpus language (the query × corpus language cells; a cell is left out for a query with no
relevant document in it); trec_eval's measures on the full rankings (pytrec_eval), ``mrr_at_10``
as trec_eval's ``recip_rank`` on the ranking cut at 10; the averages and the maximum rank
distance as ``docs/evaluation.md`` defines them. No subsets and no query's own document (ids
of queries and documents differ).
"""

from collections import defaultdict

import numpy as np

# Polyret key -> pytrec_eval key (as scripts/check_trec.py maps them).
MEASURES = {
    "map": "map",
    "map_at_100": "map_cut_100",
    "ndcg_at_10": "ndcg_cut_10",
    "recall_at_1": "recall_1",
    "recall_at_10": "recall_10",
    "recall_at_100": "recall_100",
    "success_at_1": "success_1",
    "success_at_5": "success_5",
    "success_at_10": "success_10",
}
REQUEST = {"map", "map_cut.100", "ndcg_cut.10", "recall.1,10,100", "success.1,5,10"}


def _mean(values):
    return sum(values) / len(values)


def lareqa_reference(query_emb, query_lang, query_group, doc_emb, doc_lang, doc_group):
    """The settings' scores, the cell matrix of mAP and the max rank distance."""
    import pytrec_eval

    scores = query_emb @ doc_emb.T
    qids = [f"q{i}" for i in range(len(query_lang))]
    docids = [f"d{j}" for j in range(len(doc_lang))]
    docs_of_group = defaultdict(list)
    for j, g in enumerate(doc_group):
        docs_of_group[g].append(j)
    langs = sorted(set(doc_lang))
    docs_of_lang = {lang: [j for j, l in enumerate(doc_lang) if l == lang] for lang in langs}

    qrels, run, cells = {}, {}, {}
    for i, qid in enumerate(qids):
        relevant = docs_of_group[query_group[i]]
        if not relevant:
            continue
        qrels[qid] = {docids[j]: 1 for j in relevant}
        row = scores[i].tolist()
        run[qid] = dict(zip(docids, row))
        for lang in langs:
            in_lang = [j for j in relevant if doc_lang[j] == lang]
            if in_lang:
                cell_qid = f"{qid}@{lang}"
                qrels[cell_qid] = {docids[j]: 1 for j in in_lang}
                run[cell_qid] = {docids[j]: row[j] for j in docs_of_lang[lang]}
                cells[cell_qid] = (query_lang[i], lang)
    measured = pytrec_eval.RelevanceEvaluator(qrels, REQUEST).evaluate(run)

    # mrr_at_10 and the rank distance from the ranks of the relevant documents, counted with
    # numpy in trec_eval's order: score descending, then docid descending (bytes).
    by_id = np.empty(len(docids), dtype=np.int64)
    by_id[sorted(range(len(docids)), key=lambda j: docids[j].encode())] = np.arange(len(docids))
    position = {d: j for j, d in enumerate(docids)}

    def ranks(qid):
        docs = [position[d] for d in run[qid]]
        s, ids = np.array([run[qid][docids[j]] for j in docs]), by_id[docs]
        rel = [k for k, j in enumerate(docs) if docids[j] in qrels[qid]]
        return sorted(int(1 + np.sum(s > s[k]) + np.sum((s == s[k]) & (ids > ids[k]))) for k in rel)

    per_query = {}
    for qid, values in measured.items():
        row = {key: values[trec_key] for key, trec_key in MEASURES.items()}
        relevant_ranks = ranks(qid)
        row["mrr_at_10"] = 1.0 / relevant_ranks[0] if relevant_ranks[0] <= 10 else 0.0
        row["rank_distance"] = relevant_ranks[-1] - relevant_ranks[0] if len(relevant_ranks) > 1 else None
        per_query[qid] = row

    keys = list(MEASURES) + ["mrr_at_10"]
    pool_by_lang = defaultdict(list)
    for i, qid in enumerate(qids):
        if qid in per_query:
            pool_by_lang[query_lang[i]].append(per_query[qid])
    by_cell = defaultdict(list)
    for cell_qid, cell in cells.items():
        by_cell[cell].append(per_query[cell_qid])

    def setting(groups):
        return {k: _mean([_mean([r[k] for r in rows]) for rows in groups]) for k in keys}

    scores_out = {"multilingual": setting(pool_by_lang.values())}
    mono = [rows for (q, c), rows in by_cell.items() if q == c]
    cross = [rows for (q, c), rows in by_cell.items() if q != c]
    if mono:
        scores_out["monolingual"] = setting(mono)
    if cross:
        scores_out["crosslingual"] = setting(cross)
    distances = [
        _mean(ds) for rows in pool_by_lang.values() if (ds := [r["rank_distance"] for r in rows if r["rank_distance"] is not None])
    ]
    matrix = {cell: _mean([r["map"] for r in rows]) for cell, rows in by_cell.items()}
    return {
        "scores": scores_out,
        "matrix_map": matrix,
        "max_rank_distance": _mean(distances) if distances else None,
    }
