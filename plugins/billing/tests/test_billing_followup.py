"""Unpaid follow-up through core's outbox and jobs (the mail folder read back): exactly once per
step, only the latest step of a late note, none once paid or cancelled, no amount, act or name in
the e-mail; the link opens and downloads the note, then expires. The clinic's schedule is set by
owners (French field error otherwise); the unpaid page lists each note's steps."""

import email
import email.policy
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from billing_world import make_world, principal
from sqlmodel import select

from carnet_billing.models import Followup
from carnet_billing.services import followup, notes, payments
from carnet_billing.services.errors import BillingInvalid
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import Principal, enqueue, patient_access
from carnet_core.testing import OutboxMessage, behind_the_back, wait_for_jobs

LABEL = "Rééducation du bégaiement"


@pytest.fixture
def world(carnet_db, make_team):
    world = make_world(carnet_db, make_team, slug="cabinet-relance")
    registrar = Principal(kind="user", user_id=None, clinic_id=world.clinic.id, roles=frozenset({"owner"}))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        world.patients.append(patient_access(db, registrar).register({
            "last_name": "Dupont", "first_name": "Léa", "email": "lea.dupont@example.org",
            "practitioner_id": world.owner.id}))
        followup.save_schedule(db, "J+15, J+30")
    return world


def _issue(carnet_db, world, patient=-1) -> tuple[int, date]:
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        note = notes.create_draft(db, owner, practitioner_id=world.owner.id, patient_id=world.patients[patient])
        notes.add_line(db, owner, note.id, LineInput(act_day=date(2026, 3, 2), letter="AMO",
                                                     coefficient_hundredths=1010, label=LABEL))
        notes.issue(db, owner, note.id)
        return note.id, note.issued_on


def _plan(carnet_db, world, jobs, day):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        enqueue(db, "billing.plan_followups", world.clinic.id, day.isoformat())
    wait_for_jobs(jobs)


def _mails(settings):
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(Path(settings.mail_dir).glob("*.eml"))]


def _steps(carnet_db, world, note_id):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return [(f.step, f.status) for f in db.exec(select(Followup).where(Followup.note_id == note_id)
                                                    .order_by(Followup.step)).all()]


@pytest.mark.pdf  # the note's PDF, rendered by the worker
def test_each_step_is_sent_once_with_a_link_and_no_amount_act_or_name(
        carnet_db, world, jobs_worker, carnet_settings, client):
    note_id, issued_on = _issue(carnet_db, world)
    _plan(carnet_db, world, jobs_worker, issued_on + timedelta(days=14))
    assert _mails(carnet_settings) == []  # not due yet
    for _ in range(2):  # J+15, planned twice (two scheduler runs the same day): one e-mail
        _plan(carnet_db, world, jobs_worker, issued_on + timedelta(days=15))
    sent = _mails(carnet_settings)
    assert len(sent) == 1 and sent[0]["To"] == "lea.dupont@example.org"
    body = sent[0].get_content()
    assert "en attente de règlement" in body and f"/p/{world.clinic.slug}/billing/n/" in body
    for secret in ("26,26", "26.26", "AMO", LABEL, "Dupont", "DUPONT", "Léa"):
        assert secret not in body and secret not in str(sent[0]["Subject"])
    assert _steps(carnet_db, world, note_id) == [(15, "sent")]
    # a redelivery of every job sends nothing more
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(OutboxMessage.__table__).values(status="pending", claimed_until=None))
    wait_for_jobs(jobs_worker)
    assert len(_mails(carnet_settings)) == 1
    _plan(carnet_db, world, jobs_worker, issued_on + timedelta(days=30))
    assert len(_mails(carnet_settings)) == 2 and _steps(carnet_db, world, note_id) == [(15, "sent"), (30, "sent")]
    # the link shows the note (amount and act behind the link) and downloads it
    url = body.split(f"/p/{world.clinic.slug}/billing/n/")[1].split()[0]
    shown = client.get(f"/p/{world.clinic.slug}/billing/n/{url}")
    assert shown.status_code == 200 and "26,26" in shown.text and LABEL in shown.text and "DUPONT Léa" in shown.text
    download = client.get(f"/p/{world.clinic.slug}/billing/n/{url}/download")  # the worker's PDF/A
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert download.headers["content-type"] == "application/pdf" and download.content.startswith(b"%PDF")
    behind_the_back(carnet_db, "DELETE FROM billing_document")  # not rendered yet: a printable page
    printable = client.get(f"/p/{world.clinic.slug}/billing/n/{url}/download")
    assert printable.status_code == 200 and "attachment" in printable.headers["content-disposition"]
    assert "Exonéré de TVA" in printable.text and LABEL in printable.text
    assert client.get(f"/p/{world.clinic.slug}/billing/n/{url[:-2]}xx").status_code == 404


