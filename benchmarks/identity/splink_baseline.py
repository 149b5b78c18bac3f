"""Splink (DuckDB backend) on the same prepared records, configured as a competent user would:
the same comparison levels as Hufen's model, term-frequency adjustment on the full name, u by
random sampling, m by EM on three blocking passes, the prior from the strong identifiers, and
connected components at the merge threshold. Only the benchmark imports it."""

from __future__ import annotations

import logging
import time
from typing import Any

import duckdb
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

PLACES = ("c_province", "c_city", "c_district")


def _present(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [c for c in frame.columns if c.startswith(prefix) and frame[c].notna().any()]


def _name() -> Any:
    return cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("n_key"),
            cll.ExactMatchLevel("n_full", term_frequency_adjustments=True),
            cll.ExactMatchLevel("n_key"),
            cll.JaroWinklerLevel("n_key", 0.92),
            cll.CustomLevel("n_sur_l = n_sur_r AND (n_given_l IS NULL OR n_given_r IS NULL)"),
            cll.ElseLevel(),
        ],
    )


def _date(col: str) -> Any:
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            cll.DamerauLevenshteinLevel(col, 1),
            cll.ElseLevel(),
        ],
    )


def _text(col: str) -> Any:
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            cll.JaroWinklerLevel(col, 0.9),
            cll.JaroWinklerLevel(col, 0.75),
            cll.ElseLevel(),
        ],
    )


def _place(cats: list[str]) -> Any:
    levels: list[Any] = [
        cll.CustomLevel(" AND ".join(f"({c}_l IS NULL OR {c}_r IS NULL)" for c in cats)).configure(is_null_level=True)
    ]
    if "c_district" in cats and "c_city" in cats:
        levels.append(cll.CustomLevel("c_city_l = c_city_r AND c_district_l = c_district_r"))
    levels += [cll.CustomLevel(f"{c}_l = {c}_r") for c in ("c_city", "c_province") if c in cats]
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name="place", comparison_levels=levels)


def settings(frame: pd.DataFrame) -> tuple[Any, list[Any], list[Any]]:
    strong, dates = _present(frame, "s_"), _present(frame, "d_")
    cats, texts = _present(frame, "c_"), _present(frame, "a_")
    has_name = bool(frame["n_key"].notna().any())
    comparisons: list[Any] = [_name()] if has_name else []
    comparisons += [_date(c) for c in dates]
    if frame["gender"].notna().any():
        comparisons.append(cl.ExactMatch("gender"))
    places = [c for c in cats if c in PLACES]
    if places:
        comparisons.append(_place(places))
    comparisons += [cl.ExactMatch(c) for c in cats if c not in PLACES]
    comparisons += [_text(c) for c in texts] + [cl.ExactMatch(c) for c in strong]
    # Narrow blocks only: a name with a whole province would be millions of 王伟 pairs.
    blocks: list[Any] = [block_on(c) for c in strong]
    if has_name:
        blocks += [block_on("n_key", d) for d in dates] + [block_on("n_key", c) for c in cats[-1:]]
        blocks += [block_on("n_sur", d) for d in dates] + [block_on("n_given", d) for d in dates]
    blocks += [block_on(d, c) for d in dates for c in cats[-1:]]
    em: list[Any] = []
    if has_name and dates:
        em.append(block_on("n_key", dates[0]))
    if strong:
        em.append(block_on(strong[0], "n_sur") if has_name else block_on(strong[0]))
    if dates and cats:
        em.append(block_on(dates[0], cats[-1]))
    creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocks,
    )
    return creator, em, [block_on(c) for c in strong[:2]] or blocks[:1]


def run(frame: pd.DataFrame, merge: float) -> tuple[list[int], dict[str, float]]:
    """Cluster the prepared frame with Splink; (cluster id per row, seconds per stage)."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    started = time.perf_counter()
    creator, em, deterministic = settings(frame)
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    linker = Linker(frame, creator, db_api=DuckDBAPI(connection=connection), set_up_basic_logging=False)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=min(2e6, max(2e5, 3.0 * len(frame))), seed=2026)
    for block in em:
        linker.training.estimate_parameters_using_expectation_maximisation(block)
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=merge)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, merge).as_pandas_dataframe()
    done = time.perf_counter()
    cluster_of = dict(zip(clusters["uid"].astype(int), clusters["cluster_id"].astype(str), strict=True))
    labels = [cluster_of[i] for i in range(len(frame))]
    codes = pd.factorize(pd.Series(labels))[0].tolist()
    return codes, {"train_seconds": round(trained - started, 1), "predict_cluster_seconds": round(done - trained, 1)}
