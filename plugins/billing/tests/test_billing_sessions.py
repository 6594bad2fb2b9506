"""Invoicing honoured sessions through scheduling's published hook (its API books and marks them
here; billing never reads its tables): the week's page, the review dialog, drafts per session or
per patient and month, issuing a batch at once; a session never invoiced twice (service and
database), freed when its draft is deleted, kept when a credit note cancels its note; a secretary
prepares drafts but never issues; a practitioner sees only their own sessions; nothing without
scheduling."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlmodel import select

from carnet_billing.models import Note, NoteLine
from carnet_billing.services import acts, profiles, sessions
from carnet_core.plugin_api import Principal, User, patient_access
from carnet_core.testing import identity_services

WEEK = "2026-03-02"  # a Monday, in the past
PROFILE = {"name": "Claire Martin", "profession": "Orthophoniste", "address": "1 rue des Tilleuls, Lyon",
           "rpps": "10001234567", "siret": "12345678900011", "zone": "metropole"}
HTMX = {"HX-Request": "true"}


@pytest.fixture
def agenda(client, clinic, staff, carnet_db):
    """Claire (owner, practitioner) and Julien (practitioner) with honoured sessions the week of
    WEEK, booked and marked through scheduling's API; Sophie (secretary); a catalogue act."""
    owner = staff("owner,practitioner", email="claire@cabinet.test", name="Claire Martin")
    colleague = staff("practitioner", email="julien@cabinet.test", name="Julien Petit")
    secretary = staff("secretary", email="sophie@cabinet.test", name="Sophie Bernard")
    registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        patients = [patient_access(db, registrar).register({"last_name": name, "first_name": "Élodie",
                                                            "practitioner_id": owner.id})
                    for name in ("Lefèvre", "Moreau")]
        token, _ = identity_services.create_token(db, clinic.id, db.get(User, owner.id), name="api")
        profiles.save(db, owner.id, PROFILE)
        profiles.save(db, colleague.id, {**PROFILE, "name": "Julien Petit", "rpps": "", "adeli": "691234567"})
        act = acts.create(db, label="Séance de rééducation", kind="ngap", letter="AMO", coefficient_hundredths=1010)
        act_id = act.id
    api = {"Authorization": f"Bearer {token}"}
    place = client.post("/api/v1/scheduling/places", json={"name": "Cabinet", "address": "1 rue des Tilleuls"},
                        headers=api).json()["id"]
    kind = client.post("/api/v1/scheduling/appointment-types", json={"name": "Séance", "duration_minutes": 30},
                       headers=api).json()["id"]

    def session(who, patient, day, hour=9, status="honoured"):
        booked = client.post("/api/v1/scheduling/appointments", headers=api, json={
            "practitioner_id": who.id, "patient_id": patient, "appointment_type_id": kind, "place_id": place,
            "starts_at": f"{day}T{hour:02d}:00:00+01:00", "allow_past": True, "allow_outside_hours": True})
        assert booked.status_code == 201, booked.text
        marked = client.post(f"/api/v1/scheduling/appointments/{booked.json()['id']}/status", headers=api,
                             json={"status": status})
        assert marked.status_code == 200, marked.text
        return f"scheduling.appointment:{booked.json()['id']}"

    refs = [session(owner, patients[0], "2026-03-02"), session(owner, patients[1], "2026-03-03"),
            session(owner, patients[0], "2026-03-05"), session(colleague, patients[1], "2026-03-04")]
    session(owner, patients[1], "2026-03-06", status="absent")  # not honoured: never offered
    return {"owner": owner, "colleague": colleague, "secretary": secretary, "patients": patients,
            "refs": refs, "act_id": act_id, "session": session}


def _form(token, refs, act_id, **extra):
    return {"_csrf_token": token, "week": WEEK, "sessions": refs, "act_id": str(act_id), **extra}


