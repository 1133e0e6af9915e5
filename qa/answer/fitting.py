"""Fitting the answer core's models, with leave-one-report-out cross-validation.

1. Unit model: question character 1–2-grams → the unit type of its answer (logistic regression).
   Its out-of-fold predictions feed the ranker's features, so the ranker learns how far to trust it.
2. Ranker: candidate features → does it answer? Two families side by side: LightGBM and a
   logistic regression; the one with the better leave-one-report-out top-1 accuracy is kept.
3. Answerability: the best candidate's signals (out-of-fold ranker scores) → is it right? A
   logistic regression; its threshold maximises, on out-of-fold predictions, answers right plus
   unanswerables refused minus `WRONG_COST` per wrong answer given.

Everything is seeded and single-threaded: the same data gives the same file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..evidence import term_weights
from .features import NAMES, feature_rows, question_context
from .models import SIGNAL_NAMES, AnswerModels, BoostedModel, LinearModel, UnitModel, answer_signals, char_grams
from .open_rank import OPEN_NAMES, open_features
from .definitions import DEF_NAMES, asked_name, definition_features, definition_sentences
from .parts import PART_NAMES, candidate_parts, part_features, part_label
from ..evaluation import includes
from .training import Example, OpenExample, gold_unit, label
from .units import UNIT_TYPES

WRONG_COST = 1.0  # a wrong answer given costs this many right ones (a refusal costs one)
UNIT_CHECK = 0.8  # the unit model's probability above which the answer's figures must be of its type
LGB_PARAMS = dict(
    objective="binary", learning_rate=0.05, num_leaves=15, min_data_in_leaf=20, feature_fraction=0.8, bagging_fraction=0.8,
    bagging_freq=1, lambda_l2=1.0, num_threads=1, deterministic=True, force_row_wise=True, seed=7, verbose=-1,
)
LGB_ROUNDS = 300


def fit_units(texts: list[str], labels: list[str]) -> UnitModel:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(analyzer=char_grams, binary=True, min_df=2)
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=2.0, max_iter=2000)
    clf.fit(x, labels)
    classes = tuple(str(c) for c in clf.classes_)
    coef, intercept = clf.coef_, clf.intercept_
    if len(classes) == 2:  # binary: sklearn keeps one row
        coef, intercept = np.vstack([-coef[0], coef[0]]) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return UnitModel({k: int(v) for k, v in sorted(vec.vocabulary_.items())}, classes, coef, intercept)


def unit_probs_oof(examples: list[Example]) -> list[dict[str, float]]:
    """Each example's unit probabilities from a model that never saw its report."""
    out: list[dict[str, float]] = [{} for _ in examples]
    groups = sorted({e.group for e in examples})
    for g in groups:
        train = [e for e in examples if e.group != g and e.unit]
        model = fit_units([e.analysis.search_text or e.item.question for e in train], [e.unit for e in train])
        for i, e in enumerate(examples):
            if e.group == g:
                out[i] = model.probs(e.analysis.search_text or e.item.question)
    return out


@dataclass
class Table:
    """Feature rows of every candidate, with labels (the candidate answers) and the question each belongs to."""

    x: np.ndarray
    y: np.ndarray
    question: np.ndarray  # example index of each row
    groups: list[str]  # report of each example


def build_table(examples: list[Example], unit_probs: list[dict[str, float]]) -> Table:
    xs, ys, qs = [], [], []
    for i, (e, probs) in enumerate(zip(examples, unit_probs)):
        ctx = question_context(e.stats, e.query, e.hits, e.analysis, probs)
        rows = feature_rows(ctx, e.candidates, e.stats)
        xs += rows
        ys += e.labels  # every right span (training on the tightest only cost 0.885 → 0.825 top-1, measured)
        qs += [i] * len(rows)
    x = np.asarray(xs, dtype=np.float64).reshape(len(xs), len(NAMES))
    return Table(x, np.asarray(ys), np.asarray(qs), [e.group for e in examples])


def fit_linear(x: np.ndarray, y: np.ndarray, c: float = 1.0, balanced: bool = False) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced" if balanced else None)
    clf.fit((x - mean) / scale, y)
    return LinearModel(mean, scale, clf.coef_[0], float(clf.intercept_[0]))


