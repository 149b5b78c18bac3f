import datetime as dt

from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "hufen.membership"
    label = "membership"

    def ready(self) -> None:
        from hufen.common import scheduler
        from hufen.membership.merge import membership_describe, membership_on_merge, membership_on_unmerge
        from hufen.membership.tasks import earn_task, expire_task
        from hufen.people.merge import register_merge_handler

        scheduler.register("membership.earn", earn_task, every=dt.timedelta(minutes=5))
        scheduler.register("membership.expire", expire_task, daily_at=dt.time(2, 30))

        register_merge_handler("membership", membership_on_merge, membership_on_unmerge, describe=membership_describe)
