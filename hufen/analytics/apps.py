import datetime as dt

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "hufen.analytics"
    label = "analytics"

    def ready(self) -> None:
        from hufen.analytics.tasks import summarize_task
        from hufen.common import scheduler

        scheduler.register("analytics.summarize", summarize_task, every=dt.timedelta(minutes=15))
