"""The trained Fellegi–Sunter weights, stored and applied one pair at a time for online linking.

`extract` reads the prior and the m/u probabilities of every comparison level from the model the
batch engine trained (`model.py`: batch `resolve`, `hufen identity train` or `rebuild`);
`ModelParameters` keeps them, newest first. `score_pair` computes the same comparison levels as
`model.py` in Python for two prepared rows and sums the log2 Bayes factors, so the online decision
uses the batch model's weights.

Without a trained model in the database, the bundled `default_weights.json` is used: it was trained
with `hufen identity train --synthetic 20000 --output hufen/identity/default_weights.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler

DEFAULT_PATH = Path(__file__).with_name("default_weights.json")
FORMAT_VERSION = 1

Row = Mapping[str, Any]
Predicate = Callable[[Row, Row], bool]


def extract(model: Any, *, merge: float, review: float) -> dict[str, Any]:
    """The model as JSON: prior, thresholds, and for each comparison its levels with m and u
    (`model.Model`: each comparison's `m` / `u` are indexed by gamma, 0 the else level)."""
    return {
        "format": FORMAT_VERSION,
        "prior": model.prior,
        "thresholds": {"merge": merge, "review": review},
        "comparisons": [
            {
                "name": c.name,
                "levels": [
                    {"gamma": gamma, "label": c.label(gamma), "m": c.m[gamma], "u": c.u[gamma]}
                    for gamma in range(c.count - 1, -1, -1)
                ],
            }
            for c in model.comparisons
        ],
    }


def load_default() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    return data


# --- the comparison levels of model.py, in Python -----------------------------------------------


def _both(col: str) -> Callable[[Row, Row], bool]:
    return lambda a, b: a.get(col) is not None and b.get(col) is not None


def _eq(col: str) -> Predicate:
    return lambda a, b: a.get(col) is not None and a.get(col) == b.get(col)


def _jw(col: str, threshold: float) -> Predicate:
    return lambda a, b: _both(col)(a, b) and JaroWinkler.similarity(a[col], b[col]) >= threshold


def _name_levels() -> list[Predicate]:
    return [
        _eq("n_full"),
        _eq("n_key"),
        _jw("n_key", 0.92),
        lambda a, b: _eq("n_sur")(a, b) and (a.get("n_given") is None or b.get("n_given") is None),
        lambda a, b: True,
    ]


def _date_levels(col: str) -> list[Predicate]:
    return [
        _eq(col),
        lambda a, b: _both(col)(a, b) and DamerauLevenshtein.distance(a[col], b[col]) <= 1,
        lambda a, b: True,
    ]


def _text_levels(col: str) -> list[Predicate]:
    return [_eq(col), _jw(col, 0.9), _jw(col, 0.75), lambda a, b: True]


def _place_levels() -> list[Predicate]:
    return [
        lambda a, b: _eq("c_city")(a, b) and _eq("c_district")(a, b),
        _eq("c_city"),
        _eq("c_province"),
        lambda a, b: True,
    ]


def _null(name: str) -> Predicate:
    """True when the comparison has no evidence (Splink's null level)."""
    if name == "name":
        return lambda a, b: not _both("n_key")(a, b)
    if name == "place":
        return lambda a, b: not any(_both(c)(a, b) for c in ("c_province", "c_city", "c_district"))
    return lambda a, b: not _both(name)(a, b)


def _levels(name: str, count: int) -> list[Predicate]:
    if name == "name":
        return _name_levels()
    if name == "place":
        return _place_levels()
    if name.startswith("d_"):
        return _date_levels(name)
    if name.startswith("a_"):
        return _text_levels(name)
    if count == 2:  # exact match or not
        return [_eq(name), lambda a, b: True]
    raise ValueError(f"comparison {name!r} with {count} levels is not known to online scoring")


@dataclass(frozen=True)
class PairScore:
    probability: float
    match_weight: float
    evidence: dict[str, dict[str, Any]]


class Scorer:
    """Scores pairs of prepared rows with one set of trained parameters."""

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        if parameters.get("format") != FORMAT_VERSION:
            raise ValueError(f"model parameters format {parameters.get('format')!r} is not {FORMAT_VERSION}")
        prior = float(parameters["prior"])
        self.prior_weight = math.log2(prior / (1.0 - prior))
        self.merge = float(parameters["thresholds"]["merge"])
        self.review = float(parameters["thresholds"]["review"])
        self._comparisons: list[tuple[str, Predicate, list[tuple[Predicate, dict[str, Any]]]]] = []
        for comparison in parameters["comparisons"]:
            name, levels = comparison["name"], comparison["levels"]
            predicates = _levels(name, len(levels))
            if len(predicates) != len(levels):
                raise ValueError(f"comparison {name!r}: {len(levels)} levels stored, {len(predicates)} known")
            self._comparisons.append((name, _null(name), list(zip(predicates, levels, strict=True))))

    def score(self, a: Row, b: Row) -> PairScore:
        total = self.prior_weight
        evidence: dict[str, dict[str, Any]] = {}
        for name, is_null, levels in self._comparisons:
            if is_null(a, b):
                continue  # a missing value is no evidence either way
            for predicate, level in levels:
                if predicate(a, b):
                    m, u = float(level["m"]), float(level["u"])
                    factor = m / u if u > 0 else 1.0
                    weight = math.log2(factor) if factor > 0 else -30.0
                    total += weight
                    evidence[name.removeprefix("s_").removeprefix("d_").removeprefix("c_").removeprefix("a_")] = {
                        "level": level["label"],
                        "bayes_factor": round(factor, 4),
                        "match_weight": round(weight, 2),
                    }
                    break
        probability = 1.0 / (1.0 + 2.0 ** (-total)) if total > -1000 else 0.0
        return PairScore(probability, round(total, 3), evidence)
