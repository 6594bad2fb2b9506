"""A patient with a phone and no e-mail is told by SMS that a message waits only when an SMS can
leave: an SMS provider module is installed (core's `sms_transport`) and the patient has not
withdrawn "SMS reminders". Otherwise nothing is written to the SMS folder (where nobody would read
it) and the patient's page tells staff to call, with the number."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from telecare_world import CANARY, honoured_session, registrar

from carnet_core.plugin_api import patient_access
from carnet_core.testing import SmsGateway, wait_for_jobs

from carnet_telecare.models import Access

NOFILE = {"attachment": ("", b"", "application/octet-stream")}
PHONE = "+33612345601"


@pytest.fixture
def inline_plugins(inline_plugins, request):
    """An SMS provider is installed when the test is parametrized with "gateway"."""
    if getattr(request, "param", "none") == "gateway":
        inline_plugins.add("smsgateway", SmsGateway())
    return inline_plugins


def _world(carnet_db, make_clinic, staff, plugins=("scheduling", "telecare")):
    clinic = make_clinic("cabinet-sms", plugins=list(plugins))
    owner = staff(("owner", "practitioner"), clinic=clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        patient = patient_access(db, registrar(clinic.id)).register(
            {"last_name": "Garnier", "first_name": "Léa", "phone": "06 12 34 56 01", "practitioner_id": owner.id})
        honoured_session(db, owner.id, patient)
    return clinic, owner, patient


def _write(client, patient_id):
    return client.post(f"/telecare/patients/{patient_id}/conversations",
                       data={"kind": "clinical", "subject": "Exercices", "body": f"Bonjour, {CANARY}"},
                       files=NOFILE, follow_redirects=False)


def _sms(settings) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in Path(settings.sms_dir).glob("*.sms")]


def test_without_an_sms_provider_nothing_goes_to_the_sms_folder_and_the_page_says_to_call(
        client, login_as, carnet_db, make_clinic, staff, carnet_settings, jobs_worker):
    clinic, owner, patient = _world(carnet_db, make_clinic, staff)
    login_as(client, owner)
    page = client.get(f"/telecare/patients/{patient}")
    assert page.status_code == 200 and "appelez-le au 06 12 34 56 01" in page.text, page.text
    assert _write(client, patient).status_code == 303
    wait_for_jobs(jobs_worker)
    assert _sms(carnet_settings) == []
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert db.exec(select(Access)).all() == []  # no link issued for a notice nobody receives


@pytest.mark.parametrize("inline_plugins", ["gateway"], indirect=True)
def test_with_an_sms_provider_the_notice_goes_by_sms_and_says_nothing_of_the_message(
        client, login_as, carnet_db, make_clinic, staff, carnet_settings, jobs_worker, inline_plugins):
    clinic, owner, patient = _world(carnet_db, make_clinic, staff)
    login_as(client, owner)
    page = client.get(f"/telecare/patients/{patient}")
    assert page.status_code == 200 and "appelez-le" not in page.text
    assert _write(client, patient).status_code == 303
    wait_for_jobs(jobs_worker)
    sent = _sms(carnet_settings)
    assert len(sent) == 1 and PHONE in sent[0] and "/telecare/m/" in sent[0]
    for secret in (CANARY, "Exercices", "Garnier", "Léa"):
        assert secret not in sent[0]
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert [a.channel for a in db.exec(select(Access))] == ["sms"]


@pytest.mark.parametrize("inline_plugins", ["gateway"], indirect=True)
def test_a_patient_who_withdrew_sms_gets_no_sms_and_the_page_says_to_call(
        client, login_as, carnet_db, make_clinic, staff, carnet_settings, jobs_worker, inline_plugins):
    from carnet_consent.services import decisions

    clinic, owner, patient = _world(carnet_db, make_clinic, staff, plugins=("scheduling", "consent", "telecare"))
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = f"user:{owner.id}"
        # agreed on paper in the cabinet (a signing link needs an e-mail this patient has not), then withdrawn
        decisions.add(db, patient, "telesoin", True, "staff", f"user:{owner.id}")
        decisions.add(db, patient, "sms_reminders", True, "staff", f"user:{owner.id}")
        decisions.withdraw(db, patient, "sms_reminders", source="withdrawal_link", actor="system:tests")
    login_as(client, owner)
    page = client.get(f"/telecare/patients/{patient}")
    assert page.status_code == 200 and "appelez-le au 06 12 34 56 01" in page.text
    assert _write(client, patient).status_code == 303
    wait_for_jobs(jobs_worker)
    assert _sms(carnet_settings) == []
