"""The demo's partner merchants: Territory Partner shops run by owners in the demo cities, a few
cross-industry partners, their perks, and the `merchant` demo login linked to the first shop.

A few dozen rows, so plain ORM writes; every credit code passes the GB 32100 validator. Idempotent:
a merchant is found again by its credit code, an offer by (merchant, title).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from hufen.demo.geo import CITIES
from hufen.membership.models import Member
from hufen.org.models import Brand, Staff
from hufen.partners.carkey import car_key_issue, car_key_verify
from hufen.partners.models import Merchant, MerchantOperator, Offer, PerkRedemption
from hufen.partners.offers import perk_redeem
from hufen.partners.selectors import actor_for_merchant_operator
from hufen.partners.validation import CREDIT_CHARSET, credit_check_char, normalize_credit_code
from hufen.portal.access import member_actor as portal_member_actor

# city key, latitude, longitude
CITY_POINTS = {
    "hangzhou": (30.274, 120.155),
    "shanghai": (31.230, 121.474),
    "ningbo": (29.868, 121.544),
    "nanjing": (32.060, 118.797),
    "suzhou": (31.299, 120.585),
    "beijing": (39.904, 116.407),
    "guangzhou": (23.129, 113.264),
    "shenzhen": (22.543, 114.058),
    "chengdu": (30.573, 104.066),
    "wuhan": (30.593, 114.305),
}

# name suffix, scenario, hours, (offer title, kind, percent/amount, item)
TERRITORY_SHOPS = (
    ("咖啡", "food", "周一至周日 08:00-21:00", ("车主到店饮品 9 折", "percent", 10, "")),
    ("面馆", "food", "周一至周日 10:00-21:30", ("车主满 50 减 8", "fixed", 800, "")),
    ("汽车美容", "mobility", "周一至周日 09:00-19:00", ("车主精洗送打蜡", "free_item", 0, "车身打蜡")),
    ("民宿", "housing", "全天", ("车主入住 85 折", "percent", 15, "")),
    ("健身工作室", "health", "周一至周日 07:00-22:00", ("车主体验课免费一节", "free_item", 0, "私教体验课")),
    ("亲子书店", "learning", "周二至周日 10:00-20:00", ("车主购书满 100 减 15", "fixed", 1_500, "")),
)
OWNER_NAMES = ("陈", "林", "王", "张", "刘", "周", "吴", "郑", "孙", "何")
SHOP_WORDS = ("晨光", "山野", "拾味", "青禾", "慢行", "南风", "有间", "半山", "向阳", "知行")
CROSS_INDUSTRY = (
    ("星驰加油", "星驰能源（上海）有限公司", "mobility", "shanghai", ("加油满 300 减 20", "fixed", 2_000, "")),
    ("悦途酒店", "悦途酒店管理（杭州）有限公司", "housing", "hangzhou", ("会员价再 9 折", "percent", 10, "")),
    ("影界影城", "影界影院投资（北京）有限公司", "entertainment", "beijing",
     ("观影送中杯爆米花", "free_item", 0, "中杯爆米花")),
    ("安途保险服务", "安途保险代理（广州）有限公司", "shopping", "guangzhou",
     ("车险咨询送道路救援", "free_item", 0, "道路救援一次")),
)  # fmt: skip
TERRITORY_COUNT = 20
PAST_REDEMPTIONS = 6


def credit_code(authority: str, division: str, serial: int) -> str:
    """A valid unified social credit code: authority/type, division code, organisation code, check."""
    rng = random.Random(f"hufen-demo-credit:{authority}:{division}:{serial}")
    org = "".join(rng.choice(CREDIT_CHARSET) for _ in range(9))
    first17 = f"{authority}{division}{org}"
    return normalize_credit_code(first17 + credit_check_char(first17))


def ensure_partners(today: dt.date) -> dict[str, int]:
    """Create the merchants, offers and the operator link that are missing; counts of what was created."""
    created = {"merchants": 0, "offers": 0, "operators": 0}
    brands = list(Brand.objects.order_by("id"))
    now = dt.datetime(today.year, today.month, today.day, 4, tzinfo=dt.UTC)
    cities = dict(CITIES)
    keys = [k for k in CITY_POINTS if k in cities]
    merchants: list[Merchant] = []
    for i in range(TERRITORY_COUNT):
        city = cities[keys[i % len(keys)]]
        suffix, scenario, hours, offer = TERRITORY_SHOPS[i % len(TERRITORY_SHOPS)]
        district = city.districts[i % len(city.districts)]
        owner = OWNER_NAMES[i % len(OWNER_NAMES)]
        name = f"{SHOP_WORDS[i % len(SHOP_WORDS)]}{suffix}"
        lat, lng = CITY_POINTS[city.key]
        merchant, new = _merchant(
            code=credit_code("92", district.code, i),  # 92: an individually-owned business (个体工商户)
            kind="territory",
            name=f"{name}（{district.name}店）",
            legal_name=f"{city.short}市{district.name}{owner}记{name}店",
            scenario=scenario,
            city=city,
            district=district.name,
            address=f"{district.name}文化路 {18 + i * 7} 号",
            point=(lat + (i % 5) * 0.004, lng - (i % 3) * 0.005),
            hours=hours,
            phone=f"+86138{(57_100_000 + i * 7_919) % 100_000_000:08d}",
            brands=brands[: 1 + i % 2],
        )
        created["merchants"] += new
        created["offers"] += _offer(merchant, offer, now)
        merchants.append(merchant)
    for j, (name, legal, scenario, key, offer) in enumerate(CROSS_INDUSTRY):
        city = cities[key]
        lat, lng = CITY_POINTS[key]
        merchant, new = _merchant(
            code=credit_code("91", city.districts[0].code, 100 + j),  # 91: a company
            kind="cross_industry",
            name=name,
            legal_name=legal,
            scenario=scenario,
            city=city,
            district=city.districts[0].name,
            address=f"{city.districts[0].name}世纪大道 {100 + j} 号",
            point=(lat, lng),
            hours="周一至周日 09:00-22:00",
            phone="",
            brands=brands,
        )
        created["merchants"] += new
        created["offers"] += _offer(merchant, offer, now)
    staff = Staff.objects.filter(user__username="merchant").first()
    if staff is not None and merchants and not MerchantOperator.objects.filter(staff=staff).exists():
        MerchantOperator.objects.create(staff=staff, merchant=merchants[0])
        created["operators"] += 1
    if staff is not None and merchants:
        created["perk_redemptions"] = _past_redemptions(staff, now)
    return created


def _past_redemptions(staff: Staff, now: dt.datetime) -> int:
    """A few perks given at the demo merchant over the last days, through the real car-key flow
    (issue, verify, redeem) at past instants. Idempotent by the redemption's idempotency key."""
    actor = actor_for_merchant_operator(staff)
    link = MerchantOperator.objects.select_related("merchant").get(staff=staff)
    merchant = link.merchant
    offer = merchant.offers.filter(active=True).order_by("id").first()
    if offer is None:
        return 0
    brand_ids = list(merchant.brands.values_list("id", flat=True))
    members = (
        Member.objects.filter(
            status="active",
            program__brand_id__in=brand_ids,
            person__ownerships__role="owner",
            person__ownerships__ended_at__isnull=True,
            person__ownerships__vehicle__model__brand_id__in=brand_ids,
        )
        .select_related("program__brand", "tier")
        .order_by("id")
        .distinct()[:PAST_REDEMPTIONS]
    )
    done = 0
    for i, member in enumerate(members):
        key = f"demo-perk-{member.pk}"
        if PerkRedemption.objects.filter(merchant=merchant, idempotency_key=key).exists():
            continue
        at = now - dt.timedelta(days=1 + i * 2, hours=i % 5)
        car_key = car_key_issue(actor=portal_member_actor(member), now=at)
        holder = car_key_verify(actor=actor, code=car_key.short_code, now=at + dt.timedelta(seconds=40))
        bill = 6_800 + 1_350 * i
        perk_redeem(
            actor=actor,
            key_id=holder.key_id,
            offer_id=offer.pk,
            bill_fen=bill,
            idempotency_key=key,
            now=at + dt.timedelta(seconds=90),
        )
        done += 1
    return done


