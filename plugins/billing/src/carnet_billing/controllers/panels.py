"""The patient page's billing panel: the patient's notes this person may see, each with its state,
and the patient's balance (what is still due on their issued notes)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from carnet_billing import permissions as perm
from carnet_billing.models import NOTE, Note
from carnet_billing.money import euros
from carnet_billing.services import notes, payments
from carnet_core.plugin_api import N_, Count, Link, Nn_, Panel, SettingsItem, count_panel, record

SHOWN = 10


def settings_items() -> list[SettingsItem]:
    """Billing's settings pages on core's Réglages page."""
    return [
        SettingsItem(N_("Billing profile"), "/billing/profile",
                     N_("Your name, RPPS or ADELI number, SIRET and tariff zone, printed on each note you issue."),
                     permission=perm.PROFILE, theme="billing", order=10),
        SettingsItem(N_("Tariffs"), "/billing/tariffs", N_("Key letter values and the acts of the practice."),
                     permission=perm.MANAGE, theme="billing", order=20),
        SettingsItem(N_("Follow-up by e-mail"), "/billing/followup#schedule-title",
                     N_("How many days after a note is issued an unpaid note is recalled to the patient."),
                     permission=perm.MANAGE, theme="billing", order=30),
        SettingsItem(N_("Integrity of the notes"), "/billing/verify",
                     N_("Check that the numbering and the chain of issued notes are intact."),
                     permission=perm.MANAGE, theme="billing", order=40),
    ]


def home_panel(user: Any, db: Any) -> list[Panel]:
    """The home page's count of issued notes still (partly) unpaid that this person sees (owners
    and secretaries: the practice's; a practitioner: their own): a number and links, one query."""
    from carnet_billing.services import followup

    unpaid = Count(lambda: followup.unpaid_count(db, user), Nn_("unpaid note", "unpaid notes"),
                   N_("No unpaid note."))
    return [count_panel(N_("Billing"), [unpaid], [Link(N_("See the unpaid notes"), "/billing/followup"),
                                                  Link(N_("Notes d'honoraires"), "/billing/")],
                        permission=perm.VIEW, order=30)]


def patient_panel(patient: Any, user: Any, db: Any) -> list[Panel]:
    if user is None or not user.can(perm.VIEW) or getattr(patient, "id", None) is None:
        return []
    rows = list(db.exec(select(Note).where(Note.patient_id == patient.id, notes.visible_filter(user))
                        .order_by(Note.id.desc())).all())  # type: ignore[union-attr]
    balances = {n.id: payments.balance(db, n) for n in rows}
    due = sum(b.due_cents for n in rows if n.kind == NOTE and n.status == "issued" for b in [balances[n.id]])
    record(db, action="read", resource_type="billing_note", patient_id=patient.id,
           details={"view": "patient-panel", "count": len(rows)})
    from carnet_billing.controllers.pages import KIND_LABELS, STATUS_LABELS

    context = {"notes": rows[:SHOWN], "more": len(rows) > SHOWN, "balances": balances, "due": due, "euros": euros,
               "status_labels": STATUS_LABELS, "kind_labels": KIND_LABELS, "patient_id": patient.id}
    return [Panel(N_("Billing"), "billing/_patient_panel.html", context, order=30, permission=perm.VIEW)]
