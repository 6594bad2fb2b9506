"""`carnet demo`: a month of billing for the demo practitioners — their billing profiles, a small
catalogue of acts, notes for the sessions of the last four weeks (issued, most paid by card,
cheque or transfer, some partly, one cancelled by a credit note) and a few drafts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from carnet_billing import permissions as perm
from carnet_billing.models import TypeAct
from carnet_billing.services import acts, notes, payments, profiles
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import Principal

PROFESSIONS = (
    ("Orthophoniste", "12 rue des Tilleuls, 69003 Lyon", "AMO", 1010, "Séance de rééducation orthophonique"),
    ("Masseur-kinésithérapeute", "12 rue des Tilleuls, 69003 Lyon", "AMK", 750, "Séance de kinésithérapie"),
)
# the agenda's session type of each profession (scheduling's demo names it so), and the act the
# practitioner invoiced it with last: what the batch page proposes for their next sessions
SESSION_TYPES = {"AMO": "Séance d'orthophonie", "AMK": "Séance de kinésithérapie"}
METHODS = ("card", "cheque", "transfer", "card", "cash")
WEEKS = 4


def fill(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    practitioners = list(context.get("practitioners") or [])[:2]
    patients = list(context.get("patients") or [])
    if not practitioners or not patients:
        return
    previous = db.info.get("principal")
    db.info["principal"] = previous or "system:demo"
    try:
        _fill(db, clinic, practitioners, patients)
    finally:
        db.info["principal"] = previous


def _principal(clinic: Any, user: Any) -> Principal:
    granted = frozenset({perm.VIEW, perm.PREPARE, perm.ISSUE, perm.PAYMENTS, perm.PROFILE, "core.patients.view",
                         "core.patients.view_all"})
    return Principal(kind="user", user_id=user.id, clinic_id=clinic.id, roles=frozenset({"owner", "practitioner"}),
                     permissions=granted)


def _fill(db: Any, clinic: Any, practitioners: list[Any], patients: list[Any]) -> None:
    today = notes.clinic_today(db)
    acts.create(db, label="Bilan orthophonique", kind="ngap", letter="AMO", coefficient_hundredths=3420)
    acts.create(db, label="Bilan non remboursé", kind="free", price=Decimal("60.00"))
    session_acts = {letter: acts.create(db, label=label, kind="ngap", letter=letter, coefficient_hundredths=coefficient)
                    for _, _, letter, coefficient, label in PROFESSIONS}
    for n, user in enumerate(practitioners):
        profession, address, letter, coefficient, label = PROFESSIONS[n % len(PROFESSIONS)]
        db.add(TypeAct(practitioner_id=user.id, type_name=SESSION_TYPES[letter], act_id=session_acts[letter].id))
        profiles.save(db, user.id, {
            "name": user.display_name or user.email, "profession": profession, "address": address,
            "rpps": f"1000{n + 1:07d}", "siret": f"8{n + 1:02d}12345600018", "zone": "metropole",
            "conventionne": True, "footer": "Paiement à réception. Merci.",
        })
        who = _principal(clinic, user)
        mine = patients[n::len(practitioners)][:6]
        for k, patient in enumerate(mine):
            note = notes.create_draft(db, who, practitioner_id=user.id, patient_id=patient.id)
            for week in range(WEEKS):
                act_day = today - timedelta(days=7 * (WEEKS - week) - k % 5)
                notes.add_line(db, who, note.id, LineInput(act_day=min(act_day, today), letter=letter,
                                                           coefficient_hundredths=coefficient, label=label,
                                                           place="Cabinet"))
            if k == len(mine) - 1:
                continue  # a draft left to issue
            notes.issue(db, who, note.id)
            if k == 0:
                notes.credit(db, who, note.id, Decimal(note.total_cents // 2) / 100)  # half cancelled
            elif k == 1:
                payments.record(db, who, note.id, amount=Decimal(note.total_cents // 2) / 100, paid_on=today,
                                method="cheque")
            elif k < 4:
                payments.record(db, who, note.id, amount=Decimal(note.total_cents) / 100, paid_on=today,
                                method=METHODS[k % len(METHODS)])