def _lines(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        return [(line.session_ref, db.get(Note, line.note_id).status, db.get(Note, line.note_id).patient_id)
                for line in db.exec(select(NoteLine).where(NoteLine.session_ref.is_not(None))
                                    .order_by(NoteLine.session_ref)).all()]


def test_a_week_of_honoured_sessions_is_issued_in_one_batch(client, agenda, login_as, carnet_db, clinic):
    token = login_as(client, agenda["owner"], send_csrf=False)
    page = client.get(f"/billing/sessions?week={WEEK}")
    assert page.status_code == 200
    assert page.text.count('name="sessions"') == 4  # the owner sees everyone's honoured sessions
    assert "LEFÈVRE Élodie" in page.text and "Cabinet, 1 rue des Tilleuls" in page.text
    assert "06/03/2026" not in page.text  # the absent one
    mine = agenda["refs"][:3]
    review = client.post("/billing/sessions/review", data=_form(token, mine, agenda["act_id"]), headers=HTMX)
    assert review.status_code == 200 and "<html" not in review.text  # the dialog's content
    assert "Facturer 3 séances" in review.text and "Créer et émettre les notes" in review.text
    plain = client.post("/billing/sessions/review", data=_form(token, mine, agenda["act_id"]))  # without JavaScript
    assert plain.status_code == 200 and "<html" in plain.text and "Facturer 3 séances" in plain.text
    done = client.post("/billing/sessions/invoice", data=_form(token, mine, agenda["act_id"], issue="1"),
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/billing/"
    lines = _lines(carnet_db, clinic)
    assert [ref for ref, _, _ in lines] == sorted(mine) and {status for _, status, _ in lines} == {"issued"}
    with carnet_db.session(clinic_id=clinic.id) as db:
        issued = db.exec(select(Note).where(Note.status == "issued").order_by(Note.seq)).all()
        assert [n.number[-6:] for n in issued] == ["000001", "000002", "000003"]  # one note per session
        assert {n.total_cents for n in issued} == {2626}
    assert client.get(f"/billing/sessions?week={WEEK}").text.count('name="sessions"') == 1  # Julien's is left
    # the same sessions again: refused with a French message, nothing written
    again = client.post("/billing/sessions/invoice", data=_form(token, mine[:1], agenda["act_id"]),
                        follow_redirects=False)
    assert again.status_code == 422 and "déjà facturée" in again.text
    assert len(_lines(carnet_db, clinic)) == 3


def test_a_month_preference_gathers_a_patients_sessions_on_one_draft(client, agenda, login_as, carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        profiles.save(db, agenda["owner"].id, {**PROFILE, "session_grouping": "month"})
    token = login_as(client, agenda["owner"], send_csrf=False)
    first, second, third = agenda["refs"][:3]
    assert client.post("/billing/sessions/invoice", data=_form(token, [first, second], agenda["act_id"]),
                       follow_redirects=False).status_code == 303
    # a later batch adds the patient's next session of the month to the same draft
    assert client.post("/billing/sessions/invoice", data=_form(token, [third], agenda["act_id"]),
                       follow_redirects=False).status_code == 303
    by_ref = {ref: (status, patient) for ref, status, patient in _lines(carnet_db, clinic)}
    with carnet_db.session(clinic_id=clinic.id) as db:
        drafts = db.exec(select(Note).where(Note.status == "draft")).all()
        assert len(drafts) == 2  # Lefèvre's March (2 sessions) and Moreau's March
        lefevre = next(n for n in drafts if n.patient_id == agenda["patients"][0])
        assert lefevre.total_cents == 2 * 2626 and lefevre.session_group.startswith("month:")
    assert by_ref[first][1] == by_ref[third][1] == agenda["patients"][0]


def test_series_grouping_keys_a_patients_series_and_leaves_others_alone():
    one = sessions.Session("scheduling.appointment:1", 7, 3, date(2026, 3, 2), "Séance", 12, "")
    alone = sessions.Session("scheduling.appointment:2", 7, 3, date(2026, 3, 9), "Séance", None, "")
    assert sessions.group_of(one, "series") == "series:7:12" and sessions.group_of(alone, "series") is None
    assert sessions.group_of(one, "month") == "month:7:2026-03" and sessions.group_of(one, "session") is None


def test_the_database_refuses_a_second_line_for_a_session(agenda, carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        note = Note(practitioner_id=agenda["owner"].id, patient_id=agenda["patients"][0])
        db.add(note)
        db.flush()
        for ref in (None, None, "scheduling.appointment:999"):  # acts typed by hand: no reference
            db.add(NoteLine(note_id=note.id, act_day=date(2026, 3, 2), session_ref=ref))
        db.flush()
    with pytest.raises(sa.exc.IntegrityError):
        with carnet_db.session(clinic_id=clinic.id) as db:
            db.add(NoteLine(note_id=note.id, act_day=date(2026, 3, 3), session_ref="scheduling.appointment:999"))
            db.flush()


def test_a_deleted_draft_frees_its_sessions_a_credit_note_does_not(client, agenda, login_as, carnet_db, clinic):
    token = login_as(client, agenda["owner"], send_csrf=False)
    first, second = agenda["refs"][:2]
    client.post("/billing/sessions/invoice", data=_form(token, [first], agenda["act_id"]))
    client.post("/billing/sessions/invoice", data=_form(token, [second], agenda["act_id"], issue="1"))
    with carnet_db.session(clinic_id=clinic.id) as db:
        draft = db.exec(select(Note).where(Note.status == "draft")).one()
        issued = db.exec(select(Note).where(Note.status == "issued")).one()
    assert client.post(f"/billing/notes/{draft.id}/delete", data={"_csrf_token": token}).status_code == 200
    assert client.post(f"/billing/notes/{issued.id}/credit", data={"_csrf_token": token}).status_code == 200
    left = client.get(f"/billing/sessions?week={WEEK}").text
    assert f'value="{first}"' in left and f'value="{second}"' not in left


def test_a_secretary_prepares_drafts_but_never_issues_a_batch(client, agenda, login_as, carnet_db, clinic):
    token = login_as(client, agenda["secretary"], send_csrf=False)
    review = client.post("/billing/sessions/review", data=_form(token, agenda["refs"][:2], agenda["act_id"]),
                         headers=HTMX)
    assert "Créer les brouillons" in review.text and "Créer et émettre" not in review.text
    refused = client.post("/billing/sessions/invoice",
                          data=_form(token, agenda["refs"][:2], agenda["act_id"], issue="1"))
    assert refused.status_code == 422 and "Seul le praticien de la note" in refused.text
    assert _lines(carnet_db, clinic) == []  # one transaction: nothing written
    assert client.post("/billing/sessions/invoice", data=_form(token, agenda["refs"][:2], agenda["act_id"]),
                       follow_redirects=False).status_code == 303
    assert {status for _, status, _ in _lines(carnet_db, clinic)} == {"draft"}


def test_a_practitioner_sees_and_invoices_only_their_own_sessions(client, agenda, login_as, carnet_db, clinic):
    token = login_as(client, agenda["colleague"], send_csrf=False)
    page = client.get(f"/billing/sessions?week={WEEK}&practitioner={agenda['owner'].id}").text
    assert page.count('name="sessions"') == 1 and f'value="{agenda["refs"][3]}"' in page
    refused = client.post("/billing/sessions/invoice", data=_form(token, agenda["refs"][:1], agenda["act_id"]))
    assert refused.status_code == 422 and _lines(carnet_db, clinic) == []
    done = client.post("/billing/sessions/invoice", data=_form(token, agenda["refs"][3:], agenda["act_id"], issue="1"),
                       follow_redirects=False)
    assert done.status_code == 303  # one note: straight to it
    assert done.headers["location"].startswith("/billing/notes/")


def test_bad_batches_get_french_field_errors(client, agenda, login_as, carnet_db, clinic):
    token = login_as(client, agenda["owner"], send_csrf=False)
    empty = client.post("/billing/sessions/review", data={"_csrf_token": token, "week": WEEK,
                                                          "act_id": str(agenda["act_id"])}, headers=HTMX)
    assert empty.status_code == 422 and "Sélectionnez au moins une séance." in empty.text
    no_act = client.post("/billing/sessions/invoice", data=_form(token, agenda["refs"][:1], "999999"))
    assert no_act.status_code == 422 and "Choisissez un acte du catalogue." in no_act.text
    forged = client.post("/billing/sessions/invoice", data=_form(token, ["scheduling.appointment:999999"],
                                                                 agenda["act_id"]))
    assert forged.status_code == 422
    assert client.get("/billing/sessions?week=n'importe-quoi").status_code == 200
    assert _lines(carnet_db, clinic) == []


def test_without_scheduling_there_is_no_session_to_invoice(client, staff, make_clinic, login_as):
    other = make_clinic("sans-agenda", plugins=["billing"])
    owner = staff("owner,practitioner", clinic=other, email="o@sans-agenda.test")
    login_as(client, owner)
    page = client.get("/billing/sessions")
    assert page.status_code == 200 and "Le module agenda n’est pas activé" in page.text
    assert 'href="/billing/sessions"' not in client.get("/billing/").text


def _selected(html, ref):
    """The act id selected in a session's row ('' for “the act below”)."""
    import re

    row = re.search(rf'<select name="act:{re.escape(ref)}".*?</select>', html, re.S).group(0)
    picked = re.search(r'<option value="(\d*)" selected>', row)
    return picked.group(1) if picked else ""


def test_each_session_proposes_its_own_act_and_a_batch_remembers_it_per_type(client, agenda, login_as, carnet_db,
                                                                            clinic):
    """No silent default: a session of type “Séance” proposes “Séance de rééducation” (named like
    it), never the catalogue's first act; once a batch invoices the type with another act, the
    practitioner's next sessions of that type propose that one (their colleague's do not)."""
    with carnet_db.session(clinic_id=clinic.id) as db:
        bilan = acts.create(db, label="Bilan non remboursé", kind="free", price=Decimal("80")).id
    token = login_as(client, agenda["owner"], send_csrf=False)
    first, second, third, julien = agenda["refs"]
    page = client.get(f"/billing/sessions?week={WEEK}").text
    assert {_selected(page, ref) for ref in agenda["refs"]} == {str(agenda["act_id"])}
    assert '<option value="">— choisir un acte —</option>' in page  # the act for all: none chosen
    # per-session acts in one batch: the first session as a bilan, the second as a séance
    form = {"_csrf_token": token, "week": WEEK, "sessions": [first, second], "act_id": "",
            f"act:{first}": str(bilan), f"act:{second}": str(agenda["act_id"])}
    review = client.post("/billing/sessions/review", data=form, headers=HTMX)
    assert review.status_code == 200 and "1 × Bilan non remboursé" in review.text
    assert "1 × Séance de rééducation (AMO 10.1)" in review.text
    assert client.post("/billing/sessions/invoice", data=form, follow_redirects=False).status_code == 303
    with carnet_db.session(clinic_id=clinic.id) as db:
        cents = {line.session_ref: line.amount_cents for line in db.exec(select(NoteLine)).all()}
    assert cents == {first: 8000, second: 2626}
    # the type was last invoiced as a séance (the batch's order is by day): proposed again
    page = client.get(f"/billing/sessions?week={WEEK}").text
    assert _selected(page, third) == str(agenda["act_id"]) and _selected(page, julien) == str(agenda["act_id"])
    form = {"_csrf_token": token, "week": WEEK, "sessions": [third], f"act:{third}": str(bilan)}
    assert client.post("/billing/sessions/invoice", data=form, follow_redirects=False).status_code == 303
    page = client.get(f"/billing/sessions?week={WEEK}").text
    assert _selected(page, julien) == str(agenda["act_id"])  # Claire's habit is not Julien's
    fresh = agenda["session"](agenda["owner"], agenda["patients"][0], "2026-03-06", hour=11)
    page = client.get(f"/billing/sessions?week={WEEK}").text
    assert _selected(page, fresh) == str(bilan)  # Claire's next “Séance”: a bilan, as last time


def test_a_session_without_an_act_is_refused_and_nothing_is_written(client, agenda, login_as, carnet_db, clinic):
    token = login_as(client, agenda["owner"], send_csrf=False)
    first, second = agenda["refs"][:2]
    form = {"_csrf_token": token, "week": WEEK, "sessions": [first, second], "act_id": "",
            f"act:{first}": str(agenda["act_id"])}
    review = client.post("/billing/sessions/review", data=form, headers=HTMX)
    assert "Choisissez un acte pour chaque séance" in review.text
    refused = client.post("/billing/sessions/invoice", data=form, follow_redirects=False)
    assert refused.status_code == 422 and "Choisissez un acte pour chaque séance" in refused.text
    unknown = client.post("/billing/sessions/invoice", data={**form, f"act:{second}": "999999"},
                          follow_redirects=False)
    assert unknown.status_code == 422 and "Choisissez un acte du catalogue" in unknown.text
    assert _lines(carnet_db, clinic) == []
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(Note)).all() == []


def test_an_act_named_like_the_type_is_proposed_only_when_it_is_the_only_one():
    from carnet_billing.models import Act

    seance, groupe, bilan = (Act(id=1, label="Séance de rééducation"), Act(id=2, label="Séance de groupe"),
                             Act(id=3, label="BILAN initial"))
    assert sessions._named_like("bilan Initial", [seance, bilan]) == 3  # same name, accents and case aside
    assert sessions._named_like("Séance", [seance, bilan]) == 1  # the only one holding the type's name
    assert sessions._named_like("seance", [seance, groupe, bilan]) is None  # which one? none proposed
    assert sessions._named_like("", [seance]) is None and sessions._named_like("Visite", [seance]) is None
