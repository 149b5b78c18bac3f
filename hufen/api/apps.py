import datetime as dt

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "hufen.api"
    label = "api"
    verbose_name = "REST API"

    def ready(self) -> None:
        from hufen.api.tasks import purge_task
        from hufen.common import scheduler

        scheduler.register("api.idempotency_purge", purge_task, daily_at=dt.time(3, 10))
