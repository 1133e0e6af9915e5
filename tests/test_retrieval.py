"""Retrieval: exact dense search against brute force, BM25 by hand, rank fusion, years, and recall."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import DEV_FILE, SEED_ID
from qa.evaluation import EvalItem, evaluate_retrieval, load_eval, retrieval_metrics
from qa.index import load_index
from qa.retrieval import BM25, OTHER_YEAR_FACTOR, Query, Retriever
from qa.text import expand_synonyms, resolve_years


@pytest.fixture
def retriever(fake_index):
    seeds, index_dir, docs, embedder = fake_index
    return Retriever(load_index(index_dir, docs, embedder.id), embedder)


# --- dense search ------------------------------------------------------------------------------


@pytest.mark.parametrize("n, dim, k", [(1, 8, 1), (50, 16, 5), (1000, 64, 10), (300, 384, 300)])
def test_faiss_flat_ip_agrees_with_brute_force(n, dim, k):
    import faiss

    rng = np.random.default_rng(n + dim)
    corpus = rng.standard_normal((n, dim)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = rng.standard_normal((7, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)

    index = faiss.IndexFlatIP(dim)
    index.add(corpus)
    scores, ids = index.search(queries, k)

    brute = queries @ corpus.T
    expected_ids = np.argsort(-brute, axis=1, kind="stable")[:, :k]
    expected_scores = np.take_along_axis(brute, expected_ids, axis=1)
    # same scores in the same order; each returned id really has its score (near-ties may swap ids)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(brute, ids, axis=1), scores, atol=1e-5)
    assert (ids == expected_ids).mean() > 0.99
    for row in range(len(queries)):
        assert len(set(ids[row].tolist())) == k


def test_dense_scores_agree_with_numpy(retriever, fake_index):
    embedder = fake_index[3]
    query = retriever.prepare("2023年湖州市地区生产总值是多少？")
    got = retriever.dense_scores(query)
    chunks = retriever.index.chunks
    assert got.shape == (len(chunks),)
    vectors = np.stack([embedder.vector(c.embed_text) for c in chunks])
    expected = vectors @ embedder.vector(query.text)
    np.testing.assert_allclose(got, expected, atol=1e-5)


# --- BM25 --------------------------------------------------------------------------------------


def test_bm25_matches_hand_computation():
    docs = [["a", "b"], ["a", "c", "c"], ["d"]]
    bm25 = BM25(docs, k1=1.5, b=0.75)
    avg = 2.0
    idf_a = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    idf_c = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))

    def term(idf, tf, length):
        return idf * tf * 2.5 / (tf + 1.5 * (1 - 0.75 + 0.75 * length / avg))

    np.testing.assert_allclose(bm25.scores(["c"]), [0, term(idf_c, 2, 3), 0], rtol=1e-6)
    np.testing.assert_allclose(bm25.scores(["a"]), [term(idf_a, 1, 2), term(idf_a, 1, 3), 0], rtol=1e-6)
    # repeated query terms count once; unknown terms add nothing
    np.testing.assert_allclose(bm25.scores(["a", "a", "zzz", "c"]), bm25.scores(["a"]) + bm25.scores(["c"]), rtol=1e-6)
    assert bm25.scores([]).tolist() == [0, 0, 0]
    # a shorter paragraph with the same term frequency scores higher
    assert bm25.scores(["a"])[0] > bm25.scores(["a"])[1]


def test_bm25_numbers_terms_in_sorted_order_whatever_the_hash_seed(tmp_path):
    """The same paragraphs give the same index files in every process (bm25s alone numbers terms in
    set order, which follows Python's per-process string hashing; a query's float32 sum follows it)."""
    import subprocess
    import sys

    code = (
        "import sys; from qa.bm25 import BM25; "
        "b = BM25([['地区', '生产总值', '增长'], ['研发', '投入', '强度', '增长'], ['a', 'b', 'c', 'd', 'e', 'f']]); "
        "b.save(sys.argv[1]); print(list(b.vocab.items()))"
    )
    outs = []
    for seed in ("1", "2"):
        env = {**__import__("os").environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code, str(tmp_path / seed)], capture_output=True, text=True, env=env, check=True)
        outs.append(run.stdout)
    assert outs[0] == outs[1]
    for name in ("data.csc.index.npy", "indices.csc.index.npy", "vocab.index.json"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_bm25_empty_corpus():
    assert BM25([]).scores(["a"]).shape == (0,)


@pytest.mark.parametrize("within", ["one run", "two runs", "scattered", "nothing"])
def test_bm25_scores_within_rows_equal_every_score_taken_at_those_rows(within, monkeypatch):
    """A scoped search reads only its rows' postings and gets exactly the same float32 scores."""
    import qa.bm25

    rng = np.random.default_rng(4)
    words = [f"w{i}" for i in range(40)]
    docs = [list(rng.choice(words, size=int(rng.integers(1, 30)))) for _ in range(500)]
    bm25 = BM25(docs)
    rows = {
        "one run": np.arange(120, 260),
        "two runs": np.concatenate([np.arange(0, 30), np.arange(470, 500)]),
        "scattered": np.sort(rng.choice(500, 90, replace=False)),  # more runs than MAX_RUNS: scores()[rows]
        "nothing": np.zeros(0, dtype=np.int64),
    }[within]
    for query in (["w1", "w2", "w2", "zzz"], words[:25], ["zzz"], []):
        np.testing.assert_array_equal(bm25.scores_within(query, rows), bm25.scores(query)[rows])
    monkeypatch.setattr(qa.bm25, "MAX_RUNS", 10**6)  # every run searched, even for the scattered rows
    np.testing.assert_array_equal(bm25.scores_within(words[:25], rows), bm25.scores(words[:25])[rows])
    assert BM25([]).scores_within(["a"], np.zeros(0, dtype=np.int64)).shape == (0,)