def fit_boosted(x: np.ndarray, y: np.ndarray, names: tuple[str, ...] = NAMES, rounds: int = LGB_ROUNDS) -> BoostedModel:
    import lightgbm

    booster = lightgbm.train(LGB_PARAMS, lightgbm.Dataset(x, y, feature_name=list(names), free_raw_data=False), num_boost_round=rounds)
    return BoostedModel(booster.model_to_string())


def top1(table: Table, scores: np.ndarray, examples: list[Example]) -> tuple[float, list[bool]]:
    """Share of answerable examples whose best-scored candidate is labelled right, and per example."""
    right = []
    for i, e in enumerate(examples):
        rows = np.flatnonzero(table.question == i)
        right.append(bool(len(rows)) and bool(table.y[rows[np.argmax(scores[rows])]]))
    answerable = [r for r, e in zip(right, examples) if e.item.answerable]
    return (sum(answerable) / len(answerable) if answerable else 0.0), right


def oof_scores(table: Table, family: str) -> np.ndarray:
    """Ranker scores of every row from a model fitted without its report."""
    out = np.zeros(len(table.y))
    row_groups = np.asarray(table.groups)[table.question]
    for g in sorted(set(table.groups)):
        test = row_groups == g
        model = fit_boosted(table.x[~test], table.y[~test]) if family == "lightgbm" else fit_linear(table.x[~test], table.y[~test])
        out[test] = model.predict(table.x[test])
    return out


def signals(table: Table, scores: np.ndarray, n: int) -> np.ndarray:
    return np.asarray([answer_signals(scores[table.question == i], table.x[table.question == i], NAMES) for i in range(n)])


def choose_threshold(p: np.ndarray, right: list[bool], answerable: list[bool]) -> tuple[float, float, dict]:
    """The threshold with the best utility on out-of-fold probabilities, and its margin (the
    distance to the nearest probability on either side)."""
    best = (-1e9, 0.5)
    for t in np.unique(np.round(p, 4)):
        answered = p >= t
        utility = sum((a and r) for a, r in zip(answered, right)) + sum((not a) and (not ok) for a, ok in zip(answered, answerable)) - WRONG_COST * sum(a and not r for a, r in zip(answered, right))
        if utility > best[0]:
            best = (utility, float(t))
    t = best[1]
    below = p[p < t]
    margin = float(t - below.max()) if len(below) else 0.0
    answered = p >= t
    stats = {
        "answerable_right": float(np.mean([a and r for a, r, ok in zip(answered, right, answerable) if ok])),
        "unanswerable_refused": float(np.mean([not a for a, ok in zip(answered, answerable) if not ok])) if not all(answerable) else 1.0,
        "answerable_refused": float(np.mean([not a for a, ok in zip(answered, answerable) if ok])),
        "wrong_answers": int(sum(a and not r for a, r in zip(answered, right))),
    }
    return t, margin, stats


def oof_answerability(sig: np.ndarray, correct: np.ndarray, groups: list[str]) -> np.ndarray:
    out = np.zeros(len(correct))
    g = np.asarray(groups)
    for name in sorted(set(groups)):
        test = g == name
        out[test] = fit_linear(sig[~test], correct[~test], c=0.5).predict(sig[test])
    return out


def _open_table(examples: list[OpenExample]) -> Table:
    xs, ys, qs = [], [], []
    for i, e in enumerate(examples):
        terms = term_weights(e.stats, e.query.terms)
        rows = open_features(e.stats, e.query, e.hits, e.analysis, terms)
        xs.append(rows)
        ys += e.labels
        qs += [i] * len(rows)
    x = np.vstack(xs) if xs else np.zeros((0, len(OPEN_NAMES)))
    return Table(x, np.asarray(ys), np.asarray(qs), [e.group for e in examples])


