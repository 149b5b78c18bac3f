"""Who gets into the console: login, logout, the no-access page, and the menu each role sees."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from conftest import STAFF_ACTORS, World

CONSOLE_ROLES = [name for name in STAFF_ACTORS if name != "merchant"]


def console_urls(world: World) -> list[str]:
    person = world.persons["a1_owner"].pk
    return [
        reverse("console:home"),
        reverse("console:person_list"),
        reverse("console:person_export"),
        reverse("console:person_detail", args=[person]),
        reverse("console:dealer_list"),
        reverse("console:dealer_detail", args=["A1"]),
    ]


def test_anonymous_is_sent_to_login(world: World, client: Client) -> None:
    for url in console_urls(world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("console:login") + "?next=")


def test_anonymous_htmx_request_redirects_the_whole_page(world: World, client: Client) -> None:
    response = client.get(reverse("console:person_list"), {"q": "wxw"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("console:login") + "?next=")


def test_anonymous_reveal_is_sent_to_login_and_reveals_nothing(world: World, client: Client) -> None:
    url = reverse("console:person_reveal", args=[world.persons["a1_owner"].pk, "phone"])
    response = client.post(url)
    assert response.status_code == 302
    assert b"13812345678" not in response.content


def test_login_page_renders_in_chinese_with_tabler(client: Client, db: None) -> None:
    response = client.get(reverse("console:login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="zh-hans">' in html
    assert "登录您的账户" in html
    assert "/static/vendor/tabler/css/tabler.min.css" in html
    assert "/static/vendor/htmx/htmx.min.js" in html
    assert "cdn" not in html.lower()


@pytest.mark.parametrize("name", CONSOLE_ROLES)
def test_staff_logs_in_with_password_and_lands_on_home(world: World, client: Client, name: str) -> None:
    response = client.post(reverse("console:login"), {"username": name, "password": world.password})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    home = client.get("/console/")
    assert home.status_code == 200
    assert world.staff[name].name in home.content.decode()


def test_wrong_password_shows_an_error(world: World, client: Client) -> None:
    response = client.post(reverse("console:login"), {"username": "hq_admin", "password": "nope-nope"})
    assert response.status_code == 200
    assert "alert-danger" in response.content.decode()


def test_login_follows_next(world: World, client: Client) -> None:
    url = reverse("console:dealer_list")
    response = client.post(
        reverse("console:login") + f"?next={url}",
        {"username": "hq_admin", "password": world.password, "next": url},
    )
    assert response["Location"] == url


def test_logout_ends_the_session(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    response = client.post(reverse("console:logout"))
    assert response.status_code == 302
    assert client.get("/console/").status_code == 302


def test_merchant_gets_no_console_access_everywhere(world: World, login: Callable[[str], Client]) -> None:
    client = login("merchant")
    for url in console_urls(world):
        response = client.get(url)
        assert response.status_code == 403, url
        html = response.content.decode()
        assert 'data-testid="no-access"' in html
        assert "无后台访问权限" in html
        assert "王*伟" not in html


def test_user_without_staff_row_gets_no_console_access(client: Client, db: None) -> None:
    user = get_user_model().objects.create_user("visitor", password="visitor-pass-1")
    client.force_login(user)
    response = client.get("/console/")
    assert response.status_code == 403
    assert 'data-testid="no-access"' in response.content.decode()


def test_inactive_staff_gets_no_console_access(world: World, login: Callable[[str], Client]) -> None:
    staff = world.staff["dealer_a1"]
    staff.is_active = False
    staff.save()
    assert login("dealer_a1").get(reverse("console:person_list")).status_code == 403


def test_a_missing_permission_is_a_403_page(world: World, login: Callable[[str], Client]) -> None:
    # Butlers may view and reveal but not export.
    response = login("butler_a1").get(reverse("console:person_export"))
    assert response.status_code == 403
    assert 'data-testid="forbidden"' in response.content.decode()


def test_console_pages_are_never_cached(world: World, login: Callable[[str], Client]) -> None:
    response = login("hq_admin").get(reverse("console:person_list"))
    assert "no-store" in response["Cache-Control"]
    assert "HX-Request" in response["Vary"]


# --- the menu and the header, by role ----------------------------------------------------------

HQ_MENU = ["首页", "客户", "经销商", "数据分析", "领地伙伴", "会员", "身份复核", "会员日", "短信发件箱"]
MENU: dict[str, list[str]] = {
    "hq_admin": [*HQ_MENU, "API 客户端"],  # api_clients.manage: HQ admins only
    "hq_operator": HQ_MENU,
    "region_east": ["首页", "客户", "经销商", "数据分析", "领地伙伴", "会员", "会员日"],
    "dealer_a1": ["首页", "客户", "本店", "数据分析", "领地伙伴", "会员", "会员日"],
    "butler_a1": ["首页", "我的车主", "本店", "会员", "会员日"],
    "dealer_b1": ["首页", "客户", "本店", "数据分析", "领地伙伴", "会员", "会员日"],
}
HEADER: dict[str, list[str]] = {
    "hq_admin": ["张总", "总部管理员", "全部数据"],
    "hq_operator": ["李运营", "总部运营", "全部数据"],
    "region_east": ["王大区", "大区经理", "华东大区"],
    "dealer_a1": ["赵店长", "经销商店总", "A1 杭州星河之江店"],
    "butler_a1": ["钱管家", "安享管家", "A1 杭州星河之江店", "西湖网格"],
    "dealer_b1": ["周店长", "经销商店总", "B1 广州极境天河店"],
}


@pytest.mark.parametrize("name", CONSOLE_ROLES)
def test_menu_and_header_follow_the_role(world: World, login: Callable[[str], Client], name: str) -> None:
    html = login(name).get("/console/").content.decode()
    menu = html.split('id="navbar-menu"', 1)[1].split("</ul>", 1)[0]
    titles = [part.split("</span>", 1)[0] for part in menu.split('class="nav-link-title">')[1:]]
    assert titles == MENU[name]
    header = html.split('data-testid="whoami"', 1)[1].split("</a>", 1)[0]
    for text in HEADER[name]:
        assert text in header
    if name.startswith("dealer_") or name.startswith("butler_"):
        code = world.staff[name].dealer.code  # type: ignore[union-attr]
        assert f'href="/console/dealers/{code}/"' in menu
