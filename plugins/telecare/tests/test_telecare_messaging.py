"""Secure messaging end to end, over HTTP with the mail folder: a practitioner writes, the patient
is told only that a message waits, opens it with their link and a one-time code, answers; sealed
at rest, every read audited, read receipts, limits on the patient's side, closed conversations,
the care relationship and the télésoin consent asked before writing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import select
from telecare_world import CANARY, code_in, link_in, mail_text, mails, make_world

from carnet_core.testing import AuditRecord, csrf_token, migrations, wait_for_jobs

from carnet_telecare.models import Conversation, Message
from carnet_telecare.settings import TelecareSettings

NOFILE = {"attachment": ("", b"", "application/octet-stream")}  # what a browser sends with no file chosen
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _start(client, patient_id, kind="clinical", subject="Exercices", body=f"Bonjour, {CANARY}", files=None):
    return client.post(f"/telecare/patients/{patient_id}/conversations",
                        data={"kind": kind, "subject": subject, "body": body}, files=files or NOFILE,
                        follow_redirects=False)


def _open_as_patient(app, settings, jobs, address="elodie@example.org"):
    """The patient's browser: the link of the e-mail, a code asked and typed. Returns (client, path, page)."""
    patient = TestClient(app=app, base_url="http://127.0.0.1:8000")
    patient.__enter__()
    path = link_in(settings, address)
    first = patient.get(path)
    assert first.status_code == 200 and "Recevoir un code" in first.text, first.text
    token = csrf_token(patient, path)
    asked = patient.post(f"{path}/code", data={"_csrf_token": token})
    assert asked.status_code == 200
    wait_for_jobs(jobs)
    opened = patient.post(f"{path}/verify", data={"_csrf_token": token, "code": code_in(settings, address)})
    return patient, path, opened, token


def test_a_message_goes_sealed_the_notice_says_nothing_and_the_patient_answers_with_a_code(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    started = _start(client, world.patient, files={"attachment": ("bilan.pdf", PDF, "application/pdf")})
    assert started.status_code == 303, started.text
    wait_for_jobs(jobs_worker)
    # the notification: no subject, no body, no name of the file; a link without patient data
    notice = [m for m in mails(carnet_settings) if m["To"] == "elodie@example.org"]
    assert len(notice) == 1
    text = mail_text(notice[0]) + str(notice[0]["Subject"])
    assert "nouveau message" in text
    for secret in (CANARY, "Exercices", "bilan", "Lefèvre", "Élodie"):
        assert secret not in text
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        assert opened.status_code == 200 and CANARY in opened.text and "bilan.pdf" in opened.text
        answered = patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "<script>alert(1)</script> Merci"},
                                files=NOFILE, follow_redirects=False)
        assert answered.status_code == 303, answered.text
        shown = patient.get(path)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Merci" in shown.text and "<script>alert(1)" not in shown.text
    finally:
        patient.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        conversation = db.exec(select(Conversation)).one()
        assert conversation.awaiting_since is not None
        rows = db.exec(select(Message).order_by(Message.id)).all()
        assert [m.author for m in rows] == ["staff", "patient"]
        assert rows[0].read_at is not None and rows[1].read_at is None  # the patient read it; staff not yet
        for m in rows:
            assert CANARY.encode() not in bytes(m.body) and b"Merci" not in bytes(m.body)
    # the inbox: one waiting conversation, one unanswered message; opening it gives the read receipt
    inbox = client.get("/telecare/")
    assert inbox.status_code == 200 and "Lefèvre" in inbox.text.upper() or "LEFÈVRE" in inbox.text
    assert client.get(f"/telecare/conversations/{conversation.id}").status_code == 200
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert all(m.read_at is not None for m in db.exec(select(Message)))
        reads = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "telecare_conversation",
                                                 AuditRecord.action == "read")).all()
        actors = {r.actor_kind if hasattr(r, "actor_kind") else r.actor for r in reads}
        assert len(reads) >= 3 and any("patient_link" in str(a) for a in actors)
    # nothing in clear in the database file
    database = Path(str(carnet_db.engine.url.database or ""))
    if database.is_file():
        raw = database.read_bytes() + (Path(f"{database}-wal").read_bytes() if Path(f"{database}-wal").exists() else b"")
        assert CANARY.encode() not in raw and b"alert(1)" not in raw