def fit_open(examples: list[OpenExample], log=print) -> tuple[object, float, dict]:
    """The open ranker (the better family by leave-one-report-out top-1) and its refusal threshold."""
    table = _open_table(examples)
    log(f"open questions: {len(examples)}, {len(table.y)} paragraphs, {int(table.y.sum())} gold")
    row_groups = np.asarray(table.groups)[table.question]
    results = {}
    for family in ("lightgbm", "linear"):
        scores = np.zeros(len(table.y))
        for g in sorted(set(table.groups)):
            test = row_groups == g
            model = fit_boosted(table.x[~test], table.y[~test], OPEN_NAMES, 150) if family == "lightgbm" else fit_linear(table.x[~test], table.y[~test])
            scores[test] = model.predict(table.x[test])
        acc, right = top1(table, scores, examples)
        results[family] = (acc, scores, right)
        log(f"open ranker {family}: leave-one-report-out top-1 (a gold paragraph first) {acc:.3f}")
    family = max(results, key=lambda f: results[f][0])
    _, scores, right = results[family]
    best = np.asarray([scores[table.question == i].max() if (table.question == i).any() else 0.0 for i in range(len(examples))])
    threshold, margin, cv = choose_threshold(best, right, [e.item.answerable for e in examples])
    log(f"kept {family}; open threshold {threshold:.4f} (margin {margin:.4f}); cross-validated: {cv}")
    model = fit_boosted(table.x, table.y, OPEN_NAMES, 150) if family == "lightgbm" else fit_linear(table.x, table.y)
    meta = {"open_family": family, "open_families": {f: round(r[0], 4) for f, r in results.items()}, "open_cv": cv, "open_margin": round(margin, 4), "open_questions": len(examples)}
    return model, threshold, meta


def _wants_oof(examples: list, wants: list[bool]) -> list[float]:
    """Each question's probability of asking for a whole part, from a model that never saw its report."""
    out = [0.0] * len(examples)
    for g in sorted({e.group for e in examples}):
        train = [i for i, e in enumerate(examples) if e.group != g]
        model = fit_units([examples[i].analysis.reading for i in train], ["part" if wants[i] else "none" for i in train])
        for i, e in enumerate(examples):
            if e.group == g:
                out[i] = model.probs(e.analysis.reading).get("part", 0.0)
    return out


def _parts_table(examples: list, wants: list[float]) -> Table:
    xs, ys, qs = [], [], []
    for i, e in enumerate(examples):
        parts = candidate_parts(e.stats, e.hits)
        xs.append(part_features(parts, e.stats, e.query, e.hits, e.analysis, term_weights(e.stats, e.query.terms), wants[i]))
        gold = set(e.item.paragraphs) if e.item.answerable else set()
        ys += [part_label(p, gold) for p in parts]
        qs += [i] * len(parts)
    x = np.vstack(xs) if xs else np.zeros((0, len(PART_NAMES)))
    return Table(x, np.asarray(ys), np.asarray(qs), [e.group for e in examples])


def fit_parts(examples: list, log=print) -> tuple[object, float, dict]:
    """The parts ranker (the better family by leave-one-report-out top-1 on the questions a part
    answers) and the probability above which a part answers: a part used where none is right costs
    as much as a right one gains."""
    wants = [any(part_label(p, set(e.item.paragraphs)) for p in candidate_parts(e.stats, e.hits)) if e.item.answerable else False for e in examples]
    table = _parts_table(examples, _wants_oof(examples, wants))
    log(f"parts: {len(examples)} questions, {len(table.y)} enumerations, {sum(wants)} questions a part answers")
    if sum(wants) < 2:  # a small sample may hold none: no parts model, the open path answers
        return None, None, 1.0, {"parts_questions": sum(wants)}
    family, results, threshold = _ranked_family(table, PART_NAMES, wants, 100, log, "parts ranker")
    _, p, right = results[family]
    below = p[p < threshold]
    used = p >= threshold
    cv = {
        "part_questions_answered_right": round(float(sum(u and r for u, r, w in zip(used, right, wants) if w) / max(sum(wants), 1)), 4),
        "other_questions_given_a_part": round(float(sum(u for u, w in zip(used, wants) if not w) / max(len(wants) - sum(wants), 1)), 4),
        "wrong_parts": int(sum(u and not r for u, r in zip(used, right))),
    }
    log(f"kept {family}; parts threshold {threshold:.4f} (margin {threshold - below.max() if len(below) else 0:.4f}); cross-validated: {cv}")
    model = fit_boosted(table.x, table.y, PART_NAMES, 100) if family == "lightgbm" else fit_linear(table.x, table.y)
    question_model = fit_units([e.analysis.reading for e in examples], ["part" if w else "none" for w in wants])
    meta = {"parts_family": family, "parts_families": {f: round(r[0], 4) for f, r in results.items()}, "parts_cv": cv, "parts_questions": sum(wants)}
    return model, question_model, threshold, meta


