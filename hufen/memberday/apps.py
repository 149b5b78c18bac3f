import datetime as dt

from django.apps import AppConfig

AWARD_EVERY = dt.timedelta(seconds=5)


class MemberdayConfig(AppConfig):
    name = "hufen.memberday"
    label = "memberday"

    def ready(self) -> None:
        from hufen.common import scheduler
        from hufen.memberday.merge import memberday_on_merge, memberday_on_unmerge
        from hufen.memberday.tasks import award_pending_task, schedule_task
        from hufen.people.merge import register_merge_handler

        # Daily, early morning brand time: the coming Member Days always exist ahead of time.
        scheduler.register("memberday.schedule", schedule_task, daily_at=dt.time(0, 20))
        # Check-ins commit with their points pending; this pays them in batches, seconds later.
        scheduler.register("memberday.award_pending", award_pending_task, every=AWARD_EVERY)
        register_merge_handler("memberday", memberday_on_merge, memberday_on_unmerge)
