"""Reads: members scoped through their persons, ledger pages, the catalogue, and reconciliation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db.models import QuerySet, Sum

from hufen.common.actors import Actor
from hufen.common.errors import NotFound, PermissionDenied
from hufen.membership.models import (
    BenefitItem,
    LotMovement,
    Member,
    PointsAccount,
    PointsEntry,
    PointsLot,
    Redemption,
)
from hufen.people.models import Person


def require(actor: Actor, perm: str) -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(f"{actor.label} may not do this ({perm})")


def members_visible_to(actor: Actor) -> QuerySet[Member]:
    """A member is visible exactly when its person is (`Person.objects.visible_to`)."""
    return Member.objects.filter(person_id__in=Person.objects.visible_to(actor).values("id"))


def member_list(*, actor: Actor, brand_code: str = "", status: str = "") -> QuerySet[Member]:
    require(actor, "membership.view")
    qs = members_visible_to(actor).select_related("program__brand", "tier", "person", "account")
    if brand_code:
        qs = qs.filter(program__brand__code=brand_code)
    if status:
        qs = qs.filter(status=status)
    return qs


def member_get(*, actor: Actor, member_id: int) -> Member:
    member = member_list(actor=actor).filter(pk=member_id).first()
    if member is None:
        raise NotFound(f"member {member_id} does not exist or is outside your data scope")
    return member


def member_entries(*, actor: Actor, member_id: int) -> QuerySet[PointsEntry]:
    member = member_get(actor=actor, member_id=member_id)
    return PointsEntry.objects.filter(account__member=member)


def entry_get(*, actor: Actor, entry_id: int) -> PointsEntry:
    entry = (
        PointsEntry.objects.filter(pk=entry_id, account__member__in=members_visible_to(actor))
        .select_related("account__member")
        .first()
    )
    if entry is None:
        raise NotFound(f"entry {entry_id} does not exist or is outside your data scope")
    return entry


def redemption_get(*, actor: Actor, redemption_id: int) -> Redemption:
    redemption = (
        Redemption.objects.filter(pk=redemption_id, member__in=members_visible_to(actor))
        .select_related("item", "member")
        .first()
    )
    if redemption is None:
        raise NotFound(f"redemption {redemption_id} does not exist or is outside your data scope")
    return redemption


def benefit_list(*, actor: Actor, brand_code: str = "") -> QuerySet[BenefitItem]:
    require(actor, "membership.view")
    qs = BenefitItem.objects.filter(active=True).select_related("program__brand", "min_tier")
    if brand_code:
        qs = qs.filter(program__brand__code=brand_code)
    return qs


# --- reconciliation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discrepancy:
    check: str
    account_id: int
    row: str  # "entry:12", "lot:7", "account:3"
    expected: object
    found: object


def ledger_verify() -> list[Discrepancy]:
    """Reconcile every account; an empty list means the ledger is consistent.

    - sum(entries) == cached balance; sum(lot remaining) == balance; balance ≥ 0
    - every entry's balance_after is the running sum of the account's entries
    - no lot negative or above its amount; remaining == amount − net movements
    - spends and expiries took exactly their amount from lots; an award's lot holds its amount
    - every reversal mirrors one award or spend of the same account, and gave back what it took
    """
    found: list[Discrepancy] = []
    entry_sums = dict(
        PointsEntry.objects.values_list("account_id").annotate(s=Sum("amount")).values_list("account_id", "s")
    )
    lot_sums = dict(
        PointsLot.objects.values_list("account_id").annotate(s=Sum("remaining")).values_list("account_id", "s")
    )
    for account in PointsAccount.objects.order_by("id").iterator():
        a = account.pk
        if account.balance < 0:
            found.append(Discrepancy("balance_not_negative", a, f"account:{a}", ">= 0", account.balance))
        if (entry_sums.get(a) or 0) != account.balance:
            found.append(
                Discrepancy("entries_sum_to_balance", a, f"account:{a}", account.balance, entry_sums.get(a) or 0)
            )
        if (lot_sums.get(a) or 0) != account.balance:
            found.append(Discrepancy("lots_sum_to_balance", a, f"account:{a}", account.balance, lot_sums.get(a) or 0))
    _verify_running_balances(found)
    _verify_lots(found)
    _verify_entries(found)
    return found


def _verify_running_balances(found: list[Discrepancy]) -> None:
    running: dict[int, int] = defaultdict(int)
    rows = PointsEntry.objects.order_by("account_id", "id").values_list("id", "account_id", "amount", "balance_after")
    for entry_id, account_id, amount, balance_after in rows.iterator():
        running[account_id] += amount
        if running[account_id] != balance_after:
            found.append(
                Discrepancy("balance_after", account_id, f"entry:{entry_id}", running[account_id], balance_after)
            )


def _verify_lots(found: list[Discrepancy]) -> None:
    moved = dict(LotMovement.objects.values_list("lot_id").annotate(s=Sum("amount")).values_list("lot_id", "s"))
    rows = PointsLot.objects.order_by("id").values_list("id", "account_id", "amount", "remaining", "entry__amount")
    for lot_id, account_id, amount, remaining, earned in rows.iterator():
        row = f"lot:{lot_id}"
        if remaining < 0:
            found.append(Discrepancy("lot_not_negative", account_id, row, ">= 0", remaining))
        if remaining > amount:
            found.append(Discrepancy("lot_not_over_consumed", account_id, row, f"<= {amount}", remaining))
        if amount != earned:
            found.append(Discrepancy("lot_matches_award", account_id, row, earned, amount))
        if remaining != amount - (moved.get(lot_id) or 0):
            found.append(Discrepancy("lot_movements", account_id, row, amount - (moved.get(lot_id) or 0), remaining))


def _verify_entries(found: list[Discrepancy]) -> None:
    moved = dict(LotMovement.objects.values_list("entry_id").annotate(s=Sum("amount")).values_list("entry_id", "s"))
    entries = PointsEntry.objects.order_by("id").values_list(
        "id",
        "account_id",
        "kind",
        "amount",
        "reverses_id",
        "reverses__account_id",
        "reverses__kind",
        "reverses__amount",
    )
    for entry_id, account_id, kind, amount, rev_id, rev_account, rev_kind, rev_amount in entries.iterator():
        row = f"entry:{entry_id}"
        took = moved.get(entry_id) or 0
        if kind in ("spend", "expire") and took != -amount:
            found.append(Discrepancy("lots_cover_entry", account_id, row, -amount, took))
        if kind == "award" and took != 0:
            found.append(Discrepancy("award_has_no_movements", account_id, row, 0, took))
        if kind == "reverse":
            if rev_id is None or rev_kind not in ("award", "spend"):
                found.append(Discrepancy("reversal_target", account_id, row, "an award or spend", rev_kind))
                continue
            if rev_account != account_id or rev_amount != -amount:
                found.append(Discrepancy("reversal_mirrors", account_id, row, -rev_amount, amount))
            if took != -amount:
                found.append(Discrepancy("reversal_lots", account_id, row, -amount, took))
        elif rev_id is not None:
            found.append(Discrepancy("only_reversals_reverse", account_id, row, None, rev_id))
