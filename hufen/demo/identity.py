"""ONE ID for the demo: source records behind a sample of persons, and a few gray-zone pairs.

The demo writes its persons in bulk, without the source record each of them came from, and online
linking only finds persons through their source records. So for every sampled person (one in
`SAMPLE_EVERY`, chosen by the person id and the demo seed) this module first stores the *origin*
record — the person's own data, from the system the person came from — exactly as
`identity_link_one` stores a first record that matched nobody, but attached to the existing person
instead of creating one (`identity_records_attach`). Then one or two
records from other sources, noisy the way Chinese customer data is (phone formats, traditional
characters, pinyin names, 王先生, missing fields, a new phone), go through `identity_link_one`, the
path `hufen identity ingest` uses, which decides, explains and writes them. Every
`AMBIGUOUS_EVERY`-th sampled person also gets a namesake in the same district with another phone
(a record the model cannot settle, so the review queue has pairs) and a relative on the same
household phone (another name on a shared phone: a contradiction, so a person of its own).

Source keys are derived from the person id, so a re-run finds every record already stored and
adds nothing; a larger demo adds records only for its new persons.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef
from opencc import OpenCC

from hufen.common.actors import SYSTEM
from hufen.common.names import name_syllables, split_surname
from hufen.demo import fakes
from hufen.identity.models import SourceRecord
from hufen.identity.services import RecordInput, identity_link_one, identity_records_attach
from hufen.people.models import Ownership, Person

SAMPLE_EVERY = 40  # one person in 40 gets source records
AMBIGUOUS_EVERY = 10  # one sampled person in 10 also gets a namesake and a household-phone record
MAX_SAMPLED = 2_500  # persons with records at most (the sample of 100,000 persons): keeps big demos quick
CHANGED_PHONE_BASE = 3_000_000_000  # fakes.mobile(n) above every number the population uses (2 * id + 1)
# Where the demo's persons came from (Person.source) → the source system of their origin record.
ORIGIN_SOURCE = {"dms": "dms", "app": "app", "wechat": "wechat"}  # lead, douyin, event ... → leads
OTHER_SOURCES = ("app", "wechat", "leads", "service", "dms")
# Names of the relatives on a household's phone (none is a demo surname + given name by design).
RELATIVES = ("李秀英", "张桂兰", "刘淑珍", "陈建国", "杨志强", "赵玉兰", "黄国华", "周凤英")
KEY_FORMAT = {
    "dms": "DMS{:09d}",
    "app": "U{:010d}",
    "wechat": "wx-{:09d}",
    "leads": "LD-{:09d}",
    "service": "RO-{:09d}",
}

_S2T = OpenCC("s2t")


@dataclass
class IdentityResult:
    persons: int = 0  # persons given source records by this run
    origin_records: int = 0
    decisions: Counter[str] = field(default_factory=Counter)  # of the records linked by identity_link_one

    def as_dict(self) -> dict[str, int]:
        out = {"identity_persons": self.persons, "identity_origin_records": self.origin_records}
        out.update({f"identity_{k}": v for k, v in sorted(self.decisions.items())})
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Sampled:
    pk: int
    name: str
    gender: str
    birth_date: dt.date | None
    phone: str
    email: str
    province: str
    city: str
    district: str
    address: str
    source: str
    created_at: dt.datetime
    vin: str


def ensure_identity(*, seed: int, today: dt.date) -> IdentityResult:
    """Source records for the sampled persons that have none yet (see the module docstring)."""
    result = IdentityResult()
    persons = list(_sampled(seed))
    if not persons:
        return result
    now = dt.datetime.combine(today, dt.time(8), dt.UTC)
    origins: list[tuple[Sampled, RecordInput]] = []
    linked: list[RecordInput] = []
    for person in persons:
        rng = random.Random(f"hufen-demo-identity:{seed}:{person.pk}")
        origin, others = _records(person, rng, now)
        origins.append((person, origin))
        linked += others
        if (person.pk // SAMPLE_EVERY) % AMBIGUOUS_EVERY == 1:
            linked += _gray_zone(person, rng, now)
    identity_records_attach(actor=SYSTEM, records=[(person.pk, origin) for person, origin in origins])
    result.persons = result.origin_records = len(origins)
    # Oldest first, as the records would have arrived.
    for record in sorted(linked, key=lambda r: (r.received_at or now, r.source, r.source_key)):
        outcome = identity_link_one(actor=SYSTEM, record=record)
        result.decisions[outcome.decision] += 1
    return result


def _sampled(seed: int) -> Iterator[Sampled]:
    """Active persons whose id falls on the seed's residue mod SAMPLE_EVERY and who have no source
    record yet (persons created by linking have one, and so has every person sampled before)."""
    residue = zlib.crc32(f"hufen-demo-identity:{seed}".encode()) % SAMPLE_EVERY
    on_residue = Person.objects.annotate(residue=F("id") % SAMPLE_EVERY).filter(residue=residue, status="active")
    with_records = Exists(SourceRecord.objects.filter(person_id=OuterRef("pk")))
    done = on_residue.filter(with_records).count()
    if done >= MAX_SAMPLED:
        return
    rows = list(
        on_residue.exclude(with_records)
        .order_by("id")
        .values_list(
            "id", "name", "gender", "birth_date", "phone", "email", "province", "city", "district", "address",
            "source", "created_at",
        )[: MAX_SAMPLED - done]
    )  # fmt: skip
    vins = dict(
        Ownership.objects.filter(person_id__in=[r[0] for r in rows], role="owner", ended_at__isnull=True)
        .order_by("delivered_at")
        .values_list("person_id", "vehicle__vin")
    )
    for row in rows:
        yield Sampled(*row, vin=vins.get(row[0]) or "")


# --- the records --------------------------------------------------------------------------------


def _records(person: Sampled, rng: random.Random, now: dt.datetime) -> tuple[RecordInput, list[RecordInput]]:
    """The person's origin record, and one or two records from other sources with their noise."""
    origin_source = ORIGIN_SOURCE.get(person.source, "leads")
    origin = _record(origin_source, person.pk, _origin_fields(origin_source, person), person.created_at)
    others = [s for s in OTHER_SOURCES if s != origin_source and (s != "service" or person.vin)]
    chosen = rng.sample(others, 2 if rng.random() < 0.5 else 1)
    # WeChat before the app: an app sign-in with WeChat then carries the unionid of a follower seen
    # before, and joins that follower (a person of its own when they gave no phone) to this one.
    chosen.sort(key=lambda s: s != "wechat")
    times = sorted(_between(rng, person.created_at, now) for _ in chosen)
    records = [
        _record(source, person.pk, _noisy_fields(source, person, rng), received)
        for source, received in zip(chosen, times, strict=True)
    ]
    return origin, records


