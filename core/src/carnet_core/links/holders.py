"""Who a public "send me a personal link" form stands for, without an account.

The visitor gives the patient's last name and the e-mail address the practice has on file (the
patient's own, or for a minor a holder of parental authority's). Every such form (consent's RGPD
requests, telecare's first message) checks the same things, under the same limits, and must answer
the same page whether or not anybody matched, so that it tells nobody who is a patient:

- both fields are checked first, every problem reported at once (`InvalidInput`, nothing written);
- a visitor's address with too many misses, or an e-mail address that already received its
  share of messages in the window, is refused (`Throttled`): core's link counters;
- the lookup runs on the blind indexes under a `patient_link` principal named after the form, so
  the few values it opens are audited to the form;
- a miss counts against the visitor's address.

The link itself is the plugin's: it goes to the address on file that matched (`Holder.email`),
never to one only typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from carnet_core.db.session import CarnetSession
from carnet_core.errors import FieldError, InvalidInput
from carnet_core.i18n import N_
from carnet_core.inputs import text_problem
from carnet_core.links.services import address_throttled, contact_allowed, note_failure

NAME_LIMIT = 100
EMAIL_LIMIT = 254
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Throttled(Exception):
    """Too many tries from this visitor, or too many messages for this address: try again later."""


@dataclass(frozen=True)
class Holder:
    """A match: the patient, and the holder of parental authority whose address it was (0: the
    patient's own address)."""

    patient_id: int
    guardian_id: int
    email: str

    @property
    def by(self) -> str:
        """Who asked, for the audit record: "patient" or "guardian"."""
        return "guardian" if self.guardian_id else "patient"


def clean_identity(values: dict[str, Any]) -> tuple[str, str]:
    """The last name (spaces folded) and e-mail typed, every problem reported at once."""
    errors: dict[str, FieldError] = {}
    last = " ".join(str(values.get("last_name") or "").split())
    email = str(values.get("email") or "").strip()
    if not last or len(last) > NAME_LIMIT or text_problem(last) is not None:
        errors["last_name"] = FieldError("required", N_("type the patient's last name"))
    if len(email) > EMAIL_LIMIT or not _EMAIL_RE.match(email):
        errors["email"] = FieldError("invalid", N_("type the e-mail address the practice has on file, such as "
                                                   "nom@exemple.fr"))
    if errors:
        raise InvalidInput(errors)
    return last, email


def form_principal(clinic_id: int, form_actor: str) -> Any:
    """The principal a public form reads patients under (audited as `form_actor`)."""
    from carnet_core.web.principal import Principal

    return Principal(kind="patient_link", clinic_id=clinic_id, extra={"actor_id": form_actor})


def find_holder(db: CarnetSession, values: dict[str, Any], address: str | None, *, form_actor: str) -> Holder | None:
    """The patient (or holder of parental authority) of `db`'s clinic the typed last name and
    e-mail address stand for, or None (the miss is counted against the visitor's `address`).
    Raises `InvalidInput` for bad fields and `Throttled` past the limits, writing nothing else."""
    from carnet_core.patients.patient_access import patient_access

    last, email = clean_identity(values)
    if address_throttled(db, address) or not contact_allowed(db, email):
        raise Throttled()
    patients = patient_access(db, form_principal(db.clinic_id, form_actor))
    patient_id = patients.find(email=email, last_name=last)
    if patient_id is not None:
        return Holder(patient_id, 0, email)
    hit = patients.find_by_guardian(email=email, last_name=last)
    if hit is not None:
        return Holder(hit[0], hit[1], email)
    note_failure(db, address)  # a wrong guess counts toward the visitor's limit
    return None
