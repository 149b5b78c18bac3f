"""Random query strings, paths and bodies against every endpoint: never a 500, always our error body.

Run on PostgreSQL too: it refuses NUL characters and over-long values that SQLite swallows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hufen.api.tests.helpers import Caller, error_of

CallerFor = Callable[[str], Caller]

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789", max_size=25),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["", " ", "0", "-1", "200", "201", "null", "王小伟", "浙A", "LHF", "\x00", "%", "'"]),
)
query_params = st.dictionaries(
    st.sampled_from(["limit", "cursor", "q", "city", "region", "other"]), scalars, max_size=4
)
json_values = st.one_of(
    st.none(),
    st.booleans(),
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.text(max_size=5), scalars, max_size=2),
)
person_bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "phone",
                "gender",
                "birth_date",
                "email",
                "id_number",
                "province",
                "city",
                "district",
                "address",
                "extra",
            ]
        ),
        json_values,
        max_size=8,
    ),
    json_values,
)


@pytest.fixture
def admin(caller: CallerFor) -> Caller:
    # One client for all examples: a new one per example would rebuild the middleware stack each time.
    return caller("hq_admin")


@pytest.fixture
def integration(caller: CallerFor) -> Caller:
    return caller("api_brand_premium")


def assert_sane(response: Any) -> None:
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        error_of(response)


@FUZZ
@given(path=st.sampled_from(["/persons", "/dealers", "/vehicles"]), params=query_params)
def test_lists_never_fail(admin: Caller, path: str, params: dict[str, Any]) -> None:
    assert_sane(admin.get(path, params))


@FUZZ
@given(
    resource=st.sampled_from(["/persons/", "/dealers/", "/vehicles/"]),
    segment=st.one_of(st.text(min_size=1, max_size=30), st.integers(min_value=-(2**70), max_value=2**70)),
)
def test_details_never_fail(integration: Caller, resource: str, segment: object) -> None:
    assert_sane(integration.get(resource + quote(str(segment), safe="")))


@FUZZ
@given(body=person_bodies, key=st.one_of(st.none(), st.text(alphabet="abc-_ \t", max_size=8)))
def test_person_create_never_fails(admin: Caller, body: Any, key: str | None) -> None:
    headers = {"Idempotency-Key": key} if key is not None else {}
    response = admin.post("/persons", body, headers=headers)
    assert_sane(response)
    assert response.status_code in {201, 400, 409, 422}
