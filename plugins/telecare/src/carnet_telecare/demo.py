"""`carnet demo`: two conversations of the practice with demo patients: a clinical one where the
patient answered (waiting for the practitioner, unread) and an administrative one for the
secretariat; a télésoin session planned for tomorrow; an answer template of the owner and one of
the practice. Demo rows are written as they would be after
the rules were met: the first demo patient is in care and signed consent's télésoin form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from carnet_core.plugin_api import seal, utcnow

from carnet_telecare.models import Session, Template
from carnet_telecare.services import messaging, sessions

CLINICAL = [
    ("staff", "Bonjour, voici les exercices de la semaine : lecture à voix haute 10 minutes par jour."),
    ("patient", "Merci ! Est-ce qu'on peut faire les exercices le soir plutôt que le matin ?"),
]
TEMPLATES = [  # (the owner's own: True; the practice's: False), title, text
    (True, "Exercices du soir", "Bonjour, vous pouvez faire les exercices le soir : l'essentiel est de les faire "
                                "chaque jour, 10 minutes, au calme."),
    (False, "Attestation prête", "Bonjour, votre attestation est prête : elle vous sera remise à la prochaine "
                                 "séance, ou envoyée par ce fil si vous préférez."),
]
ADMINISTRATIVE = [("staff", "Bonjour, votre attestation de paiement est prête : nous vous la remettrons "
                            "à la prochaine séance.")]


def fill(clinic: Any, db: Any, context: dict[str, Any]) -> None:
    owner = context.get("owner")
    patients = list(context.get("patients") or [])
    if owner is None or len(patients) < 2:
        return
    previous = db.info.get("principal")
    db.info["principal"] = previous or "system:demo"
    try:
        for patient, kind, subject, lines in ((patients[0], "clinical", "Exercices de la semaine", CLINICAL),
                                              (patients[1], "administrative", "Attestation de paiement",
                                               ADMINISTRATIVE)):
            conversation, _first = messaging.open_conversation(db, patient.id, kind, subject, lines[0][1], None,
                                                               owner.id, owner.id)
            for author, text in lines[1:]:
                if author == "patient":
                    messaging.store_patient_message(db, conversation, text, None, None)
        for own, title, text in TEMPLATES:
            template = Template(user_id=owner.id if own else None)
            db.add(template)
            seal(db, template, "title", title)
            seal(db, template, "body", text)
        start = (utcnow() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        session = Session(patient_id=patients[0].id, practitioner_id=owner.id, starts_at=start,
                          ends_at=start + timedelta(minutes=30))
        db.add(session)
        db.flush()
        sessions.add_event(db, session, "planned", f"user:{owner.id}")
    finally:
        db.info["principal"] = previous
