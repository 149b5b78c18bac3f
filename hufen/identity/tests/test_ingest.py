"""`hufen identity ingest FILE --source dms` and `hufen identity train`."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from hufen.identity.models import ModelParameters, SourceRecord
from hufen.people.models import Person

pytestmark = pytest.mark.django_db

GOOD = """record_id,name,phone,gender,birth_date,city,extra
D-1,王小伟,138-1234-5678,男,1985-03-02,杭州市,ignored
D-2,王先生,+86 138 1234 5678,,,,
D-3,李秀英,13912340001,女,1979年5月1日,上海市,
"""


def ingest(path: Path, *args: str) -> tuple[dict[str, Any], int]:
    out = io.StringIO()
    code = 0
    try:
        call_command(
            "identity", "ingest", str(path), "--source", "dms", "--json", *args, stdout=out, stderr=io.StringIO()
        )
    except SystemExit as exc:
        code = int(exc.code or 0)
    return json.loads(out.getvalue()), code


def test_ingest_links_a_file_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "dms.csv"
    path.write_text(GOOD, encoding="gb18030")  # a DMS export in GBK
    summary, code = ingest(path)
    assert code == 0 and summary["applied"]
    assert summary["rows"] == 3 and summary["decisions"] == {"new": 2, "linked": 1}
    assert summary["persons_created"] == 2 == Person.objects.count()
    assert SourceRecord.objects.get(source_key="D-2").person_id == SourceRecord.objects.get(source_key="D-1").person_id
    again, code = ingest(path)
    assert code == 0 and again["unchanged"] == 3 and again["decisions"] == {}
    assert SourceRecord.objects.count() == 3 and Person.objects.count() == 2


def test_a_file_with_a_bad_row_writes_nothing_unless_told_to_skip(tmp_path: Path) -> None:
    path = tmp_path / "dms.csv"
    path.write_text(GOOD + "D-4,,,,,,\nD-1,重复,13700000000,,,,\nD-5,多,列,,,,,,\n", encoding="utf-8")
    summary, code = ingest(path)
    assert code == 1 and not summary["applied"]
    assert [(e["row"], e["field"]) for e in summary["errors"]] == [(5, "fields"), (6, "record_id"), (7, "")]
    assert "duplicate 'D-1' (first on row 2)" in summary["errors"][1]["reason"]
    assert not SourceRecord.objects.exists() and not Person.objects.exists()
    # with --skip-bad-rows the three good rows link and the bad ones are still reported
    summary, code = ingest(path, "--skip-bad-rows")
    assert code == 1 and summary["applied"] and summary["rejected"] == 3
    assert SourceRecord.objects.count() == 3


def test_a_file_without_record_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dms.csv"
    path.write_text("name,phone\n王伟,13812345678\n", encoding="utf-8")
    with pytest.raises(CommandError, match="column record_id missing"):
        call_command("identity", "ingest", str(path), "--source", "dms", "--no-progress")
    assert not SourceRecord.objects.exists()


def test_train_stores_weights_that_online_linking_then_uses(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("identity", "train", "--synthetic", "2000", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    stored = ModelParameters.objects.get(pk=summary["model_id"])
    assert stored.records == 2000
    names = [c["name"] for c in stored.parameters["comparisons"]]
    assert {"name", "d_birth_date", "place", "s_phone"} <= set(names)
    for comparison in stored.parameters["comparisons"]:
        assert all(0 < level["m"] <= 1 and 0 < level["u"] <= 1 for level in comparison["levels"])
    path = tmp_path / "dms.csv"
    path.write_text(GOOD, encoding="utf-8")
    ingest(path)
    assert SourceRecord.objects.get(source_key="D-1").explanation["model"] == f"db:{stored.pk}"