def test_the_patient_side_is_limited_per_hour_and_a_refusal_writes_nothing(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        limit = TelecareSettings().patient_messages_per_hour
        for n in range(limit):
            assert patient.post(f"{path}/answer", data={"_csrf_token": token, "body": f"Question {n}"},
                                files=NOFILE, follow_redirects=False).status_code == 303
        refused = patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "Encore une"}, files=NOFILE)
        assert refused.status_code == 422 and "dans la dernière heure" in refused.text
    finally:
        patient.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert len(db.exec(select(Message).where(Message.author == "patient")).all()) == limit


def test_a_closed_conversation_cannot_be_answered_and_its_links_stop(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        with carnet_db.session(clinic_id=world.clinic.id) as db:
            conversation_id = db.exec(select(Conversation.id)).one()
        assert client.post(f"/telecare/conversations/{conversation_id}/close", follow_redirects=False).status_code == 303
        refused = patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "Et maintenant ?"}, files=NOFILE)
        assert refused.status_code == 410
    finally:
        patient.__exit__(None, None, None)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Message).where(Message.author == "patient")).all() == []


def test_a_wrong_code_opens_nothing(app, client, login_as, world, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as patient:
        path = link_in(carnet_settings, "elodie@example.org")
        token = csrf_token(patient, path)
        patient.post(f"{path}/code", data={"_csrf_token": token})
        wait_for_jobs(jobs_worker)
        good = code_in(carnet_settings, "elodie@example.org")
        wrong = patient.post(f"{path}/verify", data={"_csrf_token": token, "code": "000000" if good != "000000" else "111111"})
        assert wrong.status_code == 400 and CANARY not in wrong.text
        assert CANARY not in patient.get(path).text  # still asks for a code
        assert patient.post(f"{path}/answer", data={"_csrf_token": token, "body": "x"}, files=NOFILE).status_code == 403


def test_no_message_to_a_patient_without_care_in_the_last_12_months(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    refused = _start(client, world.stranger)
    assert refused.status_code == 422 and "aucune séance depuis 12 mois" in refused.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Conversation)).all() == []


def test_without_a_telesoin_consent_no_message_then_once_signed_it_goes(
        client, login_as, carnet_db, make_clinic, staff, plugin_host):
    from carnet_consent.testing import sign_form

    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-consenti",
                       plugins=("scheduling", "consent", "telecare"))
    login_as(client, world.owner)
    refused = _start(client, world.patient)
    assert refused.status_code == 422 and "télésoin" in refused.text and "formulaire de consentement" in refused.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Conversation)).all() == []
        db.info["principal"] = f"user:{world.owner.id}"
        sign_form(db, world.clinic.id, world.owner.id, world.patient, "telesoin")
    assert _start(client, world.patient).status_code == 303


def test_a_secretary_triages_administrative_conversations_but_never_opens_clinical_ones(
        client, login_as, world, carnet_db, app):
    login_as(client, world.owner)
    assert _start(client, world.patient, kind="clinical").status_code == 303
    assert _start(client, world.other, kind="administrative", subject="Facture", body="Votre facture").status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        ids = {c.kind: c.id for c in db.exec(select(Conversation))}
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as secretary:
        login_as(secretary, world.secretary)
        assert secretary.get(f"/telecare/conversations/{ids['clinical']}").status_code == 404
        assert secretary.get(f"/api/v1/telecare/conversations/{ids['clinical']}").status_code == 404
        assert [c["id"] for c in secretary.get("/api/v1/telecare/conversations").json()] == [ids["administrative"]]
        page = secretary.get(f"/telecare/conversations/{ids['administrative']}")
        assert page.status_code == 200 and "Votre facture" in page.text
        answered = secretary.post(f"/telecare/conversations/{ids['administrative']}/messages",
                                  data={"body": "Elle est prête."}, files=NOFILE, follow_redirects=False)
        assert answered.status_code == 303
        refused = _start(secretary, world.patient, kind="clinical")
        assert refused.status_code == 422


def test_a_refused_attachment_comes_back_on_the_page_and_writes_nothing(client, login_as, world, carnet_db):
    login_as(client, world.owner)
    exe = b"MZ\x90\x00" + b"\x00" * 60 + b"This program cannot be run in DOS mode" + b"\x00" * 200
    refused = _start(client, world.patient, files={"attachment": ("ordonnance.pdf", exe, "application/pdf")})
    assert refused.status_code == 422 and "pas accepté" in refused.text
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Conversation)).all() == [] and db.exec(select(Message)).all() == []


