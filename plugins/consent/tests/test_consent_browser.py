"""In a real browser (Debian's Chromium) on a phone-sized screen: both parents of a minor sign the
télésoin form, each through the link and the code found in their own mailbox (the mail folder);
the request is complete only after the second signature."""

from __future__ import annotations

import re

import pytest
from consent_world import code_in, link_in, mails
from sqlmodel import select

from carnet_core.testing import wait_for_jobs

from carnet_consent.models import Decision, Request
from carnet_consent.services import signing

pytestmark = pytest.mark.browser


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _sign(page, live_server, settings, jobs, address: str, name: str) -> None:
    page.goto(live_server + link_in(settings, address, "s"))
    page.get_by_role("heading", name="Consentement au télésoin").wait_for()
    assert _fits_the_screen(page)
    page.get_by_role("group", name=re.compile("télésoin")).get_by_label("J’accepte").check()
    page.get_by_label("Vos prénom et nom").fill(name)
    page.get_by_role("button", name="Recevoir mon code de signature").click()
    page.get_by_label("Code").wait_for()
    assert _fits_the_screen(page)
    wait_for_jobs(jobs)
    page.get_by_label("Code").fill(code_in(settings, address))
    page.get_by_role("button", name="Je signe").click()
    page.get_by_role("heading", name="Merci, votre signature est enregistrée").wait_for()


def test_both_parents_sign_through_their_own_link_and_code_on_a_phone(
        live_server, browser_page, carnet_db, world, carnet_settings, jobs_worker):
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 740})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    from consent_world import owner_principal

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        request_id = signing.send(db, owner_principal(world.clinic.id, world.owner.id), world.forms["telesoin"],
                                  world.minor).id
    wait_for_jobs(jobs_worker)
    assert {m["To"] for m in mails(carnet_settings)} == {"camille@example.org", "thomas@example.org"}

    _sign(page, live_server, carnet_settings, jobs_worker, "camille@example.org", "Camille Garnier")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Request, request_id).status == "pending"
        assert db.exec(select(Decision).where(Decision.patient_id == world.minor)).all() == []

    _sign(page, live_server, carnet_settings, jobs_worker, "thomas@example.org", "Thomas Garnier")
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.get(Request, request_id).status == "complete"
        assert db.exec(select(Decision).where(Decision.patient_id == world.minor)).one().allowed is True

    assert errors == []
    # the first parent's link is spent: a clear French page (410)
    response = page.goto(live_server + link_in(carnet_settings, "camille@example.org", "s"))
    assert response.status == 410
    page.get_by_role("heading", name="Ce lien a déjà été utilisé").wait_for()
    assert _fits_the_screen(page)
