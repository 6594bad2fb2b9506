"""A request that waits for a lock longer than the database lock timeout (SQLite's busy timeout,
PostgreSQL's lock_timeout) answers 503 with Retry-After and changes nothing — never a 500, never a
request hanging for as long as another transaction holds its lock. Once the lock is free, the same
request succeeds."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient
from sqlmodel import select

from carnet_core.db.session import Database
from carnet_core.patients.models import Patient
from carnet_core.web.app import create_app

PATIENT = {"last_name": "Lefèvre", "first_name": "Élodie", "birth_date": "2016-04-02"}


@contextmanager
def writes_blocked(carnet_db: Database) -> Iterator[None]:
    """Another connection holds what a patient's creation needs until the block ends."""
    if carnet_db.dialect == "sqlite":
        other = sqlite3.connect(carnet_db.url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the database's one write lock
        try:
            yield
        finally:
            other.rollback()
            other.close()
    else:
        with carnet_db.engine.connect() as other:
            other.exec_driver_sql("LOCK TABLE core_patient IN EXCLUSIVE MODE")  # reads pass, writes wait
            try:
                yield
            finally:
                other.rollback()


@pytest.fixture
def impatient_client(carnet_db, plugin_host) -> Iterator[TestClient]:
    """The app on a Database that waits at most half a second for a lock."""
    quick = Database(carnet_db.url, lock_timeout=0.5)
    quick.keyring, quick.audit_notifier = carnet_db.keyring, carnet_db.audit_notifier
    app = create_app(plugin_host.settings, host=plugin_host, db=quick)
    with TestClient(app=app, base_url="http://127.0.0.1:8000") as client:
        yield client
    quick.dispose()


def _patients(carnet_db: Database) -> int:
    with carnet_db.session(unscoped=True) as db:
        return db.exec(select(sa.func.count()).select_from(Patient)).one()


def test_a_request_kept_waiting_by_a_lock_answers_503_and_changes_nothing(
    carnet_db, clinic, staff, impatient_client
):
    from carnet_core.identity.models import User
    from carnet_core.identity.services import create_token

    member = staff("owner,practitioner", email="pia@cabinet.test")
    with carnet_db.session(clinic_id=clinic.id) as db:
        token, _ = create_token(db, clinic.id, db.get(User, member.id), name="lock test")
    headers = {"Authorization": f"Bearer {token}"}
    # the token's first use is written (audited) before the lock is taken
    assert impatient_client.get("/api/v1/me", headers=headers).status_code == 200

    with writes_blocked(carnet_db):
        started = time.monotonic()
        answer = impatient_client.post("/api/v1/patients", json=PATIENT, headers=headers)
        waited = time.monotonic() - started
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "1"
    assert "nothing was changed" in answer.json()["detail"]
    assert waited < 10, waited  # bounded by the lock timeout (and the authenticator's retries)
    assert _patients(carnet_db) == 0

    again = impatient_client.post("/api/v1/patients", json=PATIENT, headers=headers)
    assert again.status_code == 201, again.text
    assert _patients(carnet_db) == 1