def _ranked_family(table: Table, names: tuple[str, ...], wants: list[bool], rounds: int, log, what: str):
    """Leave-one-report-out scores of both families, and the better one with its threshold: the
    family whose answers above its threshold gain most (+1 right, −1 wrong), as it will be used."""
    row_groups = np.asarray(table.groups)[table.question]
    rows = [np.flatnonzero(table.question == i) for i in range(len(wants))]
    results = {}
    for family in ("lightgbm", "linear"):
        scores = np.zeros(len(table.y))
        for g in sorted(set(table.groups)):
            test = row_groups == g
            if not table.y[~test].any():
                continue
            model = fit_boosted(table.x[~test], table.y[~test], names, rounds) if family == "lightgbm" else fit_linear(table.x[~test], table.y[~test])
            scores[test] = model.predict(table.x[test])
        right = [bool(len(r)) and bool(table.y[r[np.argmax(scores[r])]]) for r in rows]
        p = np.asarray([scores[r].max() if len(r) else 0.0 for r in rows])
        acc = sum(r for r, w in zip(right, wants) if w) / max(sum(wants), 1)
        results[family] = (acc, p, right)
        log(f"{what} {family}: leave-one-report-out top-1 on the questions it can answer {acc:.3f}")
    thresholds = {f: _utility_threshold(r[1], r[2]) for f, r in results.items()}
    gain = {f: sum(1 if ok else -1 for q, ok in zip(results[f][1], results[f][2]) if q >= thresholds[f]) for f in results}
    log(f"{what}: gain above the threshold {gain}")
    family = max(results, key=lambda f: (gain[f], results[f][0]))
    return family, results, thresholds[family]


def fit_definitions(examples: list[OpenExample], log=print) -> tuple[object, float, dict]:
    """The definition sentence ranker and the probability above which its sentence answers (else
    the open path does): a wrong sentence costs as much as a right one gains."""
    chosen = [e for e in examples if e.analysis.kind == "definition"]
    xs, ys, qs = [], [], []
    for i, e in enumerate(chosen):
        name = asked_name(e.analysis)
        sentences = definition_sentences(e.stats, e.hits, name)
        xs.append(definition_features(sentences, e.stats, e.hits, e.analysis, term_weights(e.stats, e.query.terms), name))
        ys += [_holds(e.item, s.text) for s in sentences]
        qs += [i] * len(sentences)
    table = Table(np.vstack(xs) if xs else np.zeros((0, len(DEF_NAMES))), np.asarray(ys), np.asarray(qs), [e.group for e in chosen])
    wants = [bool(table.y[table.question == i].any()) for i in range(len(chosen))]
    log(f"definitions: {len(chosen)} questions, {len(table.y)} sentences, {sum(wants)} with a sentence that spells the name out")
    if sum(wants) < 2:  # a small sample may hold none: no definition model, the open path answers
        return None, 1.0, {"definition_questions": sum(wants)}
    family, results, threshold = _ranked_family(table, DEF_NAMES, wants, 100, log, "definition ranker")
    _, p, right = results[family]
    used = p >= threshold
    cv = {"answered_right": round(float(np.mean([u and r for u, r in zip(used, right)])), 4), "wrong": int(sum(u and not r for u, r in zip(used, right)))}
    log(f"kept {family}; definition threshold {threshold:.4f}; cross-validated: {cv}")
    model = fit_boosted(table.x, table.y, DEF_NAMES, 100) if family == "lightgbm" else fit_linear(table.x, table.y)
    return model, threshold, {"definition_family": family, "definition_families": {f: round(r[0], 4) for f, r in results.items()}, "definition_cv": cv}


