from __future__ import annotations

from django.test import Client
from django.urls import reverse

from conftest import World
from hufen.common.models import AuditEvent
from hufen.console.views.auth import MAX_FAILURES


def test_login_and_logout_are_audited(world: World, client: Client) -> None:
    response = client.post(reverse("console:login"), {"username": "dealer_a1", "password": world.password})
    assert response.status_code == 302
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor_user_id == world.staff["dealer_a1"].user_id and "赵店长" in login.actor_label
    client.post(reverse("console:logout"))
    assert AuditEvent.objects.filter(action="auth.logout", actor_user_id=login.actor_user_id).exists()


def test_repeated_failures_lock_the_username_out_even_with_the_right_password(world: World, client: Client) -> None:
    url = reverse("console:login")
    for _ in range(MAX_FAILURES):
        response = client.post(url, {"username": "hq_admin", "password": "wrong-guess"})
        assert response.status_code == 200
    assert AuditEvent.objects.filter(action="auth.login_failed", object_id="hq_admin").count() == MAX_FAILURES
    response = client.post(url, {"username": "hq_admin", "password": world.password})
    assert response.status_code == 429
    assert "登录失败次数过多" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_failed_password_is_never_recorded(world: World, client: Client) -> None:
    client.post(reverse("console:login"), {"username": "hq_admin", "password": "s3cret-typo"})
    assert "s3cret-typo" not in str(list(AuditEvent.objects.values()))


def test_failures_spread_over_usernames_lock_the_address_at_its_own_higher_limit(db: None, client: Client) -> None:
    from hufen.console.views.auth import MAX_FAILURES_PER_ADDRESS

    url = reverse("console:login")
    for i in range(MAX_FAILURES_PER_ADDRESS):
        assert client.post(url, {"username": f"guess{i}", "password": "x"}).status_code == 200
    assert client.post(url, {"username": "someone-else", "password": "x"}).status_code == 429
