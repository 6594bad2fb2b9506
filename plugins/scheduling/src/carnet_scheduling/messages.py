"""Messages to patients and practitioners: bodies rendered from the plugin's text templates,
delivered by jobs (e-mail through core's mail transport, SMS through the `send_sms` hook).

What goes in a body: a time, a place, a practitioner's name, links. Never the appointment type
(the care), never notes, never the patient's situation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import (
    N_,
    Attachment,
    CarnetSession,
    Clinic,
    Mail,
    User,
    long_datetime,
    message_environment,
    send_mail,
    send_sms,
)
from carnet_scheduling.models import Appointment, Place


def environment(host: Any) -> Any:
    """The Jinja environment for message templates of this process (built once per host)."""
    return message_environment(host)


@dataclass(frozen=True)
class Lang:
    """The process's host and the locale a message is written in."""

    host: Any
    locale: str = "fr"


def translate(lang: Lang, message: str, **variables: Any) -> str:
    """Translate `message` (extracted like the web's `translate(request, ...)`)."""
    catalogs = environment(lang.host).globals["gettext_catalogs"]
    return catalogs.gettext(lang.locale, message, "scheduling", **variables)


def when_text(moment: datetime, tz: str, locale: str = "fr") -> str:
    """`mardi 1er décembre 2026 à 10:00` in the clinic's time zone (core's `long_datetime`)."""
    return long_datetime(moment, tz, locale)


def public_url(settings: Any, clinic: Clinic, path: str) -> str:
    return f"{settings.base_url}/p/{clinic.slug}/scheduling/{path.lstrip('/')}"


@dataclass
class Facts:
    """What a message may say about an appointment."""

    clinic: Clinic
    when: str
    practitioner: str
    place: str
    starts_at: datetime
    ends_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    def context(self) -> dict[str, Any]:
        return {"clinic_name": self.clinic.name, "when": self.when, "practitioner": self.practitioner,
                "place": self.place, **self.extra}


def appointment_facts(db: CarnetSession, appt: Appointment, lang: Lang) -> Facts:
    clinic = db.get(Clinic, appt.clinic_id)
    assert clinic is not None
    user = db.get(User, appt.practitioner_id)
    place = db.exec(select(Place).where(Place.id == appt.place_id)).first() if appt.place_id else None
    return facts_of(clinic, appt, (user.display_name or "") if user else "", place, lang)


def facts_of(clinic: Clinic, appt: Appointment, practitioner: str, place: Place | None, lang: Lang) -> Facts:
    """`appointment_facts` from rows the caller read already (the reminder job reads them with the
    reminder): the practitioner's display name and the appointment's place (None: the clinic)."""
    place_text = ", ".join(p for p in ((place.name, place.address) if place else (clinic.name,)) if p)
    if place is not None and place.kind == "telesoin":
        place_text = translate(lang, "video session (the link will be sent before)")
    return Facts(
        clinic=clinic, when=when_text(appt.starts_at, clinic.timezone, lang.locale),
        practitioner=practitioner, place=place_text, starts_at=appt.starts_at, ends_at=appt.ends_at,
    )


def render(lang: Lang, template: str, context: dict[str, Any]) -> str:
    return environment(lang.host).get_template(template).render(locale=lang.locale, **context).strip() + "\n"


def deliver_email(settings: Any, to: str, subject: str, text: str, key: str,
                  attachments: list[Attachment] | None = None) -> str:
    """Send with an idempotency key: a repeated delivery (after a crash) replaces, never adds."""
    return send_mail(settings, Mail(to=to, subject=subject, text=text, attachments=attachments or []), key=key)


def deliver_sms(host: Any, settings: Any, to: str, text: str, key: str) -> str:
    return send_sms(host, settings, to, text.strip(), key=key)


def ics_attachment(facts: Facts, uid: str, method: str = "PUBLISH") -> Attachment:
    """An iCalendar event for the patient's calendar (time, place, practitioner; no care name)."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//Carnet//scheduling//FR")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime.now(facts.starts_at.tzinfo))
    event.add("dtstart", facts.starts_at)
    event.add("dtend", facts.ends_at)
    event.add("summary", f"{facts.clinic.name} – {facts.practitioner}".strip(" –"))
    event.add("location", facts.place)
    if method == "CANCEL":
        event.add("status", "CANCELLED")
    cal.add_component(event)
    return Attachment("rendez-vous.ics", cal.to_ical(), "text/calendar")


# Kinds of audited records in words (core's audit pages; `audit_resource_labels`).
AUDIT_RESOURCES = {
    "appointment": N_("appointment"), "scheduling_appointment": N_("appointment"),
    "appointment_notes": N_("appointment notes"), "appointment_reminder": N_("appointment reminder"),
    "scheduling_reminder": N_("appointment reminder"), "calendar_feed": N_("calendar feed"),
    "scheduling_calendar_feed": N_("calendar feed"), "prescription": N_("prescription"),
    "scheduling_prescription": N_("prescription"), "series": N_("series of sessions"),
    "scheduling_series": N_("series of sessions"), "scheduling_appointment_type": N_("appointment type"),
    "scheduling_exception": N_("time off or closure"), "scheduling_offer": N_("waiting-list offer"),
    "scheduling_online_booking": N_("online booking"), "scheduling_place": N_("place"),
    "scheduling_room": N_("room"), "scheduling_practitioner_profile": N_("practitioner's profession"),
    "scheduling_reminder_rule": N_("reminder rule"), "scheduling_reminder_switch": N_("reminders switched off"),
    "scheduling_school_holiday": N_("school holidays"), "scheduling_waiting_entry": N_("waiting-list file"),
    "scheduling_waiting_listing": N_("waiting-list entry"), "scheduling_day": N_("cancelled day"),
    "scheduling_working_hours": N_("working hours"), "scheduling_calendar_setting": N_("school-holiday zone"),
}
