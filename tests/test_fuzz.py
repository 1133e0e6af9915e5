"""Fuzzing: schemathesis against the served OpenAPI schema, hypothesis on the citation parser and checker.

Schemathesis generates valid and invalid requests for every operation in /openapi.json (a bounded
number per operation) and sends them to the real server on loopback; no response may be a 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.errors import Unsatisfiable

from qa.grounding import check_answer, parse_citations
from serving import extractive_settings, serving

pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def served(real_index, tmp_path_factory):
    """The server over a private copy of the session index: fuzzed uploads and removals may change it."""
    import shutil

    base = tmp_path_factory.mktemp("fuzz")
    for name, source in zip(("seeds", "index"), real_index):
        shutil.copytree(source, base / name)
    settings_ = extractive_settings(base / "seeds", base / "index")
    with serving(settings_) as url:
        yield url


FUZZ_EXAMPLES = 25  # per operation and mode (hypothesis stops early where the input space is small)


def test_schemathesis_finds_no_server_errors(served):
    """Valid (positive) and invalid (negative) requests for every operation in /openapi.json."""
    from schemathesis.generation.modes import GenerationMode

    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    sent: dict[int, int] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(operation.as_strategy(generation_mode=mode))
            @settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
            def check(case):
                response = case.call(base_url=served, timeout=30)
                sent[response.status_code] = sent.get(response.status_code, 0) + 1
                assert response.status_code < 500, (case.method, case.formatted_path, case.query, case.body, response.text[:300])
                if response.status_code >= 400:
                    ctype = response.headers.get("content-type") or [""]
                    assert (ctype[0] if isinstance(ctype, list) else ctype).startswith("application/json"), response.text[:200]
                    assert "error" in response.json()

            try:
                check()
            except Unsatisfiable:  # no invalid input exists (an operation without parameters)
                assert mode == GenerationMode.NEGATIVE
    print("\nschemathesis:", sum(sent.values()), "requests, statuses", dict(sorted(sent.items())))


# -- the citation parser and checker ------------------------------------------------------------

MARKS = st.sampled_from(["[", "]", "【", "】", "［", "］", ":", "：", "第", "段", "、", ",", "，", "-", "–"])
PIECES = st.one_of(st.text(max_size=8), MARKS, st.integers(0, 10**12).map(str), st.sampled_from(["[4]", "[doc:3]", "[4,5]", "【第4段】", "[999999999999]", "[:]", "[a:]"]))


@given(st.lists(PIECES, max_size=25).map("".join))
@settings(max_examples=300, deadline=None)
def test_parser_survives_adversarial_marks(text):
    parsed = parse_citations(text)
    assert isinstance(parsed.text, str)
    for ref in parsed.refs:
        assert isinstance(ref.paragraph, int)


@given(st.lists(PIECES, max_size=20).map("".join), st.dictionaries(st.integers(1, 70), st.text(max_size=40), max_size=4))
@settings(max_examples=200, deadline=None)
def test_checker_never_crashes_and_never_accepts_uncited_paragraphs(answer, paragraphs):
    evidence = {("doc", n): text for n, text in paragraphs.items()}
    check = check_answer(answer, evidence, default_doc="doc", question="")
    for c in check.cited:
        assert (c.doc, c.paragraph) in evidence
