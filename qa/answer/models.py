"""The learned models of the answer core, loaded from one JSON file (`qa/data/answer_model.json`).

- `UnitModel`: which unit type (money, percent, people…) a question's answer has; a multinomial
  logistic regression over the question's character 1–2-grams.
- The ranker: does this candidate answer the question? A LightGBM booster (or a logistic
  regression, whichever the training script measured better) over `features.NAMES`.
- The answerability model: does the best candidate answer, given how it and its runners-up
  scored? A logistic regression over a few signals, with the refusal threshold chosen by
  leave-one-report-out cross-validation.

The file records the SHA-256 of the data it was fitted on; `scripts/train_answer.py` writes it,
deterministically, and `tests/answer/test_models.py` checks it matches the data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MODEL_FILE = "answer_model.json"
FORMAT = 1


def char_grams(text: str) -> list[str]:
    """Character 1- and 2-grams of a question, lower-cased, spaces dropped."""
    t = "".join(text.lower().split())
    return list(t) + [t[i : i + 2] for i in range(len(t) - 1)]


@dataclass(frozen=True)
class UnitModel:
    """Question → probability of each unit type of its answer."""

    vocabulary: dict[str, int]
    classes: tuple[str, ...]
    coef: np.ndarray  # classes × vocabulary
    intercept: np.ndarray

    def probs(self, question: str) -> dict[str, float]:
        idx = sorted({self.vocabulary[g] for g in char_grams(question) if g in self.vocabulary})
        z = self.intercept + (self.coef[:, idx].sum(axis=1) if idx else 0.0)
        z = np.exp(z - z.max())
        p = z / z.sum()
        return {c: float(v) for c, v in zip(self.classes, p)}

    def to_json(self) -> dict:
        return {"vocabulary": self.vocabulary, "classes": list(self.classes), "coef": np.round(self.coef, 6).tolist(), "intercept": np.round(self.intercept, 6).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "UnitModel":
        return cls(dict(d["vocabulary"]), tuple(d["classes"]), np.asarray(d["coef"], dtype=np.float64), np.asarray(d["intercept"], dtype=np.float64))


@dataclass(frozen=True)
class LinearModel:
    """A standardised logistic regression: P = σ(w · (x − mean) / scale + b)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def predict(self, rows: np.ndarray) -> np.ndarray:
        z = ((rows - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"type": "linear", "mean": self.mean.round(8).tolist(), "scale": self.scale.round(8).tolist(), "coef": self.coef.round(8).tolist(), "intercept": round(float(self.intercept), 8)}

    @classmethod
    def from_json(cls, d: dict) -> "LinearModel":
        return cls(np.asarray(d["mean"]), np.asarray(d["scale"]), np.asarray(d["coef"]), float(d["intercept"]))


@dataclass(frozen=True)
class BoostedModel:
    """A LightGBM binary booster kept as its text dump."""

    text: str

    @cached_property
    def booster(self):
        import lightgbm

        return lightgbm.Booster(model_str=self.text)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(rows, num_threads=1), dtype=np.float64)

    def to_json(self) -> dict:
        return {"type": "lightgbm", "model": self.text}


def scorer_from_json(d: dict):
    return BoostedModel(d["model"]) if d["type"] == "lightgbm" else LinearModel.from_json(d)


