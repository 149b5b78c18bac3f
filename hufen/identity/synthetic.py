"""Noisy multi-source Chinese customer records with known truth, for tests and the benchmark.

Each person yields one to four records from DMS, app, WeChat, lead and service systems, with the
variations real exports show: traditional characters, pinyin in either order, honorific-only lead
names, homophone typos, phone formats, changed phones, date formats, lower-case x, missing fields,
couples sharing one phone and many namesakes (王伟) in the same cities.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from opencc import OpenCC

from hufen.common.names import name_syllables
from hufen.common.pii import id_check_char, vin_check_digit
from hufen.demo.geo import CITIES
from hufen.identity.places import canonical_province

COLUMNS = [
    "record_id",
    "source",
    "name",
    "phone",
    "email",
    "id_number",
    "birth_date",
    "gender",
    "province",
    "city",
    "district",
    "address",
    "wechat_unionid",
    "vin",
]
_S2T = OpenCC("s2t")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"


def _words(text: str) -> list[str]:
    return text.split()


GIVEN_M = [
    *"伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩",
    *_words("志强 建华 建国 俊杰 子轩 浩然 宇航 文博 家豪 晓东 海波 国栋"),
]
GIVEN_F = [
    *"芳娜敏静丽艳娟霞婷雪琳颖倩洁玲萍红燕丹晶",
    *_words("秀英 桂英 晓燕 欣怡 梓涵 诗涵 雨欣 佳怡 海燕 丽娟 美玲 春梅"),
]
# Same pinyin, other character: the typo a call-centre agent makes when typing by sound.
HOMOPHONES = dict(zip("伟强军杰涛明华芳娜丽婷琳燕晶敏宇浩", "玮墙君洁韬铭桦方纳莉亭林艳精民雨昊", strict=True))
SOURCES = ["dms", "app", "wechat", "lead", "service", "merchant"]
_PREFIXES = ["138", "139", "136", "135", "150", "151", "158", "186", "187", "188", "177", "199", "133", "153"]


def _phone(rng: random.Random) -> str:
    return rng.choice(_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _id_number(rng: random.Random, region: str, birth: dt.date, gender: str) -> str:
    seq = rng.randrange(0, 100) * 10 + (rng.choice([1, 3, 5, 7, 9]) if gender == "M" else rng.choice([0, 2, 4, 6, 8]))
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + id_check_char(first17)


def _vin(rng: random.Random) -> str:
    alphabet = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    body = "LSV" + "".join(rng.choice(alphabet) for _ in range(14))
    return body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]


def _persons(rng: random.Random, n: int) -> list[dict[str, str]]:
    cities = list(CITIES.values())
    people: list[dict[str, str]] = []
    while len(people) < n:
        gender = rng.choice("MF")
        if rng.random() < 0.03:
            name = "王伟" if gender == "M" else "王芳"  # the famous namesakes
        else:
            name = rng.choice(SURNAMES) + rng.choice(GIVEN_M if gender == "M" else GIVEN_F)
        city = rng.choice(cities)
        district = rng.choice(city.districts)
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
        person = {
            "name": name,
            "gender": gender,
            "birth": birth.isoformat(),
            "province": city.province,
            "city": city.name,
            "district": district.name,
            "address": f"{rng.choice('人民解放建设中山和平')}路{rng.randrange(1, 999)}号{rng.randrange(1, 30)}栋",
            "phone": _phone(rng),
            "id_number": _id_number(rng, district.code, birth, gender),
            "email": f"u{rng.randrange(10**9)}@{rng.choice(['qq.com', '163.com', '126.com'])}",
            "wechat": f"oUnion{rng.randrange(10**12):012d}",
            "vin": _vin(rng),
        }
        people.append(person)
        if rng.random() < 0.15 and len(people) < n:
            # A spouse: other gender, same home, registered on the same phone.
            spouse_gender = "F" if gender == "M" else "M"
            spouse_birth = birth + dt.timedelta(days=rng.randrange(-1500, 1500))
            spouse = dict(person)
            spouse.update(
                name=rng.choice(SURNAMES) + rng.choice(GIVEN_F if spouse_gender == "F" else GIVEN_M),
                gender=spouse_gender,
                birth=spouse_birth.isoformat(),
                id_number=_id_number(rng, district.code, spouse_birth, spouse_gender),
                email=f"u{rng.randrange(10**9)}@qq.com",
                wechat=f"oUnion{rng.randrange(10**12):012d}",
                vin=_vin(rng),
            )
            people.append(spouse)
    return people


def _name_variant(rng: random.Random, person: dict[str, str], source: str) -> str:
    name, roll = person["name"], rng.random()
    if source == "lead" and roll < 0.3:
        return name[0] + ("先生" if person["gender"] == "M" else "女士")
    if roll < 0.1:
        return str(_S2T.convert(name))
    if roll < 0.18:
        sur, *given = name_syllables(name)
        first, last = sur.capitalize(), "".join(given).capitalize()
        return rng.choice([f"{first} {last}", f"{last} {first}", f"{first.upper()} {last.lower()}"])
    if roll < 0.24 and name[-1] in HOMOPHONES:
        return name[:-1] + HOMOPHONES[name[-1]]
    if roll < 0.27:
        return f" {name[0]} {name[1:]} "
    return name


def _phone_variant(rng: random.Random, phone: str) -> str:
    return rng.choice(
        [
            phone,
            phone,
            f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}",
            f"86-{phone}",
            f"{phone[:3]}-{phone[3:7]}-{phone[7:]}",
        ]
    )


def _gender_variant(rng: random.Random, gender: str) -> str:
    return rng.choice(["男", "M"]) if gender == "M" else rng.choice(["女", "F"])


def _date_variant(rng: random.Random, iso: str) -> str:
    d = dt.date.fromisoformat(iso)
    return rng.choice([iso, f"{d.year}年{d.month}月{d.day}日", f"{d.year}/{d.month}/{d.day}", f"{d:%Y%m%d}"])


def _record(rng: random.Random, person: dict[str, str], rid: str) -> dict[str, str]:
    source = rng.choice(SOURCES)
    keep = rng.random
    id_number = person["id_number"] if source in {"dms", "service"} and keep() < 0.7 else ""
    if id_number.endswith("X") and keep() < 0.5:
        id_number = id_number.lower()
    phone = person["phone"] if keep() < 0.85 else (_phone(rng) if keep() < 0.5 else "")  # changed or missing
    address = person["address"]
    province, city, district = person["province"], person["city"], person["district"]
    if keep() < 0.3:
        # The place only inside the address, sometimes without suffixes.
        prov = province.removesuffix("省") if keep() < 0.5 else province
        address = f"{prov}{city}{district}{address}" if prov != city else f"{city}{district}{address}"
        province = city = district = ""
    return {
        "record_id": rid,
        "source": source,
        "name": _name_variant(rng, person, source),
        "phone": _phone_variant(rng, phone) if phone else "",
        "email": person["email"] if keep() < 0.25 else "",
        "id_number": id_number,
        "birth_date": _date_variant(rng, person["birth"]) if keep() < 0.6 else "",
        "gender": _gender_variant(rng, person["gender"]) if keep() < 0.5 else "",
        "province": canonical_province(province) if province else "",
        "city": city,
        "district": district,
        "address": address if keep() < 0.6 else "",
        "wechat_unionid": person["wechat"] if source in {"wechat", "app"} and keep() < 0.8 else "",
        "vin": person["vin"] if source in {"dms", "service"} and keep() < 0.5 else "",
    }


def generate(n_records: int, seed: int = 2026) -> Iterator[tuple[dict[str, str], int]]:
    """Yield (record, true person index) until n_records; record ids are zero-padded and shuffled."""
    rng = random.Random(seed)
    people = _persons(rng, max(1, int(n_records / 1.9)))
    ids = list(range(n_records))
    rng.shuffle(ids)
    made = 0
    for index, person in enumerate(people):
        for _ in range(min(1 + int(rng.expovariate(1.1)), 4)):
            if made == n_records:
                return
            yield _record(rng, person, f"R{ids[made]:09d}"), index
            made += 1
    while made < n_records:  # top up with singletons if the draw fell short
        index = rng.randrange(len(people))
        yield _record(rng, people[index], f"R{ids[made]:09d}"), index
        made += 1


def pairwise_scores(truth: list[int], predicted: list[str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering against the true persons."""
    from collections import Counter

    def pairs(counts: Counter[object]) -> int:
        return sum(c * (c - 1) // 2 for c in counts.values())

    true_pairs = pairs(Counter(truth))
    found = pairs(Counter(predicted))
    correct = pairs(Counter(zip(truth, predicted, strict=True)))
    precision = correct / found if found else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5)}


