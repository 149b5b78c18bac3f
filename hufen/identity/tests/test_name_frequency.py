"""The online name-frequency adjustment: a common name agreeing is weaker evidence than a rare one,
and the counts it reads follow the records as they arrive."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from hufen.common.actors import SYSTEM
from hufen.identity.linking import MIN_NAMED_RECORDS, active_model
from hufen.identity.models import NameFrequency, SourceRecord
from hufen.identity.services import RecordInput, identity_link_one, identity_name_counts_rebuild
from hufen.people.models import Person

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    rows = NameFrequency.objects.values("name").annotate(n=Sum("records")).values_list("name", "n")
    return {name: n for name, n in rows if n}


def link(source: str, key: str, **fields: str) -> Any:
    return identity_link_one(actor=SYSTEM, record=RecordInput(source=source, source_key=key, fields=fields))


def background(total: int, common: dict[str, int]) -> None:
    """`total` stored records with a name (no index rows: never candidates), `common` of them with
    the given names, the rest with names of their own; then the counts are taken from them."""
    person = Person.objects.create(name="背景", source="test")
    names = [name for name, n in common.items() for _ in range(n)]
    names += [f"路人{i}" for i in range(total - len(names))]
    now = timezone.now()
    SourceRecord.objects.bulk_create(
        [
            SourceRecord(
                source="bg",
                source_key=str(i),
                normalized={"n_full": name},
                fingerprint="-",
                received_at=now,
                person=person,
                decision="new",
            )
            for i, name in enumerate(names)
        ],
        batch_size=2000,
    )
    assert identity_name_counts_rebuild() == len(set(names))


def test_counts_follow_the_records_as_they_arrive_and_change() -> None:
    link("dms", "1", name="王伟", phone="13800000001")
    link("app", "2", name="王 伟", phone="13800000002")  # the same name, normalised
    link("app", "3", name="李娜", phone="13800000003")
    link("app", "4", phone="13800000004")  # no name: not counted at all
    assert counts() == {"王伟": 2, "李娜": 1, "": 3}
    # when record 3 is re-sent under another name, its count moves with it
    link("app", "3", name="王伟", phone="13800000003")
    assert counts() == {"王伟": 3, "": 3}
    # and a recount from the stored records agrees with the running counts
    before = counts()
    identity_name_counts_rebuild()
    assert counts() == before


def test_a_common_name_weighs_less_than_a_rare_one() -> None:
    # given 20,000 stored named records, 2,000 of them 王伟 and one 欧阳娜娜
    background(20000, {"王伟": 2000, "欧阳娜娜": 1})
    model = active_model(None)
    assert model.name_u is not None
    level = next(c for c in model_parameters()["comparisons"] if c["name"] == "name")["levels"][0]
    plain = math.log2(level["m"] / level["u"])
    same = {"birth_date": "1985-03-02", "city": "杭州市", "district": "西湖区"}
    # when each name arrives twice with the same birth date and district
    link("dms", "w1", name="王伟", **same)
    common = link("app", "w2", name="王伟", **same)
    link("dms", "o1", name="欧阳娜娜", **same)
    rare = link("app", "o2", name="歐陽娜娜", **same)
    # then the name agreement of 王伟 weighs less than the model's average, that of 欧阳娜娜 more
    common_name, rare_name = common.explanation["evidence"]["name"], rare.explanation["evidence"]["name"]
    assert common_name["frequency_weight"] < 0 < rare_name["frequency_weight"]
    assert common_name["match_weight"] < round(plain, 2) < rare_name["match_weight"]
    # tf = (2,002 + 1,000 u) / (20,002 + 1,000) for 王伟: its Bayes factor is m / tf
    tf = (2000 + 1 + 1 + 1000 * model.name_u) / (20000 + 1 + 1 + 1000)
    assert common_name["name_frequency"] == pytest.approx(tf, rel=1e-4)
    assert common_name["match_weight"] == pytest.approx(math.log2(level["m"] / tf), abs=0.02)
    # and the whole pair is less likely one person
    assert common.explanation["probability"] < rare.explanation["probability"]
    assert rare.decision == "linked"


def test_a_small_store_keeps_the_models_average() -> None:
    # with fewer named records than the threshold, frequencies are not estimated
    background(MIN_NAMED_RECORDS // 2, {"王伟": 100})
    same = {"birth_date": "1985-03-02", "city": "杭州市", "district": "西湖区"}
    link("dms", "w1", name="王伟", **same)
    pair = link("app", "w2", name="王伟", **same)
    assert "frequency_weight" not in pair.explanation["evidence"]["name"]


def model_parameters() -> dict[str, Any]:
    from hufen.identity.weights import load_default

    return load_default()