@dataclass(frozen=True)
class AnswerModels:
    """Everything the learned answer core loads: unit model, ranker, answerability, threshold."""

    features: tuple[str, ...]
    units: UnitModel
    ranker: Any  # LinearModel | BoostedModel
    answerability: LinearModel
    threshold: float  # answer when P(best candidate answers) ≥ this
    unit_check: float  # a question's predicted unit type this sure must be met by the answer's figures
    open_features: tuple[str, ...]
    open_ranker: Any  # paragraphs of an open question: does this one answer? (qa/answer/open_rank.py)
    open_threshold: float  # answer an open question when its best paragraph's probability is ≥ this
    data_sha256: str
    meta: dict
    parts_features: tuple[str, ...] = ()
    parts_ranker: Any = None  # enumerations of a document: does this one answer a whole-part question? (qa/answer/parts.py)
    parts_threshold: float = 1.0  # answer with a part when its probability is ≥ this
    parts_question: Any = None  # UnitModel over the classes part / none: does a question ask for a whole part?
    definition_features: tuple[str, ...] = ()
    definition_ranker: Any = None  # sentences: does this one spell out the name a definition asks about? (qa/answer/definitions.py)
    definition_threshold: float = 1.0

    def rank(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        return self.ranker.predict(np.asarray(rows, dtype=np.float64)) if len(rows) else np.zeros(0)

    def to_json(self) -> dict:
        return {
            "format": FORMAT, "features": list(self.features), "units": self.units.to_json(), "ranker": self.ranker.to_json(),
            "answerability": self.answerability.to_json(), "threshold": self.threshold, "unit_check": self.unit_check,
            "open_features": list(self.open_features), "open_ranker": self.open_ranker.to_json(), "open_threshold": self.open_threshold,
            "data_sha256": self.data_sha256, "meta": self.meta,
            **({"definition_features": list(self.definition_features), "definition_ranker": self.definition_ranker.to_json(), "definition_threshold": self.definition_threshold} if self.definition_ranker is not None else {}),
            **({"parts_features": list(self.parts_features), "parts_ranker": self.parts_ranker.to_json(), "parts_threshold": self.parts_threshold, "parts_question": self.parts_question.to_json()} if self.parts_ranker is not None else {}),
        }

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True, indent=0) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, d: dict) -> "AnswerModels":
        if d.get("format") != FORMAT:
            raise ValueError(f"answer model format {d.get('format')!r}, expected {FORMAT}: retrain with scripts/train_answer.py")
        return cls(
            tuple(d["features"]), UnitModel.from_json(d["units"]), scorer_from_json(d["ranker"]), LinearModel.from_json(d["answerability"]),
            float(d["threshold"]), float(d["unit_check"]), tuple(d["open_features"]), scorer_from_json(d["open_ranker"]), float(d["open_threshold"]),
            str(d["data_sha256"]), dict(d.get("meta", {})),
            tuple(d.get("parts_features", ())), scorer_from_json(d["parts_ranker"]) if "parts_ranker" in d else None, float(d.get("parts_threshold", 1.0)),
            UnitModel.from_json(d["parts_question"]) if "parts_question" in d else None,
            tuple(d.get("definition_features", ())), scorer_from_json(d["definition_ranker"]) if "definition_ranker" in d else None,
            float(d.get("definition_threshold", 1.0)),
        )


def load_models(path: Path | None = None) -> AnswerModels:
    """The shipped models (package data), or those of `path`."""
    if path is None:
        text = resources.files("qa.data").joinpath(MODEL_FILE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return AnswerModels.from_json(json.loads(text))


def answer_signals(scores: np.ndarray, rows: np.ndarray, names: Sequence[str]) -> list[float]:
    """What the answerability model sees of one question: the best candidate's score and margin,
    and a few of its features (unit agreement, coverage, absent words, near miss)."""
    if not len(scores):
        return [0.0] * len(SIGNAL_NAMES)
    order = np.argsort(-scores, kind="stable")
    best = rows[order[0]]
    col = {n: i for i, n in enumerate(names)}
    second = scores[order[1]] if len(order) > 1 else 0.0
    return [
        float(scores[order[0]]),
        float(scores[order[0]] - second),
        float(_logit(scores[order[0]])),
        float(best[col["cover_context"]]),
        float(best[col["cover_span"]]),
        float(best[col["unit_match"]]),
        float(best[col["unit_best_type_prob"]]),
        float(best[col["absent_terms"]]),
        float(best[col["near_miss"]]),
        float(best[col["meaning"]]),
        float((scores >= 0.5 * scores[order[0]]).sum()),
        *(float(best[col[name]]) for name in SIGNAL_COPIES),
    ]


SIGNAL_COPIES = (
    "kind_fact", "kind_number", "kind_range", "kind_rank", "kind_name", "kind_yesno", "english", "followup", "years_asked", "year_other",
    "rules_refuse", "rules_strength", "rules_near_miss", "rules_keys_missing", "rules_other_places", "rules_weak", "rules_span",
)
SIGNAL_NAMES = (
    "best", "margin", "best_logit", "cover_context", "cover_span", "unit_match", "unit_sure", "absent_terms", "near_miss", "meaning",
    "near_best", *SIGNAL_COPIES,
)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))
