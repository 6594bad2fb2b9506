"""Valid patient links for the demo clinic: the token pages a patient reaches from a message (manage
or confirm an appointment, a freed slot offered from the waiting list, a consent form to sign, a
conversation with the practice), issued the way each plugin issues them, so that a test can open
them past their refusal page. `demo_patient_pages(carnet_db)` -> {name: path}."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from carnet_core.clinics.models import Clinic
from carnet_core.db.base import utcnow
from carnet_core.demo import DEMO_SLUG
from carnet_core.plugin_api import links

LINK_USES = 20  # the sweep opens each page several times (widths, links followed)


def _one(db: Any, sql: str, **params: Any) -> Any:
    row = db.execute(sa.text(sql), params).first()
    assert row is not None, f"the demo data has no row for: {sql}"
    return row


def demo_patient_pages(carnet_db: Any) -> dict[str, str]:
    from sqlmodel import select

    from carnet_consent.services import signing
    from carnet_scheduling.models import Appointment, AppointmentType
    from carnet_scheduling.patient_models import Offer
    from carnet_scheduling.services import booking, waitlist
    from carnet_telecare.models import Access
    from carnet_telecare.services import messaging

    with carnet_db.session(unscoped=True) as db:
        clinic_id = db.execute(sa.select(Clinic.id).where(Clinic.slug == DEMO_SLUG)).scalar_one()
    base = f"/p/{DEMO_SLUG}"
    pages: dict[str, str] = {}
    now = utcnow()
    with carnet_db.session(clinic_id=clinic_id) as db:
        # an appointment in a few days, of a kind booked online (the patient may move it to a free time)
        appt = db.exec(select(Appointment).join(AppointmentType, AppointmentType.id == Appointment.appointment_type_id)
                       .where(Appointment.status == "booked", Appointment.starts_at > now + timedelta(days=3),
                              AppointmentType.bookable_online == True)  # noqa: E712
                       .order_by(Appointment.starts_at)).first()
        assert appt is not None, "the demo data has no appointment bookable online in a few days"
        for name, purpose, path in (("manage", booking.MANAGE, "a"), ("confirm", booking.CONFIRM, "confirm"),
                                    ("confirm by mail", booking.CONFIRM_MAIL, "c")):
            issued = links.issue(db, purpose=purpose, subject_type="scheduling_appointment", subject_id=appt.id,
                                 patient_id=appt.patient_id, expires_in=timedelta(days=2), max_uses=LINK_USES)
            pages[name] = f"{base}/scheduling/{path}/{issued.token}"
        # a freed slot offered from the waiting list: the patient asked for an earlier time
        entry = waitlist.ask_for_earlier(db, appt)
        offer = Offer(entry_id=entry.id, practitioner_id=appt.practitioner_id,
                      appointment_type_id=appt.appointment_type_id, starts_at=appt.starts_at + timedelta(days=1),
                      ends_at=appt.ends_at + timedelta(days=1), expires_at=now + timedelta(hours=20))
        db.add(offer)
        db.flush()
        issued = links.issue(db, purpose=waitlist.OFFER, subject_type="scheduling_offer", subject_id=offer.id,
                             expires_in=timedelta(hours=20), max_uses=LINK_USES)
        offer.link_id = issued.link.id
        db.add(offer)
        pages["offer"] = f"{base}/scheduling/o/{issued.token}"
        # a consent form waiting for its signature
        signer = _one(db, "SELECT s.id, s.patient_id FROM consent_signer s JOIN consent_request r "
                          "ON r.id = s.request_id WHERE s.status = 'pending' AND r.status = 'pending' ORDER BY s.id")
        issued = links.issue(db, purpose=signing.SIGN, subject_type="consent_signer", subject_id=signer.id,
                             patient_id=signer.patient_id, expires_in=signing.SIGN_VALID, max_uses=LINK_USES,
                             code_required=True)
        pages["consent signing"] = f"{base}/consent/s/{issued.token}"
        # a conversation, its code already typed: the thread itself
        talk = _one(db, "SELECT id, patient_id FROM telecare_conversation WHERE status = 'open' ORDER BY id")
        issued = links.issue(db, purpose=messaging.CONVERSATION, subject_type="telecare_conversation",
                             subject_id=talk.id, patient_id=talk.patient_id, code_required=True,
                             expires_in=timedelta(days=2), max_uses=LINK_USES)
        db.add(Access(conversation_id=talk.id, patient_id=talk.patient_id, link_id=issued.link.id, channel="email"))
        db.flush()
        assert links.verify_code(db, issued.link, links.issue_code(db, issued.link), "192.0.2.1")
        pages["telecare thread"] = f"{base}/telecare/m/{issued.token}"
    return pages
