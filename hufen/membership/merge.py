"""Membership's part in a person merge (registered from MembershipConfig.ready()).

- Only the absorbed person is a member of a program: the Member row moves to the survivor.
- Both are members of the same program: the absorbed member's spendable points move through the
  ledger — one `merge_out` spend on the absorbed account (taking lot by lot, so it can be reversed
  onto the very lots) and one `merge_in` award per source lot on the survivor's account, each new
  lot keeping its source lot's expiry — then the absorbed member is closed. Lots already past their
  expiry stay behind for the expiry job. A frozen member on either side stops the merge: a freeze is
  usually an investigation, and moving points would defeat it.
- Unmerge reverses the `merge_in` awards and the `merge_out` spend with ordinary reversing entries and
  reopens the member. If any moved point was spent or expired since, the unmerge is refused with the
  amounts: the points cannot be taken back, and a partial undo would leave two half-accounts.
"""

from __future__ import annotations

from django.db.models import Sum

from hufen.common.audit import audit
from hufen.common.errors import FieldError
from hufen.membership.ledger import _append, _event, _take, lock_account
from hufen.membership.models import Member, PointsEntry, PointsLot
from hufen.people.merge import MergeContext, UnmergeContext
from hufen.people.models import Person

MEMBER_LABEL = "membership.member"
ENTRY_LABEL = "membership.pointsentry"


def membership_on_merge(ctx: MergeContext) -> None:
    survivor, absorbed = ctx.survivor, ctx.absorbed
    theirs = {m.program_id: m for m in Member.objects.filter(person_id=survivor.pk)}
    for member in Member.objects.select_for_update().filter(person_id=absorbed.pk).order_by("id"):
        other = theirs.get(member.program_id)
        if other is None:
            ctx.record(
                "reassign", MEMBER_LABEL, member.pk, field="person", from_person=absorbed.pk, to_person=survivor.pk
            )
            Member.objects.filter(pk=member.pk).update(person_id=survivor.pk)
            continue
        if member.status == "closed":
            continue  # nothing left to move; the closed membership stays in the absorbed's history
        for m in (member, other):
            if m.status != "active":
                raise FieldError("membership", f"member {m.number} is {m.status}: resolve it before merging")
        _transfer_points(ctx, source=member, target=other)
        ctx.record("close", MEMBER_LABEL, member.pk, field="status", before=member.status, after="closed")
        Member.objects.filter(pk=member.pk).update(status="closed")
        audit(
            actor=ctx.actor,
            action="member.status",
            obj_type="member",
            obj_id=member.pk,
            summary={"status": {"before": member.status, "after": "closed"}, "merged_into_member": other.pk},
            reason=f"person merge {ctx.merge.pk}",
        )


def _transfer_points(ctx: MergeContext, *, source: Member, target: Member) -> None:
    # Lock both accounts in id order (the same order every ledger writer of two accounts would use).
    accounts = {m.pk: m for m in (source, target)}
    locked = {pk: lock_account(accounts[pk]) for pk in sorted(accounts, key=lambda pk: accounts[pk].account.pk)}
    out_account, in_account = locked[source.pk], locked[target.pk]
    lots = list(out_account.lots.filter(remaining__gt=0, expires_at__gt=ctx.now).order_by("expires_at", "id"))
    takes = [(lot, lot.remaining) for lot in lots]
    total = sum(t for _, t in takes)
    if total == 0:
        return
    key = f"merge:{ctx.merge.pk}"
    out = _append(
        out_account,
        actor=ctx.actor,
        kind="spend",
        amount=-total,
        reason="merge_out",
        key=f"{key}:out",
        now=ctx.now,
        ref_type="person_merge",
        ref_id=str(ctx.merge.pk),
    )
    _take(out, lots, total)
    ctx.record("points_out", ENTRY_LABEL, out.pk, from_person=ctx.absorbed.pk, before=source.pk, after=-total)
    _audit_entry(ctx, out)
    _event("points_spent", source, out)
    for lot, amount in takes:
        entry = _append(
            in_account,
            actor=ctx.actor,
            kind="award",
            amount=amount,
            reason="merge_in",
            key=f"{key}:in:{lot.pk}",
            now=ctx.now,
            ref_type="person_merge",
            ref_id=str(ctx.merge.pk),
        )
        PointsLot.objects.create(
            account=in_account, entry=entry, amount=amount, remaining=amount, expires_at=lot.expires_at
        )
        ctx.record("points_in", ENTRY_LABEL, entry.pk, to_person=ctx.survivor.pk, before=lot.pk, after=amount)
        _audit_entry(ctx, entry)
        _event("points_earned", target, entry)


def _audit_entry(ctx: MergeContext, entry: PointsEntry) -> None:
    audit(
        actor=ctx.actor,
        action=f"points.{entry.reason}",
        obj_type="points_entry",
        obj_id=entry.pk,
        summary={"account_id": entry.account_id, "amount": entry.amount, "merge_id": ctx.merge.pk},
    )


def membership_on_unmerge(ctx: UnmergeContext) -> None:
    from hufen.membership.ledger import points_reverse

    moved_in = [m for m in ctx.moves if m.kind == "points_in"]
    if moved_in:
        lots = PointsLot.objects.filter(entry_id__in=[m.row_id for m in moved_in])
        sums = lots.aggregate(amount=Sum("amount"), remaining=Sum("remaining"))
        total, gone = int(sums["amount"] or 0), int(sums["amount"] or 0) - int(sums["remaining"] or 0)
        if gone:
            raise FieldError(
                "merge",
                f"{gone} of the {total} points this merge moved were spent or expired since: "
                "the merge cannot be undone (reverse those spends first)",
            )
    for move in ctx.moves:  # newest first
        if move.kind == "close":
            Member.objects.filter(pk=move.row_id).update(status=move.before)
            audit(
                actor=ctx.actor,
                action="member.status",
                obj_type="member",
                obj_id=move.row_id,
                summary={"status": {"before": "closed", "after": move.before}},
                reason=f"person unmerge {ctx.merge.pk}",
            )
        elif move.kind in ("points_in", "points_out"):
            entry = PointsEntry.objects.get(pk=move.row_id)
            points_reverse(
                actor=ctx.actor, entry=entry, reason="merge_undo", idempotency_key=f"unmerge:{ctx.merge.pk}:{entry.pk}"
            )
        elif move.kind == "reassign":
            member = Member.objects.filter(pk=move.row_id).values("person_id").first()
            if member is None or member["person_id"] != move.to_person_id:
                ctx.skip(move, "the membership moved again since the merge: left there")
                continue
            Member.objects.filter(pk=move.row_id).update(person_id=move.from_person_id)
        else:
            raise AssertionError(f"unknown membership move {move.kind}")
        ctx.restored(move)


def membership_describe(survivor: Person, absorbed: Person) -> list[str]:
    from django.utils.translation import gettext as _

    lines = []
    theirs = set(Member.objects.filter(person_id=survivor.pk).values_list("program_id", flat=True))
    for member in Member.objects.filter(person_id=absorbed.pk).select_related("program", "account"):
        if member.program_id in theirs:
            lines.append(
                _("membership %(number)s: %(points)d points move to the survivor's account, then it closes")
                % {"number": member.number, "points": member.account.balance}
            )
        else:
            lines.append(_("membership %(number)s moves to the survivor") % {"number": member.number})
    return lines