def test_a_late_note_gets_only_its_latest_step(carnet_db, world, jobs_worker, carnet_settings):
    note_id, issued_on = _issue(carnet_db, world)
    _plan(carnet_db, world, jobs_worker, issued_on + timedelta(days=40))
    assert len(_mails(carnet_settings)) == 1
    assert _steps(carnet_db, world, note_id) == [(15, "skipped"), (30, "sent")]


def test_no_follow_up_once_paid_or_cancelled(carnet_db, world, jobs_worker, carnet_settings):
    paid_id, issued_on = _issue(carnet_db, world)
    cancelled_id, _ = _issue(carnet_db, world)
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        payments.record(db, owner, paid_id, amount=Decimal("26.26"), paid_on=issued_on, method="card")
        notes.credit(db, owner, cancelled_id)
    _plan(carnet_db, world, jobs_worker, issued_on + timedelta(days=15))
    assert _mails(carnet_settings) == []
    assert _steps(carnet_db, world, paid_id) == [] and _steps(carnet_db, world, cancelled_id) == []


def test_a_payment_between_planning_and_sending_stops_the_step(carnet_db, world, jobs, carnet_settings):
    note_id, issued_on = _issue(carnet_db, world)
    owner = principal(world, world.owner, "owner", "practitioner")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        followup.plan(db, issued_on + timedelta(days=15))  # planned, its job waiting in the outbox
        payments.record(db, owner, note_id, amount=Decimal("26.26"), paid_on=issued_on, method="cash")
    jobs.start_worker()
    wait_for_jobs(jobs)
    assert _mails(carnet_settings) == [] and _steps(carnet_db, world, note_id) == [(15, "stopped")]


def test_a_patient_without_e_mail_is_noted_not_mailed(carnet_db, world, jobs_worker, carnet_settings):
    note_id, issued_on = _issue(carnet_db, world, patient=0)  # registered without an e-mail
    _plan(carnet_db, world, jobs_worker, issued_on + timedelta(days=15))
    assert _mails(carnet_settings) == [] and _steps(carnet_db, world, note_id) == [(15, "no_email")]


def test_the_schedule_is_checked_and_kept_by_owners(carnet_db, world, client, staff, login_as, clinic):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        for bad in ("0", "15, 400", "abc", "1, 2, 3, 4, 5"):
            with pytest.raises(BillingInvalid):
                followup.save_schedule(db, bad)
        assert followup.schedule(db) == [15, 30]
        assert followup.save_schedule(db, "") == [] and followup.schedule(db) == []
    owner = staff("owner,practitioner", clinic=clinic, email="o@cabinet.test")
    token = login_as(client, owner, send_csrf=False)
    bad = client.post("/billing/followup", data={"days": "J+0", "_csrf_token": token})
    assert bad.status_code == 422 and "4 nombres de jours entre 1 et 365" in bad.text
    assert client.post("/billing/followup", data={"days": "15, 45", "_csrf_token": token},
                       follow_redirects=False).status_code == 303
    assert "J+15, J+45" in client.get("/billing/followup").text


