"""The Fellegi–Sunter model over weak evidence, built and trained with Splink (DuckDB backend).

Per-field m/u probabilities are estimated from the data itself: u by random sampling, m by EM on
a few blocking passes, so the weights fit each file rather than a hand-tuned table. Blocking
never uses a name alone: a name is always paired with a date or a place, so 王伟 × 王伟 pairs stay
within one birthday or one city and the pair count stays near-linear.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

PLACE_COLUMNS = ("c_province", "c_city", "c_district")
# DuckDB's levenshtein functions count bytes (a Chinese character is three), jaro_winkler counts
# characters; so only ASCII columns (dates) get an edit-distance level, text gets Jaro–Winkler.


def _name_comparison() -> Any:
    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("n_key"),
            cll.ExactMatchLevel("n_full", term_frequency_adjustments=True).configure(label_for_charts="same name"),
            cll.ExactMatchLevel("n_key").configure(label_for_charts="same pinyin (any order)"),
            cll.JaroWinklerLevel("n_key", 0.92).configure(label_for_charts="similar pinyin"),
            cll.CustomLevel(
                "n_sur_l = n_sur_r AND (n_given_l IS NULL OR n_given_r IS NULL)",
            ).configure(label_for_charts="same surname, no given name (王先生)"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def _date_comparison(col: str) -> Any:
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(label_for_charts="same date"),
            cll.DamerauLevenshteinLevel(col, 1).configure(label_for_charts="one digit off"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def _text_comparison(col: str) -> Any:
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(label_for_charts="same"),
            cll.JaroWinklerLevel(col, 0.9).configure(label_for_charts="similar (JW ≥ 0.9)"),
            cll.JaroWinklerLevel(col, 0.75).configure(label_for_charts="somewhat similar (JW ≥ 0.75)"),
            cll.ElseLevel().configure(label_for_charts="different"),
        ],
    )


def _place_comparison(cats: list[str]) -> Any:
    """Province, city and district as one comparison: they are nested, so counting each as
    independent evidence (what Fellegi–Sunter assumes) would count one place three times."""
    levels: list[Any] = [
        cll.CustomLevel(" AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in cats)).configure(is_null_level=True)
    ]
    if "c_district" in cats and "c_city" in cats:
        levels.append(
            cll.CustomLevel("c_city_l = c_city_r AND c_district_l = c_district_r").configure(
                label_for_charts="same district"
            )
        )
    for col, label in (("c_city", "same city"), ("c_province", "same province")):
        if col in cats:
            levels.append(cll.CustomLevel(f"{col}_l = {col}_r").configure(label_for_charts=label))
    levels.append(cll.ElseLevel().configure(label_for_charts="different"))
    return cl.CustomComparison(output_column_name="place", comparison_levels=levels)


def _columns(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in frame.columns if c.startswith(prefix) and frame[c].notna().any()]


def build_settings(frame: pd.DataFrame) -> tuple[Any, list[Any], list[Any]]:
    """(settings, EM training blocks, deterministic rules for the prior) for this frame's columns."""
    strong, dates = _columns(frame, "s_"), _columns(frame, "d_")
    cats, texts = _columns(frame, "c_"), _columns(frame, "a_")
    has_name = bool(frame["n_key"].notna().any())
    comparisons: list[Any] = [_name_comparison()] if has_name else []
    comparisons += [_date_comparison(c) for c in dates]
    if frame["gender"].notna().any():
        comparisons.append(cl.ExactMatch("gender"))
    places = [c for c in cats if c in PLACE_COLUMNS]
    if places:
        comparisons.append(_place_comparison(places))
    comparisons += [cl.ExactMatch(c) for c in cats if c not in PLACE_COLUMNS]
    comparisons += [_text_comparison(c) for c in texts]
    comparisons += [cl.ExactMatch(c) for c in strong]
    blocks: list[Any] = [block_on(c) for c in strong]
    if has_name:
        blocks += [block_on("n_key", d) for d in dates]
        blocks += [block_on("n_key", c) for c in cats[:3]]
        blocks += [block_on("n_sur", d) for d in dates] + [block_on("n_given", d) for d in dates]
        blocks += [block_on("n_sur", "n_given", c) for c in cats[:1]]
    blocks += [block_on(d, c) for d in dates for c in cats[:2]]
    if not blocks:
        raise ValueError("nothing to block on: configure at least one identifier, or a name with a date or category")
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocks,
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
        additional_columns_to_retain=[],
        # Splink re-parses its SQL each iteration; weights settle well before the default 25.
        max_iterations=12,
        em_convergence=0.001,
    )
    # EM passes: each one trains the fields it does not block on. A shared phone alone would mix
    # in couples; phone + surname is mostly the same person.
    em_blocks: list[Any] = []
    if has_name and dates:
        em_blocks.append(block_on("n_key", dates[0]))
    if strong:
        em_blocks.append(block_on(strong[0], "n_sur") if has_name else block_on(strong[0]))
    if dates and cats:
        em_blocks.append(block_on(dates[0], cats[-1]))
    deterministic = [block_on(c) for c in strong[:2]] or blocks[:1]
    return settings, em_blocks, deterministic