def test_bm25_finds_the_gdp_paragraph(retriever):
    from qa.text import tokenize

    scores = retriever.bm25.scores(tokenize(expand_synonyms("2023年GDP是多少")))
    assert retriever.index.paragraph_keys[int(np.argmax(scores))] in {(SEED_ID, 4), (SEED_ID, 5)}


# --- fusion ------------------------------------------------------------------------------------


def _control(retriever, monkeypatch, dense_order, bm25_order):
    """Make paragraph rows rank as given in each list (first = best), the rest after them."""
    keys = retriever.index.paragraph_keys
    row = {number: i for i, (_, number) in enumerate(keys)}

    par_dense = np.full(len(keys), -0.5, dtype=np.float32)
    for rank, number in enumerate(dense_order):
        par_dense[row[number]] = 0.9 - 0.1 * rank
    chunk_scores = par_dense[retriever.chunk_rows].astype(np.float32)
    # only one chunk per paragraph carries the score, so the second-best bonus stays out
    seen = set()
    for i, r in enumerate(retriever.chunk_rows.tolist()):
        if r in seen:
            chunk_scores[i] = -1.0
        seen.add(r)
    monkeypatch.setattr(retriever, "dense_hits", lambda query, rows=None: (np.arange(len(chunk_scores)), chunk_scores))

    sparse = np.zeros(len(keys), dtype=np.float32)
    for rank, number in enumerate(bm25_order):
        sparse[row[number]] = 10.0 - rank
    monkeypatch.setattr(retriever.bm25, "scores", lambda tokens: sparse)


def _query(years=()):
    return Query(original="q", text="q", years=tuple(years), terms=())


def test_rrf_fusion(retriever, monkeypatch):
    k = retriever.rrf_k
    # 30 is first in both lists; 40 third and second; 50 second in dense only.
    # Unscored paragraphs tie at the bottom and rank in document order (a stable sort).
    _control(retriever, monkeypatch, dense_order=[30, 50, 40], bm25_order=[30, 40])
    hits = retriever.search_query(_query(), k=65)
    assert [h.paragraph for h in hits[:2]] == [30, 40]
    assert hits[0].score == pytest.approx(2 / (k + 1))
    assert hits[1].score == pytest.approx(1 / (k + 3) + 1 / (k + 2))
    fifty = next(h for h in hits if h.paragraph == 50)
    assert fifty.score == pytest.approx(1 / (k + 2) + 1 / (k + 50))  # BM25 rank: 2 + 48 rows before it
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].dense == pytest.approx(0.9) and hits[0].bm25 == pytest.approx(10.0)

    # agreeing second places beat one first place and a poor rank
    _control(retriever, monkeypatch, dense_order=[50, 40], bm25_order=[30, 40])
    hits = retriever.search_query(_query(), k=65)
    assert hits[0].paragraph == 40
    assert hits[0].score == pytest.approx(2 / (k + 2))
    score = {h.paragraph: h.score for h in hits}
    assert score[40] > score[30] and score[40] > score[50]


def test_rrf_k_sets_the_scale(fake_index, monkeypatch):
    seeds, index_dir, docs, embedder = fake_index
    retriever = Retriever(load_index(index_dir, docs, embedder.id), embedder, rrf_k=10)
    _control(retriever, monkeypatch, dense_order=[30], bm25_order=[30])
    (hit,) = retriever.search_query(_query(), k=1)
    assert hit.score == pytest.approx(2 / 11)


