"""Blocking that scales with the file: recovery blocks narrow and name blocks lower their cap past
their pair budgets, so a larger file does not bring quadratically more candidate pairs."""

from __future__ import annotations

import pyarrow as pa
import pytest

from hufen.identity import model
from hufen.identity.model import _block_sizes, _Present, _scaled_blocks, build_plan, connect, score_pairs
from hufen.identity.prepare import prepare_frame
from hufen.identity.schema import DEFAULT_SCHEMA
from hufen.identity.synthetic import generate


@pytest.fixture(scope="module")
def table() -> pa.Table:
    frame = prepare_frame([r for r, _ in generate(3000, seed=11)], DEFAULT_SCHEMA)
    return pa.Table.from_pandas(frame, preserve_index=False)


def _scaled(table: pa.Table) -> tuple[list[tuple[model.Block, int]], dict[model.Block, int]]:
    plan = build_plan(_Present(table))
    connection = connect()
    connection.register("recs", table)
    chosen = _scaled_blocks(connection, plan, table.num_rows, model.BLOCK_CAP)
    pairs = {b: sum(k for s, _, k in _block_sizes(connection, b) if s <= cap) for b, cap in chosen}
    connection.close()
    return chosen, pairs


def test_within_budget_every_block_runs_as_planned(table: pa.Table) -> None:
    chosen, _ = _scaled(table)
    assert chosen == [(b, model.BLOCK_CAP) for b in build_plan(_Present(table)).blocks]


def test_a_recovery_block_over_its_budget_is_narrowed(table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    _, planned = _scaled(table)
    # given a budget every recovery block passes
    monkeypatch.setattr(model, "RECOVERY_PAIR_BUDGET", 0.0)
    chosen, pairs = _scaled(table)
    blocks = [b for b, _ in chosen]
    date = "d_birth_date"
    # then surname + date runs within a city (and for records without one), date + place only where a
    # record has no name, and the name blocks are untouched
    assert (("n_sur", date), None) not in blocks
    assert (("n_sur", date, "c_city"), None) in blocks and (("n_sur", date), "c_city") in blocks
    assert ((date, "c_province"), "n_key") in blocks and ((date, "c_province"), None) not in blocks
    assert (("n_key", "c_district"), None) in blocks
    # and the narrow forms give fewer pairs than the block they replace, though some
    narrowed = pairs[(("n_sur", date, "c_city"), None)] + pairs[(("n_sur", date), "c_city")]
    assert 0 < narrowed < planned[(("n_sur", date), None)]


def test_a_name_block_over_the_pair_budget_gets_a_lower_cap(table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    _, full = _scaled(table)
    block = (("n_key", "c_district"), None)
    n = table.num_rows
    # given a budget of half the pairs the name + district block gives
    budget = full[block] / n / 2
    monkeypatch.setattr(model, "PAIR_BUDGET", budget)
    chosen, pairs = _scaled(table)
    cap = dict(chosen)[block]
    # then its cap is the largest block size within the budget
    assert 1 <= cap < model.BLOCK_CAP
    assert pairs[block] <= budget * n
    connection = connect()
    connection.register("recs", table)
    assert sum(k for s, _, k in _block_sizes(connection, block) if s <= cap + 1) > budget * n
    connection.close()
    # and identifiers keep theirs
    assert dict(chosen)[(("s_phone",), None)] == model.BLOCK_CAP


def test_block_sizes_count_the_pairs_the_block_gives(table: pa.Table) -> None:
    connection = connect()
    connection.register("recs", table)
    for block in [(("n_key", "c_district"), None), (("n_key", "c_city"), "c_district")]:
        for cap in (3, model.BLOCK_CAP):
            counted = sum(k for s, _, k in _block_sizes(connection, block) if s <= cap)
            sql = f"SELECT count(*) FROM (SELECT DISTINCT a, b FROM ({model._block_sql(block, cap)}))"
            assert counted == connection.execute(sql).fetchone()[0]  # type: ignore[index]
    connection.close()


def test_scoring_with_narrowed_blocks_compares_fewer_pairs(table: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = score_pairs(table, sample_pairs=20_000, note=lambda _: None)
    monkeypatch.setattr(model, "RECOVERY_PAIR_BUDGET", 0.0)
    monkeypatch.setattr(model, "PAIR_BUDGET", 0.2)
    fewer = score_pairs(table, sample_pairs=20_000, note=lambda _: None)
    assert 0 < fewer.total < everything.total
