"""The home page's "today" panel (issue 13, "the landing page is today's work"): a practitioner
sees their own appointments of the day (time, patient linked to the file, type, phone), a
secretary the whole practice's with each practitioner; cancelled ones and other days are left
out; names and numbers come through core's patient access, traced, and its visibility rule."""

from __future__ import annotations

import json
import re
from datetime import time, timedelta

from sqlmodel import select

from carnet_core.plugin_api import utcnow
from carnet_core.testing import AuditRecord
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services.calendar import local_date, local_to_utc


def _panel(html: str) -> str:
    """The body of the home page's appointments panel ('' when absent)."""
    match = re.search(r'<h2 id="home-panel-\d+">Rendez-vous du jour</h2>(.*?)</section>', html, re.S)
    return match.group(1) if match else ""


def _register(carnet_db, clinic_id: int, data: dict) -> int:
    from carnet_core.plugin_api import Principal, patient_access

    with carnet_db.session(clinic_id=clinic_id) as db:
        db.info["principal"] = "system:tests"
        owner = Principal(kind="user", user_id=None, clinic_id=clinic_id, roles=frozenset({"owner"}))
        return patient_access(db, owner).register(data)


def test_the_home_page_lists_todays_appointments_mine_for_a_practitioner_all_for_the_secretary(
        world, scoped, client, login_as, staff, carnet_db):
    me = staff("practitioner", clinic=world.clinic, name="Paule Praticienne")
    colleague = staff("practitioner", clinic=world.clinic, name="Marc Collègue")
    garnier = _register(carnet_db, world.clinic.id, {"last_name": "Garnier", "first_name": "Luc",
                                                     "phone": "06 12 34 56 78", "practitioner_id": me.id})
    henry = _register(carnet_db, world.clinic.id, {"last_name": "Henry", "first_name": "Zoé",
                                                   "phone": "06 45 67 89 01", "practitioner_id": colleague.id})
    blanc = _register(carnet_db, world.clinic.id, {"last_name": "Blanc", "first_name": "Eva", "practitioner_id": me.id})
    today = local_date(utcnow(), "Europe/Paris")
    with scoped() as db:
        mine = appts.book(db, practitioner_id=me.id, patient_id=garnier, appointment_type_id=world.session_type_id,
                          starts_at=local_to_utc(today, time(8, 30)))
        theirs = appts.book(db, practitioner_id=colleague.id, patient_id=henry,
                            appointment_type_id=world.bilan_type_id, starts_at=local_to_utc(today, time(9)))
        gone = appts.book(db, practitioner_id=me.id, patient_id=blanc, appointment_type_id=world.session_type_id,
                          starts_at=local_to_utc(today, time(10)))
        appts.cancel(db, gone, "le patient est malade")
        appts.book(db, practitioner_id=me.id, patient_id=blanc, appointment_type_id=world.session_type_id,
                   starts_at=local_to_utc(today + timedelta(days=1), time(8, 30)))

    login_as(client, me)
    panel = _panel(client.get("/").text)
    assert "1 rendez-vous aujourd’hui" in panel or "1 rendez-vous aujourd'hui" in panel
    assert f'href="/scheduling/appointments/{mine.id}?next=/">08:30–09:00</a>' in panel
    assert f'<a href="/patients/{garnier}">GARNIER Luc</a>' in panel
    assert "Séance" in panel and '<a href="tel:+33612345678">06 12 34 56 78</a>' in panel
    assert f'href="/scheduling/?view=day&amp;date={today.isoformat()}"' in panel  # the agenda of the day
    # the colleague's patient, the cancelled and tomorrow's appointments are not on my page
    assert "HENRY" not in panel and "BLANC" not in panel and "06 45 67 89 01" not in panel
    assert f"/scheduling/appointments/{theirs.id}" not in panel

    client.post("/logout")
    login_as(client, staff("secretary", clinic=world.clinic, name="Sonia Secrétaire"))
    panel = _panel(client.get("/").text)
    assert "GARNIER Luc" in panel and "HENRY Zoé" in panel and "Bilan" in panel
    assert "Paule Praticienne" in panel and "Marc Collègue" in panel  # whose appointment each is
    assert "BLANC" not in panel
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        records = list(db.exec(select(AuditRecord).where(AuditRecord.resource_type == "appointment",
                                                         AuditRecord.action == "list")))
        opened = {r.patient_id for r in db.exec(select(AuditRecord).where(AuditRecord.action == "read"))}
    details = [json.loads(r.details) if isinstance(r.details, str) else r.details for r in records]
    assert [d for d in details if d.get("view") == "home"] == [
        {"view": "home", "count": 1}, {"view": "home", "count": 2}]
    assert {garnier, henry} <= opened  # the names shown were opened through core's access, traced


def test_a_practitioner_sees_a_colleagues_patient_only_when_the_practice_shares_them(
        world, scoped, client, login_as, staff, carnet_db):
    # an owner who practises sees their own day; a patient of another practitioner booked with
    # them is "theirs" today (cared for), so the name shows
    owner = staff("owner,practitioner", clinic=world.clinic, name="Odile Owner")
    other = _register(carnet_db, world.clinic.id, {"last_name": "Roux", "first_name": "Tom",
                                                   "practitioner_id": world.colleague.id})
    today = local_date(utcnow(), "Europe/Paris")
    with scoped() as db:
        appts.book(db, practitioner_id=owner.id, patient_id=other, appointment_type_id=world.session_type_id,
                   starts_at=local_to_utc(today, time(7)))
    login_as(client, owner)
    panel = _panel(client.get("/").text)
    assert "ROUX Tom" in panel and "Praticien" not in panel.split("<tbody>")[0]  # their own day: no column


def test_a_day_without_appointments_says_so_and_keeps_the_links(world, client, login_as, staff):
    login_as(client, staff("practitioner", clinic=world.clinic))
    panel = _panel(client.get("/").text)
    assert "Aucun rendez-vous aujourd’hui." in panel or "Aucun rendez-vous aujourd'hui." in panel
    assert 'href="/scheduling/today"' in panel and 'href="/scheduling/appointments/new"' in panel


def test_a_day_without_appointments_says_so_once(world, client, login_as, staff):
    login_as(client, staff("practitioner", clinic=world.clinic))
    panel = _panel(client.get("/").text)
    assert panel.count("Aucun rendez-vous aujourd’hui.") == 1
    assert "0 rendez-vous" not in panel and "<table" not in panel
    assert 'href="/scheduling/today"' in panel


def test_the_panel_leaves_the_permission_and_the_work_to_core(world):
    from carnet_core.plugin_api import Principal
    from carnet_scheduling import permissions as perm
    from carnet_scheduling.controllers.panels import home_panel

    # a member without scheduling.view still gets the panel back: core drops it before it is
    # filled (db=None: nothing was read or traced to build it)
    nobody = Principal(kind="user", user_id=world.practitioner.id, clinic_id=world.clinic.id,
                       roles=frozenset({"practitioner"}), permissions=frozenset())
    panels = home_panel(nobody, None)
    assert [p.permission for p in panels] == [perm.VIEW] and panels[0].fill is not None
