"""Patient links: hashed tokens, expiry, single use, one-time codes, rate limits, audit, and a
clear page (never an error) for bad links."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from carnet_core import hookimpl
from carnet_core.audit.models import AuditRecord
from carnet_core.contrib import PUBLIC
from carnet_core.db.base import utcnow
from carnet_core.links import (
    EXPIRED,
    THROTTLED,
    UNKNOWN,
    USED,
    LinkError,
    LinkRefused,
    issue,
    issue_code,
    open_link,
    revoke,
    use,
    verify_code,
)
from carnet_core.links import services as link_services
from carnet_core.links.models import PatientLink
from carnet_core.links.web import client_address, refusal_page
from carnet_core.testing.identity import csrf_headers


@get("/l/{token:str}", name="linktest.show", opt={"permission": PUBLIC}, sync_to_thread=True)
def show(request: Request[Any, Any, Any], token: FromPath[str], db: NamedDependency[Any]) -> Any:
    try:
        link = open_link(db, token, "linktest.cancel", client_address(request))
    except LinkRefused as refused:
        return refusal_page(request, refused)
    return {"subject": link.subject_id}


@post("/l/{token:str}", name="linktest.do", opt={"permission": PUBLIC}, sync_to_thread=True, status_code=200)
def do(request: Request[Any, Any, Any], token: FromPath[str], db: NamedDependency[Any]) -> Any:
    try:
        link = open_link(db, token, "linktest.cancel", client_address(request))
        use(db, link, action="update")
    except LinkRefused as refused:
        return refusal_page(request, refused)
    return {"done": link.subject_id}


class LinkTestPlugin:
    CARNET_CORE_REQUIRES = ">=0.1,<1"

    @hookimpl
    def register_public_routes(self) -> list[Any]:
        return [show, do]


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("linktest", LinkTestPlugin())
    return inline_plugins


def _issue(carnet_db, clinic, **kw) -> tuple[PatientLink, str]:
    kw.setdefault("expires_in", timedelta(days=2))
    with carnet_db.session(clinic_id=clinic.id) as db:
        issued = issue(db, purpose="linktest.cancel", subject_type="scheduling_appointment",
                       subject_id=42, patient_id=None, **kw)
    return issued.link, issued.token


def test_only_the_hash_of_the_token_is_stored(carnet_db, clinic):
    link, token = _issue(carnet_db, clinic)
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    with carnet_db.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT * FROM core_patient_link").fetchall()
    assert token not in repr(rows)


def test_a_link_opens_once_and_is_refused_after_use(carnet_db, clinic, client):
    _, token = _issue(carnet_db, clinic)
    assert client.get(f"/p/{clinic.slug}/linktest/l/{token}").json() == {"subject": 42}
    assert client.post(f"/p/{clinic.slug}/linktest/l/{token}", headers=csrf_headers(client)).json() == {"done": 42}
    again = client.post(f"/p/{clinic.slug}/linktest/l/{token}", headers=csrf_headers(client))
    assert again.status_code == 410
    assert "déjà été utilisé" in again.text


def test_unknown_and_malformed_links_get_a_french_404_page(clinic, client):
    for token in ("x" * 43, "not a token", "%00" * 5):
        response = client.get(f"/p/{clinic.slug}/linktest/l/{token}")
        assert response.status_code == 404
        assert "Ce lien n’est pas valide" in response.text or "n’est pas valide" in response.text


def test_expired_link_gets_a_410_page(carnet_db, clinic, client):
    link, token = _issue(carnet_db, clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.execute(sa.update(PatientLink.__table__).where(PatientLink.__table__.c.id == link.id)
                   .values(expires_at=utcnow() - timedelta(minutes=1)))
    response = client.get(f"/p/{clinic.slug}/linktest/l/{token}")
    assert response.status_code == 410
    assert "expiré" in response.text


def test_a_link_of_another_clinic_is_unknown_here(carnet_db, make_clinic, client):
    a = make_clinic("cabinet-a")
    b = make_clinic("cabinet-b")
    _, token = _issue(carnet_db, a)
    assert client.get(f"/p/{b.slug}/linktest/l/{token}").status_code == 404
    assert client.get(f"/p/{a.slug}/linktest/l/{token}").status_code == 200


def test_a_link_of_another_purpose_is_unknown(carnet_db, clinic):
    _, token = _issue(carnet_db, clinic)
    with carnet_db.session(clinic_id=clinic.id) as db, pytest.raises(LinkRefused) as refused:
        open_link(db, token, "linktest.accept", "127.0.0.1")
    assert refused.value.reason == UNKNOWN


def test_revoked_links_are_refused(carnet_db, clinic):
    _, token = _issue(carnet_db, clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert revoke(db, ("scheduling_appointment", 42)) == 1
    with carnet_db.session(clinic_id=clinic.id) as db, pytest.raises(LinkRefused) as refused:
        open_link(db, token, "linktest.cancel", None)
    assert refused.value.status == 410


def test_concurrent_uses_of_a_single_use_link_let_only_one_through(carnet_db, clinic):
    _, token = _issue(carnet_db, clinic)
    first = carnet_db.new_session(clinic_id=clinic.id)
    second = carnet_db.new_session(clinic_id=clinic.id)
    try:
        a = open_link(first, token, "linktest.cancel", None)
        first.commit()
        b = open_link(second, token, "linktest.cancel", None)
        second.commit()
        use(first, a, action="update")
        first.commit()
        with pytest.raises(LinkRefused) as refused:
            use(second, b, action="update")
        assert refused.value.reason == USED
    finally:
        first.close()
        second.close()


def test_each_use_and_refusal_is_audited_as_the_patient_link(carnet_db, clinic, client):
    link, token = _issue(carnet_db, clinic)
    client.post(f"/p/{clinic.slug}/linktest/l/{token}", headers=csrf_headers(client))
    client.post(f"/p/{clinic.slug}/linktest/l/{token}", headers=csrf_headers(client))
    with carnet_db.session(clinic_id=clinic.id) as db:
        rows = db.exec(sa.select(AuditRecord).where(AuditRecord.actor_kind == "patient_link")).scalars().all()
    assert [(r.actor_id, r.action, r.outcome) for r in rows] == [
        (str(link.id), "update", "success"),
        (str(link.id), "use", "denied"),
    ]
    assert all(r.address for r in rows)


def test_bad_tokens_from_one_address_are_throttled(clinic, client, monkeypatch):
    monkeypatch.setattr(link_services, "MAX_FAILED_PER_ADDRESS", 3)
    for _ in range(3):
        assert client.get(f"/p/{clinic.slug}/linktest/l/{'y' * 43}").status_code == 404
    throttled = client.get(f"/p/{clinic.slug}/linktest/l/{'y' * 43}")
    assert throttled.status_code == 429
    assert "Trop de tentatives" in throttled.text


def test_opens_of_one_link_are_limited(carnet_db, clinic, monkeypatch):
    monkeypatch.setattr(link_services, "MAX_ACCESS_PER_TOKEN", 2)
    _, token = _issue(carnet_db, clinic, max_uses=5)
    for _ in range(2):
        with carnet_db.session(clinic_id=clinic.id) as db:
            open_link(db, token, "linktest.cancel", None)
    with carnet_db.session(clinic_id=clinic.id) as db, pytest.raises(LinkRefused) as refused:
        open_link(db, token, "linktest.cancel", None)
    assert refused.value.reason == THROTTLED


def test_a_one_time_code_is_needed_when_required_and_wrong_codes_are_limited(carnet_db, clinic):
    link, token = _issue(carnet_db, clinic, code_required=True)
    with carnet_db.session(clinic_id=clinic.id) as db:
        link = open_link(db, token, "linktest.cancel", None)
        with pytest.raises(LinkRefused):
            use(db, link, action="update")
    with carnet_db.session(clinic_id=clinic.id) as db:
        link = open_link(db, token, "linktest.cancel", None)
        code = issue_code(db, link)
    assert len(code) == 6 and code.isdigit()
    with carnet_db.engine.connect() as conn:
        assert code.encode() not in repr(conn.exec_driver_sql("SELECT * FROM core_patient_link").fetchall()).encode()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(link_services.MAX_CODE_ATTEMPTS):
        with carnet_db.session(clinic_id=clinic.id) as db:
            link = open_link(db, token, "linktest.cancel", None)
            assert verify_code(db, link, wrong, None) is False
    with carnet_db.session(clinic_id=clinic.id) as db:
        link = open_link(db, token, "linktest.cancel", None)
        with pytest.raises(LinkRefused):
            verify_code(db, link, code, None)  # even the right code: it is void now
    with carnet_db.session(clinic_id=clinic.id) as db:
        link = open_link(db, token, "linktest.cancel", None)
        fresh = issue_code(db, link)
        assert verify_code(db, link, fresh, None) is True
        use(db, link, action="update")
        assert verify_code.__name__  # the code works once: a second verify needs a new code
        with pytest.raises(LinkRefused):
            verify_code(db, link, fresh, None)


def test_issuing_refuses_nonsense(carnet_db, clinic):
    with carnet_db.session(clinic_id=clinic.id) as db:
        with pytest.raises(LinkError):
            issue(db, purpose="Bad Purpose", subject_type="x", subject_id=1, expires_in=timedelta(hours=1))
        with pytest.raises(LinkError):
            issue(db, purpose="a.b", subject_type="x", subject_id=1, expires_in=timedelta(hours=-1))
        with pytest.raises(LinkError):
            issue(db, purpose="a.b", subject_type="x", subject_id=1)
    assert EXPIRED == "expired"
