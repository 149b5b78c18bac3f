"""The OpenAPI document is the contract: every endpoint in it, every error described."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern

from hufen.api.main import api

INFRA_ROUTES = {"openapi-json", "openapi-view", "api-root", "unknown-route"}
EXPECTED_OPERATIONS = {
    ("post", "/api/v1/partners/coupons/redeem"),
    ("get", "/api/v1/partners/coupons/settlement"),
    ("get", "/api/v1/partners/merchants"),
    ("get", "/api/v1/partners/merchants/{merchant_id}"),
    ("get", "/api/v1/partners/value"),
    ("post", "/api/v1/partners/merchants/{merchant_id}/review"),
    ("post", "/api/v1/partners/merchants/{merchant_id}/status"),
    ("get", "/api/v1/partners/merchants/{merchant_id}/offers"),
    ("post", "/api/v1/partners/merchants/{merchant_id}/offers"),
    ("post", "/api/v1/partners/merchants/{merchant_id}/coupon-batches"),
    ("post", "/api/v1/partners/coupon-batches/{batch_id}/issue"),
    ("post", "/api/v1/partners/coupon-batches/{batch_id}/member-day"),
    ("get", "/api/v1/partners/segments"),
    ("post", "/api/v1/partners/segments"),
    ("get", "/api/v1/dealers"),
    ("get", "/api/v1/dealers/{code}"),
    ("get", "/api/v1/persons"),
    ("post", "/api/v1/persons"),
    ("get", "/api/v1/persons/{person_id}"),
    # person merges (issue 3)
    ("post", "/api/v1/persons/{person_id}/merge"),
    ("post", "/api/v1/merges/{merge_id}/unmerge"),
    ("get", "/api/v1/vehicles"),
    ("get", "/api/v1/vehicles/{vin}"),
    # identity (issue 3)
    ("post", "/api/v1/identity/records"),
    # tracking (issue 4)
    ("post", "/api/v1/events"),
    ("post", "/api/v1/events/identify"),
    # membership (issue 5)
    ("get", "/api/v1/membership/members"),
    ("post", "/api/v1/membership/members"),
    ("get", "/api/v1/membership/members/{member_id}"),
    ("get", "/api/v1/membership/members/{member_id}/entries"),
    ("post", "/api/v1/membership/members/{member_id}/award"),
    ("post", "/api/v1/membership/members/{member_id}/spend"),
    ("post", "/api/v1/membership/entries/{entry_id}/reverse"),
    ("get", "/api/v1/membership/benefits"),
    ("post", "/api/v1/membership/members/{member_id}/redemptions"),
    ("post", "/api/v1/membership/redemptions/{redemption_id}/cancel"),
    # memberday (issue 5 item 6)
    ("get", "/api/v1/memberday/occurrences"),
    ("get", "/api/v1/memberday/occurrences/{occurrence_id}"),
    ("post", "/api/v1/memberday/check-ins"),
    ("get", "/api/v1/memberday/members/{member_id}/today"),
    ("post", "/api/v1/memberday/task-completions"),
    ("get", "/api/v1/memberday/occurrences/{occurrence_id}/sessions"),
    ("post", "/api/v1/memberday/occurrences/{occurrence_id}/sessions"),
    ("post", "/api/v1/memberday/sessions/{session_id}/signups"),
    ("post", "/api/v1/memberday/sessions/{session_id}/attendance"),
    ("get", "/api/v1/memberday/occurrences/{occurrence_id}/dashboard"),
    ("get", "/api/v1/memberday/occurrences/{occurrence_id}/report"),
    # membership catalogue: tiers, earning rules, benefits (issue 5 items 3-5)
    ("get", "/api/v1/membership/tiers"),
    ("post", "/api/v1/membership/tiers"),
    ("patch", "/api/v1/membership/tiers/{tier_id}"),
    ("get", "/api/v1/membership/rules"),
    ("post", "/api/v1/membership/rules"),
    ("get", "/api/v1/membership/rules/{rule_id}"),
    ("patch", "/api/v1/membership/rules/{rule_id}"),
    ("get", "/api/v1/membership/rules/{rule_id}/decisions"),
    ("post", "/api/v1/membership/benefits"),
    ("patch", "/api/v1/membership/benefits/{item_id}"),
    # member self-service (issue 5): sign-in and join are public, the rest needs a member token
    ("post", "/api/v1/me/login/code"),
    ("post", "/api/v1/me/login"),
    ("get", "/api/v1/me/terms"),
    ("post", "/api/v1/me/join"),
    ("post", "/api/v1/me/logout"),
    ("get", "/api/v1/me/card"),
    ("get", "/api/v1/me/points"),
    ("get", "/api/v1/me/benefits"),
    ("post", "/api/v1/me/benefits/{item_id}/redeem"),
    ("get", "/api/v1/me/redemptions"),
    ("post", "/api/v1/me/redemptions/{redemption_id}/cancel"),
    ("get", "/api/v1/me/memberday"),
    # analytics (issue 4)
    ("get", "/api/v1/analytics/funnel"),
    ("get", "/api/v1/analytics/retention"),
    ("get", "/api/v1/analytics/active"),
}

# A member signs in with an SMS code: these are the only operations without credentials.
PUBLIC_OPERATIONS = {
    ("post", "/api/v1/me/login/code"),
    ("post", "/api/v1/me/login"),
    ("get", "/api/v1/me/terms"),
    ("post", "/api/v1/me/join"),
}


@pytest.fixture
def document() -> dict[str, Any]:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    parsed: dict[str, Any] = json.loads(response.content)
    return parsed


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_document_is_openapi_with_our_identity(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Hufen API"
    assert document["info"]["version"] == "1"
    # PartnerKeyAuth: a cross-industry partner's own key (hp_...) on the partner endpoints only.
    # MemberTokenAuth: a member's own token (hm_...) on /me only.
    assert set(document["components"]["securitySchemes"]) == {
        "ApiTokenAuth",
        "ConsoleSessionAuth",
        "PartnerKeyAuth",
        "MemberTokenAuth",
    }


def test_document_lists_every_endpoint(document: dict[str, Any]) -> None:
    assert {(m, p) for m, p, _ in operations(document)} == EXPECTED_OPERATIONS
    # and every routed URL (so a router added later cannot hide from the document)
    documented = set(document["paths"])
    for pattern in api.urls[0]:
        if isinstance(pattern, URLPattern) and pattern.name not in INFRA_ROUTES:
            route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))
            assert "/api/v1/" + route in documented, route


def test_every_operation_documents_the_error_body(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["ErrorOut"]
    assert error["required"] == ["error"]
    for method, path, op in operations(document):
        assert op.get("security") or (method, path) in PUBLIC_OPERATIONS, (method, path)
        statuses = {int(s) for s in op["responses"]}
        assert {400, 401, 403, 404, 422, 500} <= statuses, (method, path)
        for status, response in op["responses"].items():
            ref = response["content"]["application/json"]["schema"]["$ref"]
            if int(status) >= 400:
                assert ref == "#/components/schemas/ErrorOut", (method, path, status)
    create = document["paths"]["/api/v1/persons"]["post"]
    assert {"201", "409"} <= set(create["responses"])


def test_every_referenced_schema_exists(document: dict[str, Any]) -> None:
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert refs <= set(document["components"]["schemas"])


def test_docs_page_is_served() -> None:
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content