def _holds(item, text: str) -> int:
    """1 when `text` alone is a right answer: every `must_include` group, or `min_hits` of `any_of`."""
    if not item.answerable:
        return 0
    if item.must_include:
        return int(all(includes(text, m) for m in item.must_include))
    return int(bool(item.any_of) and sum(includes(text, m) for m in item.any_of) >= item.min_hits)


def _utility_threshold(p: np.ndarray, right: list[bool], floor: float = 0.5) -> float:
    """The probability at or above which answering gains most: +1 a right answer, −1 a wrong one."""
    candidates = [float(t) for t in np.unique(np.round(p, 4)) if t >= floor] or [1.0]
    utility = [sum(1 if r else -1 for q, r in zip(p, right) if q >= t) for t in candidates]
    return candidates[int(np.argmax(utility))]


def fit_all(examples: list[Example], data_sha256: str, log=print, open_examples: list[OpenExample] = ()) -> AnswerModels:
    """Fit every model, report leave-one-report-out figures, and return the final models."""
    for e in examples:
        e.unit = gold_unit(e.item, e.stats)  # read again from the source: the rule may be newer than the cached examples
        e.labels = [label(e.item, c, len(e.query.years)) for c in e.candidates]
    units_oof = unit_probs_oof(examples)
    unit_acc = np.mean([max(p, key=p.get) == e.unit for p, e in zip(units_oof, examples) if e.unit and p])
    log(f"unit model, leave-one-report-out accuracy: {unit_acc:.3f} ({sum(bool(e.unit) for e in examples)} questions)")
    table = build_table(examples, units_oof)
    log(f"candidates: {len(table.y)} rows, {int(table.y.sum())} positive, {len(examples)} questions")
    answerable = [e.item.answerable for e in examples]
    results = {}
    for family in ("lightgbm", "linear"):
        scores = oof_scores(table, family)
        acc, right = top1(table, scores, examples)
        results[family] = (acc, scores, right)
        log(f"ranker {family}: leave-one-report-out top-1 on answerable questions {acc:.3f}")
    family = max(results, key=lambda f: results[f][0])
    _, scores, right = results[family]
    sig = signals(table, scores, len(examples))
    p = oof_answerability(sig, np.asarray(right, dtype=int), [e.group for e in examples])
    threshold, margin, cv = choose_threshold(p, right, answerable)
    log(f"kept {family}; answerability threshold {threshold:.4f} (margin {margin:.4f}); cross-validated: {cv}")
    ranker = fit_boosted(table.x, table.y) if family == "lightgbm" else fit_linear(table.x, table.y)
    answer_model = fit_linear(sig, np.asarray(right, dtype=int), c=0.5)  # fitted on out-of-fold signals: as scores will be on new reports
    units = fit_units([e.analysis.search_text or e.item.question for e in examples if e.unit], [e.unit for e in examples if e.unit])
    meta = {
        "ranker_family": family, "families": {f: round(r[0], 4) for f, r in results.items()}, "unit_cv_accuracy": round(float(unit_acc), 4),
        "threshold_margin": round(margin, 4), "cv": {k: round(v, 4) if isinstance(v, float) else v for k, v in cv.items()},
        "questions": len(examples), "candidates": int(len(table.y)), "reports": sorted(set(e.group for e in examples)), "signals": list(SIGNAL_NAMES),
        "unit_types": list(UNIT_TYPES),
    }
    open_model, open_threshold, open_meta = fit_open(list(open_examples), log)
    meta.update(open_meta)
    parts_model, parts_question, parts_threshold, parts_meta = fit_parts([*examples, *open_examples], log)
    meta.update(parts_meta)
    definition_model, definition_threshold, definition_meta = fit_definitions(list(open_examples), log)
    meta.update(definition_meta)
    return AnswerModels(
        tuple(NAMES), units, ranker, answer_model, threshold, UNIT_CHECK, tuple(OPEN_NAMES), open_model, open_threshold, data_sha256, meta,
        tuple(PART_NAMES), parts_model, parts_threshold, parts_question, tuple(DEF_NAMES), definition_model, definition_threshold,
    )
