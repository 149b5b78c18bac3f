from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "hufen.membership"
    label = "membership"

    def ready(self) -> None:
        from hufen.membership.merge import membership_describe, membership_on_merge, membership_on_unmerge
        from hufen.people.merge import register_merge_handler

        register_merge_handler("membership", membership_on_merge, membership_on_unmerge, describe=membership_describe)
