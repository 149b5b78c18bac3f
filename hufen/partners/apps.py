import datetime as dt

from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "hufen.partners"
    label = "partners"

    def ready(self) -> None:
        from hufen.common import scheduler
        from hufen.partners.tasks import memberday_coupons_task

        scheduler.register("partners.memberday_coupons", memberday_coupons_task, every=dt.timedelta(minutes=1))
