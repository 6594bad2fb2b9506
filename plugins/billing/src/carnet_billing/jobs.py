"""Billing jobs: they take ids, reload state and are safe to run twice (see services/followup.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from carnet_billing.models import NO_EMAIL, PLANNED, SENT, STOPPED, Followup, Note
from carnet_billing.services import followup
from carnet_core.plugin_api import (
    Clinic,
    JobContext,
    Mail,
    already_done,
    links,
    once,
    patient_access,
    record,
    send_mail,
    utcnow,
)

RETRIES = 5


def plan_followups(clinic_id: int, on: str | None = None, *, job: JobContext) -> None:
    """Plan the follow-up steps due today (`on`: an ISO date, for replaying a given day)."""
    with job.session() as db:
        clinic = db.get(Clinic, clinic_id)
        today = date.fromisoformat(on) if on else datetime.now(ZoneInfo(clinic.timezone or "Europe/Paris")).date()
        followup.plan(db, today)


def send_followup(note_id: int, step: int, job: JobContext) -> None:
    """Send one planned step, unless the note was paid or cancelled meanwhile."""
    key = followup.key(note_id, step)
    with job.session() as db:
        row = db.exec(select(Followup).where(Followup.note_id == note_id, Followup.step == step)).first()
        if row is None or row.status != PLANNED:
            return
        if already_done(db, key):
            row.status, row.sent_at = SENT, utcnow()
            db.add(row)
            return
        note = db.get(Note, note_id)
        if note is None or not followup.still_unpaid(db, note):
            row.status = STOPPED
            db.add(row)
            return
        contact = patient_access(db, f"job:{job.actor}").contact(note.patient_id, "email")
        if contact is None or not contact.email:
            row.status = NO_EMAIL
            db.add(row)
            return
        clinic = db.get(Clinic, db.clinic_id)
        issued = links.issue(db, purpose=followup.VIEW, subject_type="billing_note", subject_id=note.id,
                             patient_id=note.patient_id, expires_in=timedelta(days=followup.LINK_DAYS),
                             max_uses=followup.LINK_USES)
        url = job.patient_url(clinic.slug, f"n/{issued.token}")
        address, clinic_name, patient_id = contact.email, clinic.name, note.patient_id
    body = job.render("billing/messages/followup.txt", clinic=clinic_name, url=url, days=followup.LINK_DAYS)
    subject = job.render("billing/messages/followup_subject.txt", clinic=clinic_name).strip()
    send_mail(job.settings, Mail(to=address, subject=subject, text=body), key)
    with job.session() as db:
        if not once(db, key):
            return
        row = db.exec(select(Followup).where(Followup.note_id == note_id, Followup.step == step)).first()
        if row is not None:
            row.status, row.sent_at = SENT, utcnow()
            db.add(row)
        record(db, action="send", resource_type="billing_followup", resource_id=note_id, patient_id=patient_id,
               details={"step": step}, actor=f"job:{job.actor}")