def _record(source: str, pk: int, fields: dict[str, str], received: dt.datetime) -> RecordInput:
    return RecordInput(
        source=source,
        source_key=KEY_FORMAT[source].format(pk),
        fields={k: v for k, v in fields.items() if v},
        received_at=received,
    )


def _origin_fields(source: str, p: Sampled) -> dict[str, str]:
    """What the source system holds: the person's data as the demo generated it."""
    fields = {
        "name": p.name,
        "phone": p.phone,
        "gender": {"M": "男", "F": "女"}.get(p.gender, ""),
        "birth_date": p.birth_date.isoformat() if p.birth_date else "",
        "province": p.province,
        "city": p.city,
        "district": p.district,
        "address": p.address,
        "email": p.email,
    }
    if source == "dms":
        fields["vin"] = p.vin
    elif source == "app":
        fields["app_user_id"] = f"U{p.pk:010d}"
        fields["address"] = ""
    elif source == "wechat":
        fields.update(wechat_unionid=_unionid(p.pk), wechat_openid=_openid(p.pk), address="", email="")
    else:  # a lead form: name, phone and where, little else
        fields.update(birth_date="", address="", email="")
    return fields


def _noisy_fields(source: str, p: Sampled, rng: random.Random) -> dict[str, str]:
    """The same person as another system keeps them."""
    if source == "app":  # typed in by the owner: sometimes the pinyin name, the phone with spaces
        return {
            "name": _pinyin(p.name) if rng.random() < 0.4 else p.name,
            "phone": _spaced(p.phone) if rng.random() < 0.6 else p.phone[3:],
            "gender": p.gender,
            "birth_date": _chinese_date(p.birth_date) if p.birth_date and rng.random() < 0.5 else "",
            "city": p.city,
            "email": p.email if rng.random() < 0.5 else "",
            "app_user_id": f"U{p.pk:010d}",
            "wechat_unionid": _unionid(p.pk) if rng.random() < 0.5 else "",  # signed in with WeChat
        }
    if source == "wechat":  # a nickname-style real name, often in traditional characters
        return {
            "name": _S2T.convert(p.name) if rng.random() < 0.5 else p.name,
            "phone": _dashed(p.phone) if rng.random() < 0.7 else "",
            "gender": {"M": "1", "F": "2"}.get(p.gender, ""),
            "province": p.province,
            "city": p.city,
            "wechat_unionid": _unionid(p.pk),
            "wechat_openid": _openid(p.pk),
        }
    if source == "leads":  # a call-centre lead: surname and honorific only
        return {
            "name": split_surname(p.name)[0] + ("先生" if p.gender == "M" else "女士"),
            "phone": p.phone[3:],
            "city": p.city,
            "district": p.district if rng.random() < 0.5 else "",
        }
    if source == "service":  # a repair order: the car, and the phone the owner gives today
        changed = rng.random() < 0.5
        phone = fakes.mobile(CHANGED_PHONE_BASE + p.pk) if changed else p.phone
        return {
            "name": p.name,
            "phone": phone[3:],
            "vin": p.vin,
            "city": p.city,
            "district": p.district,
            "address": p.address if rng.random() < 0.3 else "",
        }
    # dms: the dealer's customer card for a person who came from elsewhere
    return {
        "name": p.name,
        "phone": f"+86-{p.phone[3:]}",
        "gender": "男" if p.gender == "M" else "女",
        "birth_date": p.birth_date.strftime("%Y/%m/%d") if p.birth_date else "",
        "province": p.province,
        "city": p.city,
        "district": p.district,
        "address": p.address,
        "vin": p.vin,
    }


