"""Dealers: `GET /dealers`, `GET /dealers/{code}`, scoped to the caller."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from hufen.api.auth import actor_of
from hufen.api.errors import with_errors
from hufen.api.pagination import PageParams, paginate
from hufen.api.types import Text, lookup_key
from hufen.common.errors import NotFound
from hufen.org.models import Dealer
from hufen.org.selectors import dealer_get, dealer_list

router = Router(tags=["dealers"])


class DealerFilters(PageParams):
    q: Text = Field("", max_length=100, description="Part of the code, name or city.")
    region: Text = Field("", max_length=32, description="Region code, e.g. `east`.")


class RegionOut(Schema):
    code: str
    name: str


class DealerOut(Schema):
    code: str
    name: str
    region: RegionOut
    brands: list[str] = Field(description="Codes of the brands the dealer sells.")
    province: str
    city: str
    district: str
    address: str
    phone: str
    status: str
    opened_on: dt.date | None

    @staticmethod
    def of(dealer: Dealer) -> DealerOut:
        return DealerOut(
            code=dealer.code,
            name=dealer.name,
            region=RegionOut(code=dealer.region.code, name=dealer.region.name),
            brands=[b.code for b in dealer.brands.all()],
            province=dealer.province,
            city=dealer.city,
            district=dealer.district,
            address=dealer.address,
            phone=dealer.phone,
            status=dealer.status,
            opened_on=dealer.opened_on,
        )


class DealerPageOut(Schema):
    items: list[DealerOut]
    next_cursor: str | None


@router.get("", response=with_errors({200: DealerPageOut}), summary="List dealers in your scope")
def dealers_list(request: HttpRequest, filters: Query[DealerFilters]) -> DealerPageOut:
    qs = dealer_list(actor=actor_of(request), query=filters.q.strip(), region_code=filters.region.strip())
    page = paginate(qs, params=filters, listing="dealers")
    return DealerPageOut(items=[DealerOut.of(d) for d in page.items], next_cursor=page.next_cursor)


@router.get("/{code}", response=with_errors({200: DealerOut}), summary="One dealer by code")
def dealers_get(request: HttpRequest, code: str) -> DealerOut:
    key = lookup_key(code, max_length=16)
    dealer = dealer_get(actor=actor_of(request), code=key) if key else None
    if dealer is None:
        raise NotFound(f"dealer {code} does not exist or is outside your data scope")
    return DealerOut.of(dealer)
