import datetime as dt

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "hufen.tracking"
    label = "tracking"

    def ready(self) -> None:
        from hufen.common import scheduler
        from hufen.tracking.tasks import compact_task, flush_task, scheduler_purge_task

        scheduler.register("tracking.flush", flush_task, every=dt.timedelta(minutes=1))
        scheduler.register("tracking.compact", compact_task, every=dt.timedelta(hours=1))
        scheduler.register("scheduler.purge", scheduler_purge_task, daily_at=dt.time(3, 20))
