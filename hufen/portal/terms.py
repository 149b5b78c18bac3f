"""The membership terms a person agrees to before the portal (or the member API) enrols them.

One version for every brand's program, with the brand's and program's names filled in. A change of
wording is a new `TERMS_VERSION`: consents already given keep the version and the digest of the text
they were shown, so what each person agreed to can always be told apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.utils import translation
from django.utils.translation import gettext as _

from hufen.org.models import Brand

TERMS_VERSION = "2026-11"


@dataclass(frozen=True)
class Terms:
    version: str
    language: str
    title: str
    program_name: str
    clauses: list[str]
    consent_label: str
    marketing_label: str

    @property
    def digest(self) -> str:
        text = "\n".join([self.version, self.title, *self.clauses, self.consent_label])
        return hashlib.sha256(text.encode()).hexdigest()


def program_terms(brand: Brand, program_name: str) -> Terms:
    """The terms of `brand`'s program in the active language."""
    names = {"brand": brand.name, "program": program_name}
    return Terms(
        version=TERMS_VERSION,
        language=translation.get_language() or "zh-hans",
        title=_("%(program)s membership terms") % names,
        program_name=program_name,
        clauses=[
            _(
                "Joining %(program)s is free. %(brand)s gives you a member number, a tier and a points "
                "account; points are earned and spent as the program's rules describe."
            )
            % names,
            _(
                "Points have no cash value, cannot be transferred and expire at the end of their validity, "
                "oldest first. Corrections are made by reversing entries, never by deleting them."
            ),
            _(
                "%(brand)s keeps your name, verified mobile number, vehicles and membership activity to run "
                "the program. Your number is shown masked and only staff with a reason may reveal it; "
                "every reveal is recorded."
            )
            % names,
            _(
                "You can leave the program at any time through customer service; your points then lapse. "
                "The terms may change: a new version is shown to you before it applies."
            ),
        ],
        consent_label=_("I have read and agree to the %(program)s membership terms.") % names,
        marketing_label=_("Also send me Member Day reminders and offers by SMS (optional)."),
    )
