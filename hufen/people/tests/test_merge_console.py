"""Console merge pages: HQ merges and unmerges; everyone else gets 403; absorbed ids redirect in scope."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from conftest import STAFF_ACTORS, World
from hufen.people.merge import person_merge
from hufen.people.models import Person, PersonMerge


@pytest.fixture
def login(world: World, client: Client) -> Callable[[str], Client]:
    def as_(name: str) -> Client:
        client.force_login(world.staff[name].user)
        return client

    return as_


def pk(world: World, key: str) -> int:
    return world.persons[key].pk


def test_hq_merges_through_the_confirmation_page_and_unmerges(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_operator")
    s, a = pk(world, "a1_owner"), pk(world, "a1_other")
    page = client.get(reverse("console:merge_start", args=[s]), {"q": "李娜"})
    assert page.status_code == 200 and reverse("console:merge_confirm", args=[s, a]) in page.content.decode()
    by_id = client.get(reverse("console:merge_start", args=[s]), {"q": str(a)}).content.decode()
    assert reverse("console:merge_confirm", args=[s, a]) in by_id
    confirm = client.get(reverse("console:merge_confirm", args=[s, a]))
    html = confirm.content.decode()
    assert confirm.status_code == 200
    assert "王*伟" in html and "李*" in html and "13912340001" not in html  # masked, side by side
    assert 'data-testid="merge-moves"' in html
    # a merge without a reason is refused on the page, and nothing is merged
    refused = client.post(reverse("console:merge_confirm", args=[s, a]), {"reason": " "})
    assert refused.status_code == 422 and not PersonMerge.objects.exists()
    done = client.post(reverse("console:merge_confirm", args=[s, a]), {"reason": "同一客户，电话核实"})
    assert done.status_code == 302 and done["Location"] == reverse("console:person_detail", args=[s])
    merge = PersonMerge.objects.get()
    assert merge.reason == "同一客户，电话核实" and merge.evidence["via"] == "console"
    detail = client.get(done["Location"]).content.decode()
    assert f"#{a}" in detail and 'data-testid="notice"' in detail
    history = client.get(reverse("console:person_merges", args=[s])).content.decode()
    assert f'data-testid="unmerge-{merge.pk}"' in history
    undone = client.post(reverse("console:merge_unmerge", args=[merge.pk]), {"reason": "误合并"})
    assert undone.status_code == 302 and undone["Location"] == reverse("console:person_detail", args=[a])
    assert Person.objects.get(pk=a).status == "active"


def test_absorbed_360_redirects_to_the_survivor_with_a_notice(world: World, login: Callable[[str], Client]) -> None:
    s, a = pk(world, "a1_owner"), pk(world, "a1_other")
    person_merge(
        actor=world.actor("hq_admin"),
        survivor=world.persons["a1_owner"],
        absorbed=world.persons["a1_other"],
        reason="同一人",
    )
    client = login("dealer_a1")
    response = client.get(reverse("console:person_detail", args=[a]))
    assert response.status_code == 302 and response["Location"] == reverse("console:person_detail", args=[s])
    page = client.get(response["Location"]).content.decode()
    assert "已合并" in page or "was merged into" in page
    # dealer B1 never saw either person: the old id is simply unknown to it
    assert login("dealer_b1").get(reverse("console:person_detail", args=[a])).status_code == 404


@pytest.mark.parametrize("name", [n for n in STAFF_ACTORS if n not in ("hq_admin", "hq_operator")])
def test_only_hq_may_use_the_merge_pages(world: World, login: Callable[[str], Client], name: str) -> None:
    client = login(name)
    s, a = pk(world, "a1_owner"), pk(world, "a1_other")
    merge = person_merge(
        actor=world.actor("hq_admin"),
        survivor=world.persons["b1_owner"],
        absorbed=world.persons["prospect"],
        reason="x",
    )
    for url in (
        reverse("console:merge_start", args=[s]),
        reverse("console:merge_confirm", args=[s, a]),
        reverse("console:person_merges", args=[s]),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("console:merge_confirm", args=[s, a]), {"reason": "x"}).status_code == 403
    assert client.post(reverse("console:merge_unmerge", args=[merge.pk])).status_code == 403
    assert PersonMerge.objects.filter(unmerged_at__isnull=True).count() == 1
    if name != "merchant":
        detail = client.get(reverse("console:person_detail", args=[s])).content.decode()
        assert 'data-testid="merges"' not in detail


def test_confirmation_shows_why_a_merge_is_impossible(world: World, login: Callable[[str], Client]) -> None:
    person_merge(
        actor=world.actor("hq_admin"),
        survivor=world.persons["a1_owner"],
        absorbed=world.persons["a1_other"],
        reason="x",
    )
    client = login("hq_admin")
    page = client.get(reverse("console:merge_confirm", args=[pk(world, "a2_owner"), pk(world, "a1_other")]))
    html = page.content.decode()
    assert 'data-testid="merge-error"' in html and "already merged" in html and 'data-testid="merge-form"' not in html
    assert client.get(reverse("console:merge_confirm", args=[pk(world, "a2_owner"), 10**9])).status_code == 404


def test_an_unmerge_that_must_wait_says_why(world: World, login: Callable[[str], Client]) -> None:
    admin = world.actor("hq_admin")
    first = person_merge(
        actor=admin, survivor=world.persons["a1_owner"], absorbed=world.persons["a1_other"], reason="x"
    )
    second = person_merge(
        actor=admin, survivor=world.persons["b1_owner"], absorbed=world.persons["a1_owner"], reason="y"
    )
    client = login("hq_admin")
    response = client.post(reverse("console:merge_unmerge", args=[first.pk]), {"reason": "误合并"}, follow=True)
    html = response.content.decode()
    assert "无法撤销合并" in html and f"undo merge {second.pk} first" in html
    first.refresh_from_db()
    assert first.unmerged_at is None
