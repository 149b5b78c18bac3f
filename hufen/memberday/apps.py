import datetime as dt

from django.apps import AppConfig


class MemberdayConfig(AppConfig):
    name = "hufen.memberday"
    label = "memberday"

    def ready(self) -> None:
        from hufen.common import scheduler
        from hufen.memberday.merge import memberday_on_merge, memberday_on_unmerge
        from hufen.memberday.tasks import schedule_task
        from hufen.people.merge import register_merge_handler

        # Daily, early morning brand time: the coming Member Days always exist ahead of time.
        scheduler.register("memberday.schedule", schedule_task, daily_at=dt.time(0, 20))
        register_merge_handler("memberday", memberday_on_merge, memberday_on_unmerge)
