"""Chinese by default, English on request; every console string has its Chinese translation.

How to refresh the catalogues after changing UI strings: hufen/locale/README.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.test import Client
from django.urls import reverse

from conftest import World


def test_console_is_chinese_by_default(world: World, login: Callable[[str], Client]) -> None:
    html = login("hq_admin").get(reverse("console:person_list")).content.decode()
    assert '<html lang="zh-hans">' in html
    assert "客户" in html and "退出登录" in html


def test_switching_to_english_renders_english(world: World, login: Callable[[str], Client]) -> None:
    client = login("dealer_a1")
    response = client.post(reverse("set_language"), {"language": "en", "next": "/console/persons/"})
    assert response.status_code == 302
    assert response["Location"] == "/console/persons/"
    html = client.get("/console/persons/").content.decode()
    assert '<html lang="en">' in html
    assert "Customers" in html and "Log out" in html and "Dealer manager" in html
    assert "退出登录" not in html
    home = client.get("/console/").content.decode()
    assert "Your customers at a glance" in home
    back = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/console/"})
    assert back.status_code == 302
    assert "客户一览" in client.get("/console/").content.decode()


def test_english_detail_page_translates_stored_codes(world: World, login: Callable[[str], Client]) -> None:
    client = login("hq_admin")
    client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    person = world.persons["b1_serviced_at_a1"]
    html = client.get(reverse("console:person_detail", args=[person.pk])).content.decode()
    assert "Maintenance" in html and "Owner" in html and "Male" in html


def test_chinese_first_whatever_the_browser_asks_until_the_user_switches(db: None, client: Client) -> None:
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    html = client.get(reverse("console:login"), headers=english_browser).content.decode()
    assert "Log in to your account" not in html and 'lang="zh-hans"' in html.lower()
    client.post(reverse("set_language"), {"language": "en", "next": "/console/login/"})
    html = client.get(reverse("console:login"), headers=english_browser).content.decode()
    assert "Log in to your account" in html


def test_every_message_has_a_chinese_translation() -> None:
    po = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES" / "django.po"
    text = po.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # the first block is the header
    untranslated = [
        e for e in entries if re.search(r'^msgstr(\[0\])? ""$', e, re.M) and '\n"' not in e.split("msgstr", 1)[1]
    ]
    assert untranslated == []
    assert "#, fuzzy" not in text
