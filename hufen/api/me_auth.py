"""Member sign-in for the brand app and mini-program: `/api/v1/me/login...`, `/me/join`, `/me/logout`.

The member API authenticates the owner, not an integration: `Authorization: Bearer hm_...`, a token
issued here after the SMS code (and, for someone not yet a member, after they agreed to the program's
terms). It is a portal session of channel `api`: it expires after HUFEN_PORTAL_SESSION_DAYS, ends at
`POST /me/logout`, and stops working at once when the membership is closed or the person merged away.
An integration's `hf_` token is never a member token, and a portal cookie is never a bearer token.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status
from ninja.security import HttpBearer

from hufen.api.errors import ApiError, with_errors
from hufen.api.types import Text
from hufen.common.actors import Actor
from hufen.common.errors import FieldError
from hufen.common.pii import mask_phone
from hufen.common.sms import SmsError
from hufen.console.access import client_ip
from hufen.membership.models import Member
from hufen.portal.access import API_TOKEN_PREFIX, member_actor, session_for_token
from hufen.portal.models import PortalSession
from hufen.portal.services import (
    JOIN_TICKET_MAX_AGE,
    RESEND_SECONDS,
    JoinNeeded,
    JoinRequired,
    SignIn,
    Throttled,
    brand_for_portal,
    login_code_request,
    member_join_with_consent,
    member_sign_in,
    member_sign_out,
    program_name,
)
from hufen.portal.terms import Terms, program_terms


class MemberTokenAuth(HttpBearer):
    """`Authorization: Bearer hm_...`: a live member API session (see the module's docstring)."""

    def authenticate(self, request: HttpRequest, token: str) -> Actor | None:
        token = token.strip()
        if not token.startswith(API_TOKEN_PREFIX):
            return None
        session = session_for_token(token, channel="api")
        if session is None:
            return None
        actor = member_actor(session.member)
        request.actor = actor  # type: ignore[attr-defined]
        request.member = session.member  # type: ignore[attr-defined]
        request.portal_session = session  # type: ignore[attr-defined]
        return actor


MEMBER_AUTH = MemberTokenAuth()


def member_of(request: HttpRequest) -> Member:
    member: Member = request.member  # type: ignore[attr-defined]
    return member


def session_of(request: HttpRequest) -> PortalSession:
    session: PortalSession = request.portal_session  # type: ignore[attr-defined]
    return session


router = Router(tags=["me"])


class MeCodeIn(Schema):
    phone: Text = Field(max_length=40, description="A mainland China mobile number, any common format.")
    brand: Text = Field("", max_length=32, description="The brand's code; default: the portal's brand.")


class MeCodeSentOut(Schema):
    phone: str = Field(description="Masked, e.g. 150****0002.")
    brand: str
    expires_at: dt.datetime
    resend_after: int = Field(description="Seconds until another code may be requested.")


class MeLoginIn(Schema):
    phone: Text = Field(max_length=40)
    code: Text = Field(max_length=12, description="The 6 digits from the text message.")
    brand: Text = Field("", max_length=32)
    name: Text = Field("", max_length=60, description="Needed only when the number is new to the brand group.")


class MeTermsOut(Schema):
    version: str = Field(description="Send it back as `terms_version` when joining.")
    language: str
    title: str
    program_name: str
    clauses: list[str]
    consent_label: str
    marketing_label: str
    digest: str = Field(description="sha256 of the text shown; recorded with the consent.")

    @staticmethod
    def of(t: Terms) -> MeTermsOut:
        return MeTermsOut(
            version=t.version,
            language=t.language,
            title=t.title,
            program_name=t.program_name,
            clauses=t.clauses,
            consent_label=t.consent_label,
            marketing_label=t.marketing_label,
            digest=t.digest,
        )


class MeSessionOut(Schema):
    token: str = Field(description="The member's bearer token (hm_...). Shown once; store it securely.")
    expires_at: dt.datetime
    member_id: int
    member_number: str
    brand: str


class MeJoinOut(Schema):
    ticket: str = Field(description="Send it to POST /me/join with the member's consent.")
    expires_in: int = Field(description="Seconds the ticket stays valid.")
    brand: str
    phone: str = Field(description="Masked.")
    new_person: bool
    terms: MeTermsOut


class MeLoginOut(Schema):
    status: Literal["signed_in", "join_required"]
    session: MeSessionOut | None = None
    join: MeJoinOut | None = None


class MeJoinIn(Schema):
    ticket: Text = Field(max_length=400)
    accept_terms: bool = Field(description="True only when the member ticked the consent box.")
    terms_version: Text = Field(max_length=20)
    marketing: bool = Field(False, description="Optional consent to Member Day reminders and offers by SMS.")


class MeTermsQuery(Schema):
    brand: Text = Field("", max_length=32)


class MeLogoutOut(Schema):
    ended: bool


def _session_out(signed: SignIn) -> MeSessionOut:
    return MeSessionOut(
        token=signed.token,
        expires_at=signed.session.expires_at,
        member_id=signed.member.pk,
        member_number=signed.member.number,
        brand=signed.member.program.brand.code,
    )


def _join_out(pending: JoinNeeded) -> MeJoinOut:
    return MeJoinOut(
        ticket=pending.ticket,
        expires_in=JOIN_TICKET_MAX_AGE,
        brand=pending.brand.code,
        phone=mask_phone(pending.phone),
        new_person=pending.new_person,
        terms=MeTermsOut.of(program_terms(pending.brand, program_name(pending.brand))),
    )


@router.post(
    "/login/code",
    auth=None,
    response=with_errors({202: MeCodeSentOut}, 503),
    summary="Send the member a sign-in code by SMS",
)
def login_code(request: HttpRequest, response: HttpResponse, payload: MeCodeIn) -> Status[Any]:
    try:
        sent = login_code_request(phone=payload.phone, brand_code=payload.brand, ip=client_ip(request))
    except Throttled as exc:
        # Answered, not raised, so that the Retry-After header stays on the response.
        response["Retry-After"] = str(exc.retry_after)
        details = {"field": exc.field, "retry_after": exc.retry_after}
        return Status(429, {"error": {"code": "rate_limited", "message": exc.reason, "details": details}})
    except SmsError as exc:
        raise ApiError(503, "sms_unavailable", "The text message could not be sent; retry later.") from exc
    out = MeCodeSentOut(
        phone=mask_phone(sent.phone), brand=sent.brand.code, expires_at=sent.expires_at, resend_after=RESEND_SECONDS
    )
    return Status(202, out)


@router.post(
    "/login",
    auth=None,
    response=with_errors({200: MeLoginOut}),
    summary="Sign in with the SMS code: a member token, or the terms to join first",
)
def login(request: HttpRequest, payload: MeLoginIn) -> MeLoginOut:
    try:
        signed = member_sign_in(
            phone=payload.phone,
            code=payload.code,
            brand_code=payload.brand,
            name=payload.name,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            channel="api",
        )
    except JoinRequired as needed:
        return MeLoginOut(status="join_required", join=_join_out(needed.pending))
    return MeLoginOut(status="signed_in", session=_session_out(signed))


@router.get("/terms", auth=None, response=with_errors({200: MeTermsOut}), summary="The program's membership terms")
def terms(request: HttpRequest, params: Query[MeTermsQuery]) -> MeTermsOut:
    brand = brand_for_portal(params.brand)
    return MeTermsOut.of(program_terms(brand, program_name(brand)))


@router.post(
    "/join",
    auth=None,
    response=with_errors({201: MeLoginOut}),
    summary="Join the program with the member's consent; returns a member token",
)
def join(request: HttpRequest, payload: MeJoinIn) -> Status[MeLoginOut]:
    try:
        signed = member_join_with_consent(
            ticket=payload.ticket,
            accept_terms=payload.accept_terms,
            terms_version=payload.terms_version,
            marketing=payload.marketing,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", ""),
            channel="api",
        )
    except FieldError as exc:
        if exc.field == "ticket":
            raise ApiError(401, "join_ticket_invalid", exc.reason) from exc
        raise
    return Status(201, MeLoginOut(status="signed_in", session=_session_out(signed)))


@router.post("/logout", auth=MEMBER_AUTH, response=with_errors({200: MeLogoutOut}), summary="End this member token")
def logout(request: HttpRequest) -> MeLogoutOut:
    member = member_of(request)
    member_sign_out(actor=member_actor(member), session=session_of(request), ip=client_ip(request))
    return MeLogoutOut(ended=True)