def score_pairs(
    frame: pd.DataFrame, threshold: float, *, sample_pairs: float = 1e6, note: Callable[[str], None] = print
) -> tuple[pd.DataFrame, Any]:
    """Train by EM on the frame and return the candidate pairs scoring at least `threshold`."""
    settings, em_blocks, deterministic = build_settings(frame)
    # Splink's progress notes and "m not fully trained" warnings are for notebooks, not a CLI.
    logging.getLogger("splink").setLevel(logging.ERROR)
    connection = duckdb.connect()
    # DuckDB draws its own progress bar on stdout, which would corrupt `--json` output.
    connection.execute("SET enable_progress_bar = false")
    linker = Linker(frame, settings, db_api=DuckDBAPI(connection=connection), set_up_basic_logging=False)
    try:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    except Exception:  # too few pairs to estimate; Splink's default prior stays
        logging.getLogger(__name__).info("prior not estimated; using the default")
    note("u by random sampling")
    linker.training.estimate_u_using_random_sampling(max_pairs=sample_pairs, seed=2026)
    note("m by EM")
    for block in em_blocks:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block, populate_probability_two_random_records_match_from_trained_values=False
            )
        except Exception:  # a pass without pairs leaves its fields at their defaults
            logging.getLogger(__name__).info("EM pass skipped: %s", block)
    note("scoring candidate pairs")
    pairs = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    return pairs, linker


def level_labels(linker: Any) -> dict[str, dict[int, str]]:
    """Comparison name → gamma value → label, to explain a pair in words."""
    labels: dict[str, dict[int, str]] = {}
    for comparison in linker._settings_obj.comparisons:
        labels[comparison.output_column_name] = {
            level.comparison_vector_value: level.label_for_charts for level in comparison.comparison_levels
        }
    return labels


def explain(pair: dict[str, Any], labels: dict[str, dict[int, str]]) -> dict[str, dict[str, Any]]:
    """Per field: the level reached, its Bayes factor and match weight (log2 of the factor)."""
    evidence: dict[str, dict[str, Any]] = {}
    for name, levels in labels.items():
        gamma = pair.get(f"gamma_{name}")
        bf = pair.get(f"bf_{name}")
        if gamma is None or bf is None or int(gamma) == -1:
            continue  # a missing value is no evidence either way
        factor = float(bf)
        tf_factor = pair.get(f"bf_tf_adj_{name}")
        if tf_factor is not None and not pd.isna(tf_factor):
            factor *= float(tf_factor)  # a common name (王伟) agrees by chance more often
        evidence[name.removeprefix("s_").removeprefix("d_").removeprefix("c_").removeprefix("a_")] = {
            "level": levels.get(int(gamma), str(gamma)),
            "bayes_factor": round(factor, 4),
            "match_weight": round(math.log2(factor), 2) if factor > 0 else None,
        }
    return evidence
