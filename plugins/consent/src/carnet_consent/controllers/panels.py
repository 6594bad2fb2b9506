"""The consent panel of a patient's page: counts and a link (cheap: it runs on every patient view)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import N_, Count, Link, Nn_, Panel, SettingsItem, count_panel

from carnet_consent import permissions as perm
from carnet_consent.controllers.common import labels, purpose_label
from carnet_consent.models import Request
from carnet_consent.services import decisions


def settings_items() -> list[SettingsItem]:
    """Consent's settings pages on core's Réglages page."""
    return [
        SettingsItem(N_("Consent forms"), "/consent/#forms",
                     N_("Write, publish and archive the forms patients sign."),
                     permission=perm.MANAGE, theme="patients", order=20),
        SettingsItem(N_("Consent settings"), "/consent/settings",
                     N_("Who looked at my file, signing links by SMS, reminders for unsigned forms."),
                     permission=perm.MANAGE, theme="patients", order=30),
    ]


def home_panel(user: Any, db: Any) -> list[Any]:
    """The home page's count of forms sent and not signed yet (the clinic's, as the consent page
    lists them): a number and a link, no names."""
    from sqlalchemy import func

    pending = Count(lambda: db.exec(select(func.count()).select_from(Request).where(Request.status == "pending")).one(),
                    Nn_("form waiting for signature", "forms waiting for signature"),
                    N_("No form waiting for signature."))
    return [count_panel(N_("Consents"), [pending], [Link(N_("Open the consents"), "/consent/")],
                        permission=perm.VIEW, order=40)]


def patient_panel(patient: Any, user: Any, db: Any) -> list[Any]:
    if user is None or not user.can(perm.VIEW) or getattr(patient, "id", None) is None:
        return []
    statuses = list(db.exec(select(Request.status).where(Request.patient_id == patient.id)))
    current = decisions.current(db, patient.id)
    context = {"patient_id": patient.id, "pending": statuses.count("pending"), "complete": statuses.count("complete"),
               "given": [purpose_label(c.purpose) for c in current if c.allowed],
               "refused": [purpose_label(c.purpose) for c in current if not c.allowed
                           and c.source == "signature"],
               "withdrawn": [purpose_label(c.purpose) for c in current if not c.allowed and c.source != "signature"],
               **labels()}
    return [Panel(title=N_("Consents"), template="consent/_patient_panel.html", context=context,
                  permission=perm.VIEW, order=40)]