def test_the_yearly_attestation_lists_the_patients_own_payments_per_practitioner(
        carnet_db, world, client, staff, login_as, clinic):
    owner_user = staff("owner,practitioner", clinic=clinic, email="claire@cabinet.test", name="Claire Martin")
    secretary = staff("secretary", clinic=clinic, email="sophie@cabinet.test")
    colleague = staff("practitioner", clinic=clinic, email="julien@cabinet.test")
    from billing_world import PROFILE

    from carnet_billing.services import profiles

    owner = principal(type("W", (), {"clinic": clinic})(), owner_user, "owner", "practitioner")
    registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, owner_user.id, PROFILE)
        patient = patient_access(db, registrar).register({"last_name": "Dupont", "first_name": "Léa",
                                                           "practitioner_id": owner_user.id})
        for day, amount, payer in ((date(2026, 3, 2), "20.00", "patient"), (date(2026, 3, 3), "6.26", "amo")):
            note = notes.create_draft(db, owner, practitioner_id=owner_user.id, patient_id=patient)
            notes.add_line(db, owner, note.id, LineInput(act_day=day, letter="AMO", coefficient_hundredths=1010,
                                                         label=LABEL))
            notes.issue(db, owner, note.id)
            payments.record(db, owner, note.id, amount=Decimal(amount), paid_on=day, method="cheque", payer=payer)
            number = note.number
    year = date.today().year
    login_as(client, secretary)
    page = client.get(f"/billing/patients/{patient}/attestation?year={year}")
    assert page.status_code == 200 and "Attestation de paiement" in page.text
    assert "DUPONT Léa" in page.text and "20,00" in page.text and "Total reçu : 20,00" in page.text
    assert "6,26" not in page.text  # the Assurance Maladie's part is not the patient's payment
    assert LABEL not in page.text and "AMO" not in page.text  # amounts and numbers, no act
    assert number[:4] == str(year)
    assert "Aucun règlement" in client.get(f"/billing/patients/{patient}/attestation?year=2001").text
    assert client.get(f"/billing/patients/{patient}/attestation?year=abc").status_code == 200
    assert client.get("/billing/patients/999999/attestation").status_code == 404
    client.cookies.clear()
    login_as(client, colleague)  # another practitioner: not their patient, not their notes
    assert client.get(f"/billing/patients/{patient}/attestation").status_code == 404