def test_hits_carry_paragraph_and_best_sentences(retriever):
    hits = retriever.search("集成供给更加精准的政策", k=4, sentences_per_hit=2)
    assert len(hits) == 4
    doc = retriever.index.docs[SEED_ID]
    for h in hits:
        p = doc.paragraph(h.paragraph)
        assert (h.doc, h.text, h.section, h.year) == (SEED_ID, p.text, p.section, p.year)
        assert 1 <= len(h.sentences) <= 2
        assert all(s.text in p.text for s in h.sentences)
        assert [s.score for s in h.sentences] == sorted((s.score for s in h.sentences), reverse=True)
    assert len(retriever.search("政策", k=100)) == 65


def test_retriever_refuses_foreign_embedder(fake_index):
    from conftest import FakeEmbedder

    seeds, index_dir, docs, embedder = fake_index
    other = FakeEmbedder()
    other.id = "fake/other"
    with pytest.raises(ValueError, match="fake/other"):
        Retriever(load_index(index_dir, docs, None), other)


# --- years -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, current, text, years",
    [
        ("去年地区生产总值是多少？", 2024, "2023年地区生产总值是多少？", [2023]),
        ("今年的目标是什么？", 2024, "2024年的目标是什么？", [2024]),
        ("前年和明年", 2024, "2022年和2025年", [2022, 2025]),
        ("上年增长多少", 2023, "2022年增长多少", [2022]),
        ("2023年和2023 年的情况", 2024, "2023年和2023 年的情况", [2023]),
        ("去年怎么样", None, "去年怎么样", []),
        ("地区生产总值", 2024, "地区生产总值", []),
    ],
)
def test_resolve_years(question, current, text, years):
    assert resolve_years(question, current) == (text, years)


def test_prepare_uses_the_reports_latest_year(retriever):
    query = retriever.prepare("去年GDP增长了多少？")
    assert query.years == (2023,)
    assert "2023年" in query.text and "地区生产总值" in query.text
    assert retriever.prepare("今年的目标", doc=SEED_ID).years == (2024,)
    assert retriever.current_year == {SEED_ID: 2024}


def test_named_year_moves_other_years_down(retriever, monkeypatch):
    k = retriever.rrf_k
    # 4 (a 2023 paragraph) is best on both, 21 (2024) second, 60 (no year) third
    _control(retriever, monkeypatch, dense_order=[4, 21, 60], bm25_order=[4, 21, 60])
    assert [h.paragraph for h in retriever.search_query(_query(), k=3)] == [4, 21, 60]

    hits = retriever.search_query(_query([2024]), k=3)
    assert [h.paragraph for h in hits][:2] == [21, 60]
    assert hits[0].year == 2024 and hits[1].year is None
    four = next(h for h in retriever.search_query(_query([2024]), k=65) if h.paragraph == 4)
    assert four.score == pytest.approx(OTHER_YEAR_FACTOR * 2 / (k + 1))

    # a question naming both years keeps both
    hits = retriever.search_query(_query([2023, 2024]), k=3)
    assert [h.paragraph for h in hits] == [4, 21, 60]


@pytest.mark.slow
def test_question_naming_2024_prefers_2024_section(real_retriever):
    hits = real_retriever.search("2024年地区生产总值预期增长多少？", k=3)
    assert hits[0].year == 2024
    assert hits[0].paragraph == 21
    hits = real_retriever.search("2023年地区生产总值是多少？", k=3)
    assert hits[0].year == 2023
    assert hits[0].paragraph == 4


# --- metrics -----------------------------------------------------------------------------------


def test_retrieval_metrics_by_hand():
    a = EvalItem("a", "q", (4,), (), True)
    b = EvalItem("b", "q", (7, 8), (), True)
    c = EvalItem("c", "q", (9,), (), True)
    unanswerable = EvalItem("u", "q", (), (), False)
    m = retrieval_metrics([(a, [4, 1]), (b, [1, 2, 8]), (c, [1, 2, 3, 4, 5, 9]), (unanswerable, [1])])
    assert m["questions"] == 3
    assert m["R@1"] == pytest.approx(1 / 3, abs=1e-4)
    assert m["R@3"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["R@5"] == pytest.approx(2 / 3, abs=1e-4)
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 6) / 3, abs=1e-4)
    assert m["misses_at_1"] == ["b", "c"]


@pytest.mark.slow
def test_dev_set_recall_on_real_index(real_retriever):
    items = load_eval(DEV_FILE)
    metrics = evaluate_retrieval(real_retriever, items)
    assert metrics["questions"] == sum(i.answerable and bool(i.paragraphs) for i in items) > 0
    assert metrics["R@1"] >= 0.96, metrics
    assert metrics["R@3"] == 1.0, metrics
    assert metrics["R@5"] == 1.0
