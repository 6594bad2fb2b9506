"""The messaging panel of a patient's page: counts and a link (cheap: it runs on every patient view)."""

from __future__ import annotations

from typing import Any

from carnet_core.plugin_api import N_, Count, Link, Nn_, Panel, SettingsItem, count_panel

from carnet_telecare import permissions as perm
from carnet_telecare.services.messaging import count_for


def settings_items() -> list[SettingsItem]:
    """Messaging's settings pages on core's Réglages page."""
    return [
        SettingsItem(N_("Messaging settings"), "/telecare/settings",
                     N_("Whether patients in care may start a conversation with the practice."),
                     permission=perm.MANAGE, theme="messages", order=10),
        SettingsItem(N_("Messaging hours"), "/telecare/hours",
                     N_("When you read messages, your automatic reply and your daily cap."),
                     permission=perm.CLINICAL, theme="messages", order=20),
        SettingsItem(N_("Answer templates"), "/telecare/templates",
                     N_("Frequent answers to insert into a reply, yours and the practice's."),
                     permission=perm.WRITE, theme="messages", order=30),
    ]


def home_panel(clinic: Any, user: Any, db: Any) -> list[Any]:
    """The home page's messaging panel: patient messages waiting to be read and today's remote
    sessions (a practitioner's own, the practice's for the others), numbers and a link."""
    from carnet_telecare.services import messaging, sessions

    unread = Count(lambda: messaging.unread_count(db, user), Nn_("unread patient message", "unread patient messages"),
                   N_("No unread patient message."), href="/telecare/")
    today = Count(lambda: sessions.today_count(db, user, getattr(clinic, "timezone", None)),
                  Nn_("remote session today", "remote sessions today"), N_("No remote session today."))
    return [count_panel(N_("Messaging and telecare"), [unread, today], [Link(N_("Open the messages"), "/telecare/")],
                        permission=perm.VIEW, order=45)]


def patient_panel(patient: Any, user: Any, db: Any) -> list[Any]:
    if user is None or not user.can(perm.VIEW) or getattr(patient, "id", None) is None:
        return []
    opened, waiting = count_for(db, user, patient.id)
    return [Panel(title=N_("Secure messages"), template="telecare/_patient_panel.html",
                  context={"patient_id": patient.id, "open": opened, "waiting": waiting,
                           "can_write": user.can(perm.WRITE)},
                  permission=perm.VIEW, order=45)]
