"""The catalogue of reason codes: every ledger entry names one, so each line of a member's history
can be explained. Earning rules (later) add their codes here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    code: str
    kind: str  # the entry kind it may be used with: award | spend | reverse | expire
    label: str


REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason("goodwill", "award", "客服补偿"),
        Reason("purchase", "award", "购车奖励"),
        Reason("service_visit", "award", "售后服务"),
        Reason("referral", "award", "推荐购车"),
        Reason("check_in", "award", "签到"),
        Reason("campaign", "award", "活动奖励"),
        Reason("import", "award", "积分迁移"),
        Reason("memberday_task", "award", "会员日任务"),
        # earning rules (rules.py)
        Reason("community_post", "award", "社区发帖"),
        Reason("experience", "award", "体验活动"),
        Reason("redemption", "spend", "权益兑换"),
        Reason("merchant", "spend", "商户消费"),
        Reason("adjustment", "spend", "人工扣减"),
        Reason("coupon", "spend", "兑换合作券"),  # partners: points for a cross-industry coupon
        Reason("correction", "reverse", "冲正"),
        Reason("redemption_cancelled", "reverse", "兑换取消"),
        Reason("expiry", "expire", "积分过期"),
        # Person merges (issue 3): points move between the two members of one human, and back.
        Reason("merge_in", "award", "合并转入"),
        Reason("merge_out", "spend", "合并转出"),
        Reason("merge_undo", "reverse", "撤销合并"),
    )
}


def reason_for(code: str, kind: str) -> Reason:
    from hufen.common.errors import FieldError

    reason = REASONS.get(code)
    if reason is None:
        raise FieldError("reason", f"unknown reason code {code!r}")
    if reason.kind != kind:
        raise FieldError("reason", f"{code!r} is a {reason.kind} reason, not a {kind} reason")
    return reason
