"""The bounded-memory batch path gives exactly what the all-at-once path gives: the file read and
normalised in chunks, candidate pairs compared in chunks and kept only when likely, the large-file
generator and the numpy pairwise scores."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from hufen.identity import batch, synthetic
from hufen.identity import model as model_module
from hufen.identity.batch import InputError, read_frame, read_prepared, resolve_file
from hufen.identity.matching import resolve
from hufen.identity.model import _distinct, _distinct_counted, _Patterns, score_pairs
from hufen.identity.prepare import prepare_frame
from hufen.identity.schema import DEFAULT_SCHEMA
from hufen.identity.synthetic import COLUMNS, generate, generate_stream, pairwise_scores, pairwise_scores_arrays


def _write(path: Path, records: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(records)
    return path


def _plain(table: pa.Table) -> list[dict[str, object]]:
    return table.drop_columns(["uid"]).to_pylist()


@pytest.mark.parametrize(("encoding", "in_process_below"), [("utf-8", 1 << 30), ("utf-8-sig", 0), ("gb18030", 0)])
def test_chunked_reading_and_normalising_equals_the_whole_file_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, in_process_below: int
) -> None:
    # given a file of 250 generated records
    path = _write(tmp_path / "in.csv", [r for r, _ in generate(250, seed=5)], encoding)
    # when read and normalised 40 records at a time (in this process, or in forked workers)
    monkeypatch.setattr(batch, "IN_PROCESS_BELOW", in_process_below)
    chunked = read_prepared(path, DEFAULT_SCHEMA, chunk=40)
    # then every prepared value equals reading the whole file and normalising it at once
    whole = pa.Table.from_pandas(prepare_frame(read_frame(path, DEFAULT_SCHEMA), DEFAULT_SCHEMA), preserve_index=False)
    assert chunked.num_rows == 250
    assert _plain(chunked) == _plain(whole)


def test_chunked_reading_names_a_duplicate_in_a_later_chunk(tmp_path: Path) -> None:
    records = [r for r, _ in generate(120, seed=5)]
    records[100] = records[100] | {"record_id": records[3]["record_id"]}
    path = _write(tmp_path / "in.csv", records)
    with pytest.raises(InputError, match=rf"row 102, column record_id: duplicate '{records[3]['record_id']}'"):
        read_prepared(path, DEFAULT_SCHEMA, chunk=40)
    records[100] = records[100] | {"record_id": "  "}
    _write(path, records)
    with pytest.raises(InputError, match="row 102, column record_id: is empty"):
        read_prepared(path, DEFAULT_SCHEMA, chunk=40)


def test_reading_checks_the_encoding_block_by_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch, "SCAN_BLOCK", 7)  # a character split across blocks must still decode
    path = tmp_path / "in.csv"
    path.write_bytes("record_id,name\nr1,王伟\nr2,李娜\n".encode())
    assert read_prepared(path, DEFAULT_SCHEMA).column("n_full").to_pylist() == ["王伟", "李娜"]
    data = "record_id,name\nr1,王伟\n".encode() + b"r2,\xff\xfe\n"
    path.write_bytes(data)
    with pytest.raises(UnicodeDecodeError) as whole:
        data.decode("utf-8")
    assert whole.value.start == 28  # the position the whole-file decode reports, counted the same way
    with pytest.raises(InputError, match=r"not UTF-8 \(byte 28\) nor GB18030"):
        read_prepared(path, DEFAULT_SCHEMA)
    path.write_bytes(b" \n \n")
    with pytest.raises(InputError, match="the file is empty"):
        read_prepared(path, DEFAULT_SCHEMA)


def test_keeping_only_likely_pairs_keeps_exactly_those_of_scoring_all(monkeypatch: pytest.MonkeyPatch) -> None:
    # given 1,500 prepared records, compared 500 candidate pairs at a time
    monkeypatch.setattr(model_module, "PAIR_CHUNK", 500)
    frame = prepare_frame([r for r, _ in generate(1500, seed=9)], DEFAULT_SCHEMA)
    everything = score_pairs(frame, sample_pairs=20_000, note=lambda _: None)
    likely = score_pairs(frame, sample_pairs=20_000, note=lambda _: None, keep_above=0.5)
    # then the kept pairs are exactly the pairs of probability >= 0.5, with the same weights
    keep = everything.probability >= 0.5
    assert 0 < keep.sum() < len(keep)
    assert likely.total == everything.total == len(everything.a)
    np.testing.assert_array_equal(likely.a, everything.a[keep])
    np.testing.assert_array_equal(likely.b, everything.b[keep])
    np.testing.assert_array_equal(likely.gammas, everything.gammas[keep])
    np.testing.assert_array_equal(likely.weight, everything.weight[keep])
    # and the pairs come in order, each once
    keys = everything.a.astype(np.int64) * len(frame) + everything.b
    assert (np.diff(keys) > 0).all()


@pytest.mark.parametrize("width", [4, 20])
def test_counted_patterns_equal_the_patterns_of_every_pair(width: int) -> None:
    rng = np.random.default_rng(width)
    rows = rng.integers(-1, 3, size=(5000, width)).astype(np.int8)
    rows[:, 3:] = 0  # few distinct rows
    patterns = _Patterns(width)
    numbers = np.concatenate([patterns.number(rows[:2000]), patterns.number(rows[2000:])])
    table = patterns.table()
    np.testing.assert_array_equal(table[numbers], rows)
    counts = np.bincount(numbers, minlength=len(table)).astype(float)
    expected = _distinct(rows)
    got = _distinct_counted(table, counts)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_numpy_pairwise_scores_equal_the_counted_ones() -> None:
    rng = random.Random(4)
    truth = [rng.randrange(300) for _ in range(2000)]
    predicted = [f"p{t // 2}" if rng.random() < 0.7 else f"q{rng.randrange(900)}" for t in truth]
    assert pairwise_scores_arrays(np.array(truth), np.array(predicted)) == pairwise_scores(truth, predicted)


def test_streamed_generator_is_reproducible_and_spans_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "STREAM_CHUNK", 300)
    first = list(generate_stream(1000, seed=3))
    assert first == list(generate_stream(1000, seed=3))
    ids = [r["record_id"] for r, _ in first]
    assert len(set(ids)) == 1000 and sorted(ids) == [f"R{i:09d}" for i in range(1000)]
    persons = pd.Series([p for _, p in first])
    assert persons.nunique() > 400 and (persons.value_counts() <= 4).mean() > 0.95
    # persons of different chunks never share a number
    chunk_of = np.repeat(np.arange(4), [300, 300, 300, 100])
    assert pd.DataFrame({"p": persons, "c": chunk_of}).groupby("p")["c"].nunique().max() == 1


def test_file_resolution_writes_what_resolve_returns(tmp_path: Path) -> None:
    records = [r for r, _ in generate(800, seed=12)]
    path = _write(tmp_path / "in.csv", records)
    result = resolve_file(path, tmp_path / "out.csv", review_path=tmp_path / "review.csv")
    expected = resolve(records, DEFAULT_SCHEMA)
    assert result.person_ids == expected.person_ids and result.scores == expected.scores
    written = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert written["record_id"].tolist() == [r["record_id"] for r in records]
    assert written["person_id"].tolist() == expected.person_ids
    assert written["score"].tolist() == [f"{s:.6f}" if s is not None else "" for s in expected.scores]
    assert result.stats["candidate_pairs_scored"] >= len(expected.review)
