"""The demo's ONE ID records and consents: sampled persons have source records written and linked as
online linking would, the review queue has pairs, members have consents, and re-runs add nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Count

from hufen.demo.generate import generate_demo
from hufen.demo.identity import KEY_FORMAT, SAMPLE_EVERY
from hufen.identity.linking import fingerprint
from hufen.identity.models import BlockKey, Identifier, ReviewPair, SourceRecord
from hufen.membership.models import Member
from hufen.portal.models import ProgramConsent
from hufen.portal.terms import TERMS_VERSION

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)
PERSONS = 300
SEED = 7


@pytest.fixture
def demo() -> None:
    generate_demo(persons=PERSONS, seed=SEED, today=TODAY)


def _origins() -> list[SourceRecord]:
    """The first record of each sampled person: the one its person was created from."""
    return [r for r in SourceRecord.objects.filter(decision="new") if r.source_key == _key(r.source, r.person_id)]


def _key(source: str, person_id: int) -> str:
    return KEY_FORMAT[source].format(person_id)


def _state() -> dict[str, int]:
    return {
        "records": SourceRecord.objects.count(),
        "identifiers": Identifier.objects.count(),
        "block_keys": BlockKey.objects.count(),
        "pairs": ReviewPair.objects.count(),
        "consents": ProgramConsent.objects.count(),
    }


def test_sampled_persons_have_source_records_from_several_sources(demo: None) -> None:
    origins = [r for r in _origins() if r.person_id <= PERSONS]
    assert PERSONS // SAMPLE_EVERY <= len(origins) <= PERSONS // SAMPLE_EVERY + 1
    assert len({r.person_id % SAMPLE_EVERY for r in origins}) == 1, "one residue: a deterministic sample"
    several = 0
    for origin in origins:
        person = origin.person
        records = list(person.source_records.all())
        # The origin, and the noisy records that linked (a WeChat follower without a phone, say, is
        # a person of its own), and the gray-zone records that did.
        several += len({r.source for r in records}) >= 2
        assert origin.raw["name"] == person.name and origin.normalized["s_phone"] == person.phone
        # Stored as a link stores it: its fingerprint (an identical resend is a replay) and index rows.
        assert origin.fingerprint == fingerprint(origin.source, origin.source_key, origin.raw)
        assert Identifier.objects.filter(record=origin, kind="phone", value=person.phone, person=person).exists()
        assert BlockKey.objects.filter(record=origin, person=person).exists()
        assert origin.explanation["model"] and "thresholds" in origin.explanation
    assert several >= 0.7 * len(origins)


def test_noisy_records_are_linked_to_their_person_with_explanations(demo: None) -> None:
    linked = list(SourceRecord.objects.filter(decision="linked"))
    assert len(linked) >= PERSONS // SAMPLE_EVERY
    origin_of = {r.person_id: r for r in _origins()}
    rules = set()
    for record in linked:
        assert record.explanation["candidate"]["person_id"] and record.explanation["evidence"]
        assert record.score == 1.0 or record.score >= record.explanation["thresholds"]["merge"]
        rules.add(record.explanation["rule"])
    # Most noisy records land on the person their key names (the rest: a new phone, no phone ...).
    own = [r for r in linked if r.person_id in origin_of and r.source_key == _key(r.source, r.person_id)]
    assert len(own) >= 0.8 * len(linked)
    assert any("phone" in r for r in rules)
    raws = list(SourceRecord.objects.values_list("raw", flat=True))
    raw_names = {r.get("name", "") for r in raws}
    assert any(n.endswith(("先生", "女士")) for n in raw_names), "honorific-only lead names"
    assert any(n.isascii() for n in raw_names), "pinyin names"
    phones = {r.get("phone", "") for r in raws}
    assert any(p.startswith("+86 ") for p in phones) and any(len(p) == 11 for p in phones), "phone format variants"


def test_the_review_queue_has_gray_zone_pairs(demo: None) -> None:
    pairs = ReviewPair.objects.filter(status="open").select_related("record_a", "record_b")
    assert pairs.exists()
    for pair in pairs:
        assert pair.record_a.person_id != pair.record_b.person_id
        decision = {pair.record_a.decision, pair.record_b.decision}
        assert "review" in decision
        assert 0.5 <= pair.probability < 0.995 and pair.evidence


def test_every_member_has_a_consent_to_the_current_terms(demo: None) -> None:
    members = Member.objects.select_related("program").all()
    assert members.exists()
    consents = {(c.person_id, c.brand_id): c for c in ProgramConsent.objects.all()}
    assert len(consents) == ProgramConsent.objects.count() == members.count()
    for member in members:
        consent = consents[(member.person_id, member.program.brand_id)]
        assert consent.terms_version == TERMS_VERSION and len(consent.terms_digest) == 64
        assert consent.accepted_at == member.joined_at
        assert consent.channel == ("api" if member.channel == "app" else "h5")
    assert ProgramConsent.objects.filter(marketing=True).exists()
    assert ProgramConsent.objects.filter(marketing=False).exists()
    assert ProgramConsent.objects.values("terms_digest").annotate(n=Count("id")).count() <= 2  # one per brand


def test_a_second_run_adds_nothing(demo: None) -> None:
    before = _state()
    generate_demo(persons=PERSONS, seed=SEED, today=TODAY)
    assert _state() == before


def test_a_larger_run_adds_only_the_new_sample(demo: None) -> None:
    before = {r.pk: (r.person_id, r.fingerprint) for r in SourceRecord.objects.all()}
    generate_demo(persons=PERSONS + 200, seed=SEED, today=TODAY)
    after = {r.pk: (r.person_id, r.fingerprint) for r in SourceRecord.objects.filter(pk__in=before)}
    assert after == before, "earlier records untouched"
    new_origins = [r for r in _origins() if r.person_id > PERSONS and r.pk not in before]
    assert len(new_origins) >= 200 // SAMPLE_EVERY
    assert ProgramConsent.objects.count() == Member.objects.count()
