"""The demo members' consents to their program's terms, in the row shape the portal's join records
(`portal.services.member_join_with_consent`): the current terms version, the digest of the Chinese
text as shown, whether the member also agreed to SMS offers, the channel and the join time.

Only members without a consent for their program's brand get one, so a re-run adds nothing.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef
from django.utils import translation

from hufen.demo.writer import RowWriter
from hufen.membership.models import Member
from hufen.org.models import Brand
from hufen.portal.models import ProgramConsent
from hufen.portal.services import program_name
from hufen.portal.terms import program_terms

CONSENT_FIELDS = (
    "person_id", "brand_id", "terms_version", "terms_digest", "language", "marketing", "channel", "accepted_at",
    "ip_address", "user_agent",
)  # fmt: skip
MARKETING_PERCENT = 62  # members who also ticked "send me Member Day reminders and offers by SMS"
# Where the member joined → the consent's channel: the app signs up through the member API, every
# other way (WeChat, the dealer's QR code, the H5 page) through the owner H5 portal.
CHANNEL = {"app": "api"}
BATCH = 20_000


def ensure_consents(writer: RowWriter) -> int:
    """A consent for every member that has none; returns how many were added."""
    with translation.override("zh-hans"):
        terms = {brand.pk: program_terms(brand, program_name(brand)) for brand in Brand.objects.all()}
    consented = ProgramConsent.objects.filter(person_id=OuterRef("person_id"), brand_id=OuterRef("program__brand_id"))
    missing = Member.objects.exclude(Exists(consented)).order_by("id")
    table = writer.table(ProgramConsent, CONSENT_FIELDS)
    added, last = 0, 0
    while True:
        batch = list(
            missing.filter(id__gt=last).values_list("id", "person_id", "program__brand_id", "channel", "joined_at")[
                :BATCH
            ]
        )
        if not batch:
            return added
        rows = []
        for member_id, person_id, brand_id, channel, joined_at in batch:
            t = terms[brand_id]
            # A fixed pseudo-random choice per member: the same on every run, without a random stream.
            marketing = (member_id * 2_654_435_761) % 100 < MARKETING_PERCENT
            accepted = joined_at.astimezone(dt.UTC).replace(tzinfo=None)  # naive UTC, as the demo writes times
            channel = CHANNEL.get(channel, "h5")
            rows.append((person_id, brand_id, t.version, t.digest, t.language, marketing, channel, accepted, None, ""))
        writer.write(table, rows)
        added, last = added + len(rows), batch[-1][0]