@pytest.mark.pdf  # rendered by the worker, read back with pypdf
def test_the_attestation_pdf_is_built_by_the_worker_kept_sealed_and_downloaded_audited(
        carnet_db, client, staff, login_as, clinic, jobs_worker):
    import io
    import re

    import pypdf
    from billing_world import PROFILE

    from carnet_billing.models import Attestation
    from carnet_billing.services import attestation, profiles
    from carnet_core.testing import AuditRecord

    owner_user = staff("owner,practitioner", clinic=clinic, email="claire@cabinet.test", name="Claire Martin")
    secretary = staff("secretary", clinic=clinic, email="sophie@cabinet.test")
    colleague = staff("practitioner", clinic=clinic, email="julien@cabinet.test")
    owner = principal(type("W", (), {"clinic": clinic})(), owner_user, "owner", "practitioner")
    registrar = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
    year = date.today().year
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, owner_user.id, {**PROFILE, "adeli": "691234567"})
        patient = patient_access(db, registrar).register({"last_name": "Dupont", "first_name": "Léa",
                                                           "practitioner_id": owner_user.id})
        numbers = []
        for day, amount, payer in ((date(2026, 3, 2), "20.00", "patient"), (date(2026, 3, 3), "6.26", "amo"),
                                   (date(2026, 3, 9), "5.50", "patient")):
            note = notes.create_draft(db, owner, practitioner_id=owner_user.id, patient_id=patient)
            notes.add_line(db, owner, note.id, LineInput(act_day=day, letter="AMO", coefficient_hundredths=1010,
                                                         label=LABEL))
            notes.issue(db, owner, note.id)
            payments.record(db, owner, note.id, amount=Decimal(amount), paid_on=day,
                            method="card" if payer == "patient" else "transfer", payer=payer)
            numbers.append(note.number)
    token = login_as(client, secretary)
    page = client.get(f"/billing/patients/{patient}/attestation?year={year}")
    ask = f"/billing/patients/{patient}/attestation.pdf"
    assert page.status_code == 200 and f'action="{ask}"' in page.text
    # asking renders nothing in the request: a row and a job, then the page that follows it
    asked = client.post(ask, data={"year": str(year), "_csrf_token": token}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/billing/attestations/")
    state_url = asked.headers["location"]
    pending = client.get(state_url)
    assert pending.status_code == 200 and "en cours de préparation" in pending.text
    assert f'hx-get="{state_url}"' in pending.text and 'hx-trigger="every 2s"' in pending.text  # htmx polls
    link = f"{state_url}/pdf"
    assert "%PDF" not in client.get(link).text  # not ready: the page again, no file
    # asked twice while pending: the same attestation, one job
    again = client.post(ask, data={"year": str(year), "_csrf_token": token}, follow_redirects=False)
    assert again.headers["location"] == state_url
    wait_for_jobs(jobs_worker)
    ready = client.get(state_url, headers={"HX-Request": "true"})
    assert f'href="{link}"' in ready.text and "hx-trigger" not in ready.text  # polling stops
    answer = client.get(link)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="attestation-paiement-{year}.pdf"'
    reader = pypdf.PdfReader(io.BytesIO(answer.content))
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    assert reader.metadata["/Title"] == f"Attestation de paiement {year}"
    text = re.sub(r"\s+", " ", "\n".join(p.extract_text() for p in reader.pages))
    # the practitioner's name, profession, address and identifiers; the patient; the VAT exemption
    for mention in ("Claire Martin", "Orthophoniste", "conventionné(e)", "1 rue des Tilleuls, 69001 Lyon",
                    "RPPS n° 10001234567", "ADELI n° 691234567", "SIRET n° 12345678900011", "DUPONT Léa",
                    f"Attestation de paiement {year}", "Exonéré de TVA – art. 261-4-1° du CGI",
                    "hors TVA", "Signature"):
        assert mention in text, mention
    # the patient's own payments, dated, with the note's number and method, and their total
    assert "02/03/2026" in text and numbers[0] in text and "20,00" in text
    assert "09/03/2026" in text and numbers[2] in text and "5,50" in text
    assert "Carte" in text and "Total reçu : 25,50" in text
    assert "6,26" not in text and numbers[1] not in text  # the Assurance Maladie's part is not the patient's
    assert LABEL not in text and "AMO" not in text  # amounts and numbers, no act
    assert client.get(link).content == answer.content
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        rows = db.exec(select(Attestation)).all()
        assert len(rows) == 1 and rows[0].status == "ready" and rows[0].size == len(answer.content)
        raw = db.execute(sa.select(Attestation.__table__.c.body)).scalar()
        assert b"%PDF" not in raw and b"JVBER" not in raw  # sealed, neither the PDF nor its base64 in clear
        downloads = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "billing_attestation",
                                                      AuditRecord.action == "download")).all()
        # same data, same day: a re-render gives the same bytes (no clock in the file)
        assert attestation.render(db, jobs_worker.host, rows[0], "system:tests") == answer.content
    assert len(downloads) == 2 and all(r.patient_id == patient for r in downloads)
    # a redelivery of the job renders nothing again
    from carnet_core.plugin_api import enqueue

    with carnet_db.session(clinic_id=clinic.id) as db:
        enqueue(db, attestation.ACTOR, rows[0].id)
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=clinic.id) as db:
        builds = db.exec(select(AuditRecord).where(AuditRecord.resource_type == "billing_attestation",
                                                   AuditRecord.action == "build")).all()
    assert len(builds) == 1
    # bad ids, another practitioner's patient, garbage years: 404 or this year, never a 500
    assert client.post("/billing/patients/999999/attestation.pdf", data={"_csrf_token": token}).status_code == 404
    assert client.get("/billing/attestations/999999").status_code == 404
    assert client.get("/billing/attestations/999999/pdf").status_code == 404
    odd = client.post(ask, data={"year": "abc", "_csrf_token": token}, follow_redirects=False)
    assert odd.status_code == 303
    client.cookies.clear()
    token = login_as(client, colleague)
    assert client.get(link).status_code == 404 and client.get(state_url).status_code == 404
    assert client.post(ask, data={"year": str(year), "_csrf_token": token}).status_code == 404
    # past its 24 hours: 410, and the sealed copy is wiped
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.execute(sa.update(Attestation).values(expires_at=Attestation.created_at))
    client.cookies.clear()
    login_as(client, secretary)
    gone = client.get(link)
    assert gone.status_code == 410 and "expiré" in gone.text
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.execute(sa.select(Attestation.__table__.c.body).where(Attestation.id == rows[0].id)).scalar() is None


def test_a_patients_erasure_deletes_their_attestations(carnet_db, world):
    from carnet_billing.models import Attestation
    from carnet_billing.services.lifecycle import erase_for_patient

    patient = world.patients[-1]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.add(Attestation(patient_id=patient, year=2026, issued_on=date(2026, 3, 2)))
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        erase_for_patient(db, patient)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.exec(select(Attestation).where(Attestation.patient_id == patient)).all() == []
