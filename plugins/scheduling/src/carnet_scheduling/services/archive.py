"""Scheduling's part of the clinic export (core's `export_clinic_data`): every row, the agenda as
FHIR R4 Appointments and as a CSV a person can read; and its import (`import_clinic_data`): every
row back under its id. A calendar feed's secret link does not travel: an imported feed gets a new
secret nobody knows, so its practitioner makes its link again."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

from carnet_core.plugin_api import insert_records, table_records

# Carnet's statuses in FHIR's appointmentstatus codes
FHIR_STATUS = {"booked": "booked", "honoured": "fulfilled", "absent": "noshow", "excused": "cancelled",
               "cancelled": "cancelled"}


def models() -> list[Any]:
    """Every scheduling table, parents before the rows that point at them."""
    from carnet_scheduling import models as m

    return [m.Place, m.Room, m.WorkingHours, m.AvailabilityException, m.SchoolHoliday, m.CalendarSetting,
            m.AppointmentType,
            m.PractitionerProfile, m.Prescription, m.Series, m.Appointment, m.CalendarFeed, m.ReminderRule,
            m.ReminderSwitch, m.Reminder, m.OnlineBooking, m.WaitingEntry, m.WaitingListing, m.Offer]


def fhir_appointment(record: dict[str, Any]) -> dict[str, Any]:
    """An appointment record (opened) as a FHIR R4 Appointment."""
    resource: dict[str, Any] = {
        "resourceType": "Appointment", "id": f"appointment-{record['id']}",
        "status": FHIR_STATUS.get(record["status"], "booked"),
        "start": record["starts_at"], "end": record["ends_at"], "created": record["created_at"],
        "participant": [
            {"actor": {"reference": f"Patient/patient-{record['patient_id']}"}, "status": "accepted"},
            {"actor": {"reference": f"Practitioner/user-{record['practitioner_id']}"}, "status": "accepted"},
        ],
    }
    if record.get("notes"):
        resource["comment"] = record["notes"]
    return resource


def clinic_records(db: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every scheduling row of the session's clinic, then the agenda as FHIR and as CSV."""
    from carnet_scheduling.models import Appointment, CalendarFeed

    for model in models():
        # a calendar feed's secret is stored hashed; the hash is of no use elsewhere and stays here
        exclude = ("token_hash",) if model is CalendarFeed else ()
        entity = model.__tablename__.removeprefix("scheduling_")
        for record in table_records(db, model, exclude=exclude):
            yield entity, record
    for record in table_records(db, Appointment):
        yield "fhir:Appointment", fhir_appointment(record)
    for record in table_records(db, Appointment):
        yield "csv:agenda", {
            "id": record["id"], "debut": record["starts_at"], "fin": record["ends_at"],
            "patient_id": record["patient_id"], "praticien_id": record["practitioner_id"],
            "statut": record["status"], "serie_id": record["series_id"], "notes": record["notes"],
        }


def _new_feed_secret(record: dict[str, Any]) -> dict[str, Any]:
    return {"token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest()}


def import_records(db: Any, archive: Any) -> dict[str, int]:
    """Every scheduling row of the archive, parents first."""
    from carnet_scheduling.models import CalendarFeed

    written = {}
    for model in models():
        entity = model.__tablename__.removeprefix("scheduling_")
        fill = _new_feed_secret if model is CalendarFeed else None
        written[entity] = insert_records(db, model, archive.records(entity), fill=fill)
    return written