def test_a_patient_link_reaches_only_its_own_conversations_files(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    login_as(client, world.owner)
    assert _start(client, world.other, files={"attachment": ("hugo.pdf", PDF, "application/pdf")}).status_code == 303
    assert _start(client, world.patient, files={"attachment": ("elodie.pdf", PDF, "application/pdf")}).status_code == 303
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        from carnet_telecare.models import Attachment

        files = {a.patient_id: a.id for a in db.exec(select(Attachment))}
    patient, path, opened, token = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        mine = patient.get(f"{path}/files/{files[world.patient]}")
        assert mine.status_code == 200 and mine.content == PDF
        assert mine.headers["content-disposition"].startswith("attachment;")
        assert mine.headers["x-content-type-options"] == "nosniff" and "sandbox" in mine.headers["content-security-policy"]
        assert patient.get(f"{path}/files/{files[world.other]}").status_code == 404
    finally:
        patient.__exit__(None, None, None)


def test_invisible_to_a_clinic_that_has_not_enabled_it(client, login_as, carnet_db, make_clinic, staff):
    world = make_world(carnet_db, make_clinic, staff, slug="cabinet-sans", plugins=("scheduling",))
    login_as(client, world.owner)
    assert client.get("/telecare/").status_code == 404
    assert client.get("/api/v1/telecare/conversations").status_code == 404
    assert 'href="/telecare/' not in client.get(f"/patients/{world.patient}").text


def test_the_export_has_the_messages_and_the_erasure_removes_them(client, login_as, world, carnet_db):
    token = login_as(client, world.owner)
    assert _start(client, world.patient, files={"attachment": ("bilan.pdf", PDF, "application/pdf")}).status_code == 303
    document = client.post(f"/patients/{world.patient}/export", data={"_csrf_token": token}).json()
    conversation = document["plugins"]["telecare"]["conversations"][0]
    assert conversation["subject"] == "Exercices" and CANARY in conversation["messages"][0]["body"]
    assert conversation["messages"][0]["attachments"][0]["filename"] == "bilan.pdf"
    erased = client.post(f"/patients/{world.patient}/erase", data={"_csrf_token": token, "reason": "patient_request",
                                                                   "confirm_last_name": "Lefèvre"}, follow_redirects=False)
    assert erased.status_code == 303
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Conversation)).all() == [] and db.exec(select(Message)).all() == []


def test_the_database_refuses_a_message_across_clinics(carnet_db, make_clinic, world):
    other = make_clinic("autre-cabinet")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        conversation = Conversation(patient_id=world.patient, kind="clinical")
        db.add(conversation)
        db.flush()
        conversation_id = conversation.id
    with pytest.raises(sa.exc.IntegrityError), carnet_db.session(clinic_id=other.id) as db:
        db.info["principal"] = "system:tests"
        db.add(Message(conversation_id=conversation_id, patient_id=world.patient, author="staff"))
        db.flush()


def test_models_and_migrations_agree(carnet_db, plugin_host):
    assert [migrations.describe(d) for d in migrations.drift(carnet_db, plugin_host)] == []


def test_times_are_the_clinic_s_not_utc_on_staff_and_patient_pages(
        app, client, login_as, world, carnet_db, carnet_settings, jobs_worker):
    """A message sent at 09:00 UTC in winter reads 10:00 for a Europe/Paris clinic (core's
    datetime_local, the page's clinic's zone), on the thread, the patient's page, the inbox and
    the patient's own page; nothing says '(UTC)'."""
    from datetime import UTC, datetime

    login_as(client, world.owner)
    assert _start(client, world.patient).status_code == 303
    wait_for_jobs(jobs_worker)
    winter = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(Message).values(created_at=winter))
        db.execute(sa.update(Conversation).values(last_message_at=winter))
        conversation_id = db.exec(select(Conversation.id)).one()
    pages = {"thread": client.get(f"/telecare/conversations/{conversation_id}").text,
             "patient": client.get(f"/telecare/patients/{world.patient}").text,
             "inbox": client.get("/telecare").text}
    patient, _, opened, _ = _open_as_patient(app, carnet_settings, jobs_worker)
    try:
        pages["patient's own"] = opened.text
    finally:
        patient.__exit__(None, None, None)
    for name, text in pages.items():
        assert "15/01/2026" in text and "(UTC)" not in text and "15/01/2026 09:00" not in text, name
    for name in ("thread", "inbox", "patient's own"):
        assert "15/01/2026 10:00" in pages[name], name