def _gray_zone(p: Sampled, rng: random.Random, now: dt.datetime) -> list[RecordInput]:
    """Two hard records: the same name in the same district with another phone (a namesake, or the
    person with a new number? the review queue decides), and another name on the person's phone and
    home address (a relative using the household's number: a contradiction, kept apart)."""
    namesake = {
        "name": p.name,
        "phone": fakes.mobile(CHANGED_PHONE_BASE + 1_000_000_000 + p.pk)[3:],
        "gender": "先生" if p.gender == "M" else "女士",
        "birth_date": f"{p.birth_date.year}" if p.birth_date else "",
        "city": p.city,
        "district": p.district,
    }
    # Someone else on the household's phone at the person's address: the wife or a parent?
    relative = {"name": rng.choice(RELATIVES), "phone": _spaced(p.phone), "address": p.address}
    return [
        _record("leads", CHANGED_PHONE_BASE + p.pk, namesake, _between(rng, p.created_at, now)),
        _record("wechat", CHANGED_PHONE_BASE + p.pk, relative, _between(rng, p.created_at, now)),
    ]


def _between(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    span = max(0.0, (end - start).total_seconds())
    return start + dt.timedelta(seconds=int(rng.random() * span))


def _spaced(e164: str) -> str:
    """`+8613812345678` → `+86 138 1234 5678`."""
    n = e164[3:]
    return f"+86 {n[:3]} {n[3:7]} {n[7:]}"


def _dashed(e164: str) -> str:
    n = e164[3:]
    return f"{n[:3]}-{n[3:7]}-{n[7:]}"


def _chinese_date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _pinyin(name: str) -> str:
    """`王小伟` → `Xiaowei Wang`, as owners type it into an English-language form."""
    syllables = name_syllables(name)
    if len(syllables) < 2:
        return name
    return f"{''.join(syllables[1:]).title()} {syllables[0].title()}"


def _unionid(pk: int) -> str:
    return "o6_bmasdasdsad6_" + format(zlib.crc32(f"unionid:{pk}".encode()), "08x") + f"{pk:x}"


def _openid(pk: int) -> str:
    return "oWx1" + format(zlib.crc32(f"openid:{pk}".encode()), "08x") + f"{pk:x}"
