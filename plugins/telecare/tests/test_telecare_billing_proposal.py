"""After a télésoin session's report, billing (when the clinic enabled it) proposes the remote-care
act with its key letter, through telecare's hook `telecare_session_act_proposal` (billing never
reads telecare's tables, telecare never imports billing): TMK for a kiné with the catalogue's TMK
acts, AMO for an orthophoniste; nothing before the report, nothing when billing is disabled."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

from telecare_world import make_world
from test_telecare_hours import ALL_DAYS

from carnet_core.plugin_api import seal, utcnow

from carnet_telecare.models import Session
from carnet_telecare.services import sessions

HOURS = {"days": ALL_DAYS, "opens": "09:00", "closes": "18:00", "auto_reply": "Réponse"}


def _ended_session(carnet_db, world, report: str | None = "Séance faite, aucun incident.") -> int:
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        start = (utcnow() - timedelta(hours=2)).replace(second=0, microsecond=0)
        session = Session(patient_id=world.patient, practitioner_id=world.owner.id, starts_at=start,
                          ends_at=start + timedelta(minutes=30), status="ended", ended_at=start + timedelta(minutes=30))
        db.add(session)
        db.flush()
        sessions.add_event(db, session, "ended", f"user:{world.owner.id}")
        if report:
            seal(db, session, "report", report)
        db.add(session)
        db.flush()
        return session.id  # type: ignore[return-value]


def test_hook_telecare_session_act_proposal_billing_proposes_the_kines_tmk_act_after_the_report(
        client, login_as, carnet_db, make_clinic, staff):
    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-kine",
                       plugins=("scheduling", "billing", "telecare"))
    login_as(client, world.owner)
    assert client.post("/telecare/hours", data={**HOURS, "profession": "kinesitherapeute"},
                       follow_redirects=False).status_code == 303
    added = client.post("/billing/acts", data={"kind": "ngap", "act_label": "Rééducation du rachis (télésoin)",
                                               "act_letter": "TMK", "act_coefficient": "7,5"},
                        follow_redirects=False)
    assert added.status_code == 303, added.text
    assessment = client.post("/billing/acts", data={"kind": "ngap", "act_label": "Bilan diagnostique kinésithérapique",
                                                    "act_letter": "TMK", "act_coefficient": "8,1"},
                             follow_redirects=False)
    assert assessment.status_code == 303  # never proposed: an initial assessment cannot be made remotely
    before = unescape(client.get(f"/telecare/sessions/{_ended_session(carnet_db, world, report=None)}").text)
    assert "lettre clé" not in before  # no report yet: nothing proposed
    shown = unescape(client.get(f"/telecare/sessions/{_ended_session(carnet_db, world)}").text)
    assert "L’acte de télésoin se facture avec la lettre clé TMK" in shown
    assert "TMK 7,5" in shown and "Rééducation du rachis (télésoin)" in shown
    assert "TMK 8,1" not in shown and "Bilan diagnostique" not in shown
    assert 'href="/billing/notes/new"' in shown


def test_hook_telecare_session_act_proposal_an_orthophoniste_without_the_act_is_sent_to_the_catalogue(
        client, login_as, carnet_db, make_clinic, staff):
    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-ortho",
                       plugins=("scheduling", "billing", "telecare"))
    login_as(client, world.owner)
    assert client.post("/telecare/hours", data={**HOURS, "profession": "orthophoniste"},
                       follow_redirects=False).status_code == 303
    shown = unescape(client.get(f"/telecare/sessions/{_ended_session(carnet_db, world)}").text)
    assert "lettre clé AMO" in shown and "aucun acte avec cette lettre clé" in shown
    assert 'href="/billing/tariffs"' in shown


def test_hook_telecare_session_act_proposal_nothing_is_shown_when_billing_is_disabled(
        client, login_as, carnet_db, make_clinic, staff):
    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-sans-facturation",
                       plugins=("scheduling", "telecare"))
    login_as(client, world.owner)
    assert client.post("/telecare/hours", data={**HOURS, "profession": "kinesitherapeute"},
                       follow_redirects=False).status_code == 303
    shown = unescape(client.get(f"/telecare/sessions/{_ended_session(carnet_db, world)}").text)
    assert "Séance faite, aucun incident." in shown
    assert "lettre clé" not in shown and "/billing/" not in shown