def _merchant(
    *,
    code: str,
    kind: str,
    name: str,
    legal_name: str,
    scenario: str,
    city: object,
    district: str,
    address: str,
    point: tuple[float, float],
    hours: str,
    phone: str,
    brands: list[Brand],
) -> tuple[Merchant, int]:
    existing = Merchant.objects.filter(credit_code=code).exclude(status="rejected").first()
    if existing is not None:
        return existing, 0
    merchant = Merchant.objects.create(
        kind=kind,
        name=name,
        legal_name=legal_name,
        credit_code=code,
        scenario=scenario,
        province=getattr(city, "province", ""),
        city=getattr(city, "name", ""),
        district=district,
        address=address,
        latitude=Decimal(f"{point[0]:.6f}"),
        longitude=Decimal(f"{point[1]:.6f}"),
        opening_hours=hours,
        phone=phone,
        status="active",
        status_reason="演示数据：已审核通过",
    )
    merchant.brands.set(brands)
    return merchant, 1


def _offer(merchant: Merchant, spec: tuple[str, str, int, str], now: dt.datetime) -> int:
    title, kind, value, item = spec
    if Offer.objects.filter(merchant=merchant, title=title).exists():
        return 0
    Offer.objects.create(
        merchant=merchant,
        title=title,
        kind=kind,
        percent_off=value if kind == "percent" else None,
        amount_fen=value if kind == "fixed" else None,
        min_bill_fen=5_000 if kind == "fixed" else 0,
        max_discount_fen=5_000 if kind == "percent" else None,
        item_name=item,
        item_value_fen=3_000 if kind == "free_item" else None,
        per_owner_per_day=1,
        valid_from=now - dt.timedelta(days=60),
        valid_until=now + dt.timedelta(days=300),
    )
    return 1
