"""The shipped answer models (qa/data/answer_model.json) and the script that trains them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.answer.features import NAMES
from qa.answer.models import load_models
from qa.answer.training import data_hash

ROOT = Path(__file__).parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import train_answer  # noqa: E402


def test_the_shipped_model_was_fitted_on_the_training_files_as_they_are():
    files = train_answer.training_files()
    if not (ROOT.parent / "shared" / "eval" / "fit").is_dir():
        pytest.skip("../shared/eval is not beside this checkout")
    models = load_models()
    assert models.data_sha256 == data_hash(files), "the training data changed: rerun scripts/train_answer.py"


def test_the_shipped_model_scores_rows_of_its_features():
    models = load_models()
    assert models.features == NAMES
    scores = models.rank(np.zeros((3, len(NAMES))))
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    assert 0 < models.threshold < 1
    probs = models.units.probs("去年全省地区生产总值达到多少亿元？")
    assert abs(sum(probs.values()) - 1) < 1e-6 and max(probs, key=probs.get) == "money"


def test_the_shipped_model_reads_the_features_the_code_writes():
    from qa.answer.definitions import DEF_NAMES
    from qa.answer.open_rank import OPEN_NAMES
    from qa.answer.parts import PART_NAMES

    models = load_models()
    assert (models.open_features, models.parts_features, models.definition_features) == (OPEN_NAMES, PART_NAMES, DEF_NAMES)
    assert models.parts_ranker is not None and 0.5 <= models.parts_threshold < 1
    assert models.definition_ranker is not None and 0.5 <= models.definition_threshold < 1
    wants = models.parts_question.probs("今年的重点工作分哪几个方面？")["part"]
    assert wants > models.parts_question.probs("去年全省地区生产总值达到多少亿元？")["part"]


def test_a_model_file_of_another_format_is_refused(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"format": 99}), encoding="utf-8")
    with pytest.raises(ValueError, match="retrain"):
        load_models(path)


@pytest.mark.slow
def test_the_training_script_runs_on_a_sample_and_refits_the_same_file(tmp_path):
    if not (ROOT.parent / "shared" / "eval" / "fit").is_dir():
        pytest.skip("../shared/eval is not beside this checkout")
    cmd = [sys.executable, str(ROOT / "scripts" / "train_answer.py"), "--sample", "2", "--examples", str(tmp_path / "ex.pkl")]
    first = subprocess.run([*cmd, "--out", str(tmp_path / "a.json")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "leave-one-report-out" in first.stdout
    again = subprocess.run([*cmd, "--out", str(tmp_path / "b.json")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()  # deterministic
    assert load_models(tmp_path / "a.json").data_sha256 == "sample:2"
