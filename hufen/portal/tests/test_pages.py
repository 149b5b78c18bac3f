"""The card, points history and benefits pages of a signed-in member."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from conftest import World
from hufen.membership.models import PointsAccount, PointsEntry, PointsLot, Redemption
from hufen.membership.selectors import ledger_verify
from hufen.portal.tests.helpers import award, catalogue, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    cache.clear()


def test_card_shows_tier_balance_number_masked_name_and_vehicles(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 1_234, "visit-1")
    html = client.get("/m/").content.decode()
    assert member.number in html
    assert "陈*" in html and "陈静" not in html  # the name is masked
    assert "普通会员" in html and "1,234" in html
    assert "星河 S7" in html  # the owner's vehicle
    assert 'href="/m/memberday/"' in html and 'href="/m/perks/"' in html  # the other engineers' tabs
    assert 'aria-current="page"' in html


def test_car_key_fragment_renders_a_qr_and_the_six_digit_code(world: World) -> None:
    client, _ = signed_in_client(world)
    response = client.get("/m/card/key/", headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and 'data-testid="short-code"' in html
    assert 'hx-trigger="load delay:' in html  # refreshes itself before it expires
    assert response["Cache-Control"].count("no-store") == 1


def test_car_key_for_a_member_without_a_vehicle_explains_why(world: World) -> None:
    client, _ = signed_in_client(world, person="prospect")
    assert 'data-testid="no-vehicle"' in client.get("/m/").content.decode()
    html = client.get("/m/card/key/").content.decode()
    assert 'data-testid="car-key-error"' in html


def test_points_history_labels_signs_balance_and_brand_day(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 500, "visit-1")
    # 23:30 UTC is 07:30 the next day in Shanghai
    PointsEntry.objects.filter(idempotency_key="visit-1").update(
        created_at=dt.datetime(2026, 3, 14, 23, 30, tzinfo=dt.UTC)
    )
    items = catalogue(member)
    client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": "k1", "quantity": "1"})
    html = client.get("/m/points/").content.decode()
    assert "售后服务" in html and "权益兑换" in html
    assert "+500" in html and "-300" in html
    assert "2026-03-15 07:30" in html
    assert "余额 200" in html or "Balance 200" in html


def test_points_history_is_keyset_paged(world: World) -> None:
    client, member = signed_in_client(world)
    for i in range(25):
        award(member, 10 + i, f"visit-{i}")
    first = client.get("/m/points/").content.decode()
    assert first.count('data-testid="entry"') == 20
    newest = PointsEntry.objects.order_by("-id")[19]
    assert f"?before={newest.pk}" in first
    second = client.get(f"/m/points/?before={newest.pk}").content.decode()
    assert second.count('data-testid="entry"') == 5
    assert 'data-testid="older"' not in second
    assert client.get("/m/points/?before=abc").status_code == 200


def test_lots_expiring_soon_are_highlighted(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 800, "old")
    award(member, 100, "new")
    PointsLot.objects.filter(entry__idempotency_key="old").update(expires_at=timezone.now() + dt.timedelta(days=10))
    html = client.get("/m/points/").content.decode()
    assert 'data-testid="expiring"' in html and "800" in html.split('data-testid="expiring"')[1].split("</div>")[1]
    # and the award whose points expire is marked in the list, the fresh one is not
    entries = html.split('data-testid="entry"')[1:]
    marked = ["+800" in e for e in entries if 'data-testid="expiring-entry"' in e]
    assert marked == [True]


def test_catalogue_marks_locked_items_with_the_tier_needed(world: World) -> None:
    client, member = signed_in_client(world)
    catalogue(member)
    html = client.get("/m/benefits/").content.decode()
    assert "精洗一次" in html and "机场贵宾厅" in html
    lounge = html.split('data-code="lounge"')[1].split('data-testid="benefit"')[0]
    assert 'data-testid="locked"' in lounge and "金卡" in lounge
    assert 'data-testid="redeem"' not in lounge


def test_redeem_confirm_then_post_spends_once_even_on_double_tap(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 1_000, "visit-1")
    items = catalogue(member)
    page = client.get(f"/m/benefits/{items['wash'].pk}/redeem/").content.decode()
    assert 'name="idempotency_key"' in page
    key = page.split('name="idempotency_key" value="')[1].split('"')[0]
    for _ in range(2):
        response = client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": key, "quantity": "1"})
        assert response.status_code == 302 and response["Location"] == "/m/redemptions/"
    assert Redemption.objects.filter(member=member).count() == 1
    assert PointsAccount.objects.get(member=member).balance == 700
    items["wash"].refresh_from_db()
    assert items["wash"].stock == 49
    assert "精洗一次" in client.get("/m/redemptions/").content.decode()
    assert ledger_verify() == []


def _nothing_changed(member_id: int, balance: int, stock: dict[str, int]) -> None:
    assert PointsAccount.objects.get(member_id=member_id).balance == balance
    assert not Redemption.objects.filter(member_id=member_id).exists()
    from hufen.membership.models import BenefitItem

    for code, left in stock.items():
        assert BenefitItem.objects.get(code=code).stock == left


def test_redeem_beyond_balance_shows_a_clear_message_and_changes_nothing(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 200, "visit-1")
    items = catalogue(member)
    response = client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": "k1", "quantity": "1"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error"' in html and "300" in html and "200" in html
    _nothing_changed(member.pk, 200, {"wash": 50})


def test_redeem_beyond_stock_shows_a_clear_message_and_changes_nothing(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 5_000, "visit-1")
    items = catalogue(member)
    response = client.post(f"/m/benefits/{items['detail'].pk}/redeem/", {"idempotency_key": "k2", "quantity": "2"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error"' in html and ("仅剩 1" in html or "Only 1 left" in html)
    assert Redemption.objects.filter(member=member, item=items["detail"]).count() == 0
    items["detail"].refresh_from_db()
    assert items["detail"].stock == 1


@pytest.mark.parametrize("quantity", ["0", "-1", "11", "abc", ""])
def test_redeem_bad_quantity_is_refused(world: World, quantity: str) -> None:
    client, member = signed_in_client(world)
    award(member, 5_000, "visit-1")
    items = catalogue(member)
    response = client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": "k", "quantity": quantity})
    assert response.status_code == 400
    _nothing_changed(member.pk, 5_000, {"wash": 50})


def test_redeem_locked_item_is_refused(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 5_000, "visit-1")
    items = catalogue(member)
    page = client.get(f"/m/benefits/{items['lounge'].pk}/redeem/").content.decode()
    assert 'data-testid="blocked"' in page and "金卡" in page
    response = client.post(f"/m/benefits/{items['lounge'].pk}/redeem/", {"idempotency_key": "k", "quantity": "1"})
    assert response.status_code == 400 and "金卡" in response.content.decode()
    _nothing_changed(member.pk, 5_000, {"lounge": 10})


def test_redeem_without_key_is_refused(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 5_000, "visit-1")
    items = catalogue(member)
    response = client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"quantity": "1"})
    assert response.status_code == 400
    _nothing_changed(member.pk, 5_000, {"wash": 50})


def test_cancel_while_reserved_gives_points_and_stock_back(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 1_000, "visit-1")
    items = catalogue(member)
    client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": "k1", "quantity": "2"})
    redemption = Redemption.objects.get(member=member)
    assert client.get(f"/m/redemptions/{redemption.pk}/cancel/").status_code == 405
    response = client.post(f"/m/redemptions/{redemption.pk}/cancel/")
    assert response.status_code == 302
    redemption.refresh_from_db()
    assert redemption.status == "cancelled"
    assert PointsAccount.objects.get(member=member).balance == 1_000
    items["wash"].refresh_from_db()
    assert items["wash"].stock == 50
    html = client.get("/m/redemptions/").content.decode()
    assert 'data-testid="cancel"' not in html
    assert ledger_verify() == []


def test_fulfilled_redemption_cannot_be_cancelled(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 1_000, "visit-1")
    items = catalogue(member)
    client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": "k1", "quantity": "1"})
    Redemption.objects.filter(member=member).update(status="fulfilled")
    redemption = Redemption.objects.get(member=member)
    client.post(f"/m/redemptions/{redemption.pk}/cancel/")
    redemption.refresh_from_db()
    assert redemption.status == "fulfilled"
    assert PointsAccount.objects.get(member=member).balance == 700


def test_expired_session_during_an_htmx_refresh_sends_the_browser_to_sign_in(world: World) -> None:
    from hufen.portal.models import PortalSession

    client, _ = signed_in_client(world)
    PortalSession.objects.update(ended_at=timezone.now())
    response = client.get("/m/card/key/", headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/m/"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/m/login/?next=")


@pytest.mark.parametrize("url", ["/m/", "/m/points/", "/m/benefits/", "/m/redemptions/"])
def test_pages_keep_a_query_budget(world: World, url: str, django_assert_max_num_queries: object) -> None:
    client, member = signed_in_client(world)
    for i in range(30):
        award(member, 100, f"visit-{i}")
    items = catalogue(member)
    for i in range(5):
        client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": f"k{i}", "quantity": "1"})
    with django_assert_max_num_queries(8):  # type: ignore[operator]
        assert client.get(url).status_code == 200


def test_redemptions_are_keyset_paged(world: World) -> None:
    client, member = signed_in_client(world)
    award(member, 10_000, "visit-1")
    items = catalogue(member)
    for i in range(23):
        client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": f"k{i}", "quantity": "1"})
    first = client.get("/m/redemptions/").content.decode()
    assert first.count('data-testid="redemption"') == 20
    last_shown = Redemption.objects.filter(member=member).order_by("-id")[19].pk
    second = client.get(f"/m/redemptions/?before={last_shown}").content.decode()
    assert second.count('data-testid="redemption"') == 3 and 'data-testid="older"' not in second


def test_frozen_member_sees_the_card_but_cannot_redeem(world: World) -> None:
    from hufen.membership.models import Member

    client, member = signed_in_client(world)
    award(member, 1_000, "visit-1")
    items = catalogue(member)
    Member.objects.filter(pk=member.pk).update(status="frozen")
    assert "冻结" in client.get("/m/").content.decode()
    response = client.post(f"/m/benefits/{items['wash'].pk}/redeem/", {"idempotency_key": "k1", "quantity": "1"})
    assert response.status_code == 400 and "未激活" in response.content.decode()
    _nothing_changed(member.pk, 1_000, {"wash": 50})