# --- large files, streamed -------------------------------------------------------------------------

STREAM_CHUNK = 200_000  # records per independently seeded chunk


def generate_stream(n_records: int, seed: int = 2026) -> Iterator[tuple[dict[str, str], int]]:
    """`generate` for files too large to hold: persons are drawn chunk by chunk (each chunk with its
    own seeded generator), so memory stays bounded by one chunk. Same kinds of records and noise as
    `generate`, not the same draws; record ids are still a shuffled, zero-padded 0..n-1."""
    import numpy as np

    ids = np.random.default_rng(seed).permutation(n_records).astype(np.int64)
    width = max(9, len(str(n_records - 1)))
    made = 0
    person_base = 0
    chunk = 0
    while made < n_records:
        size = min(STREAM_CHUNK, n_records - made)
        rng = random.Random(f"{seed}:{chunk}")
        people = _persons(rng, max(1, int(size / 1.9)))
        chunk_made = 0
        for index, person in enumerate(people):
            for _ in range(min(1 + int(rng.expovariate(1.1)), 4)):
                if chunk_made == size:
                    break
                yield _record(rng, person, f"R{int(ids[made]):0{width}d}"), person_base + index
                made += 1
                chunk_made += 1
        while chunk_made < size:
            index = rng.randrange(len(people))
            yield _record(rng, people[index], f"R{int(ids[made]):0{width}d}"), person_base + index
            made += 1
            chunk_made += 1
        person_base += len(people)
        chunk += 1


def pairwise_scores_arrays(truth: Any, predicted: Any) -> dict[str, float]:
    """`pairwise_scores` for millions of records: the same figures, counted with numpy."""
    import numpy as np
    import pandas as pd

    t = pd.factorize(np.asarray(truth))[0].astype(np.int64)
    p = pd.factorize(np.asarray(predicted))[0].astype(np.int64)

    def pairs(codes: Any) -> int:
        counts = np.bincount(codes).astype(np.int64)
        return int((counts * (counts - 1) // 2).sum())

    true_pairs, found = pairs(t), pairs(p)
    correct = pairs(pd.factorize(t * (int(p.max(initial=0)) + 1) + p)[0])
    precision = correct / found if found else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 5), "recall": round(recall, 5), "f1": round(f1, 5)}
