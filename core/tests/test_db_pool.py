"""PostgreSQL connections: a connection back in use soon after its last transaction is not pinged
(no extra round trip per transaction); one that sat idle is pinged when checked out, and a dead one
(its server process gone, as after a restart) is replaced before the transaction starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from carnet_core.db import session as db_session
from carnet_core.db.session import Database


@pytest.fixture
def pg(carnet_db: Database) -> Iterator[Database]:
    if carnet_db.dialect != "postgresql":
        pytest.skip("connection pinging is PostgreSQL's (SQLite has no server connection to lose)")
    own = Database(carnet_db.url)  # a pool of its own: the test ages and kills its connections
    yield own
    own.dispose()


@pytest.fixture
def pings(pg: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The pings the dialect sends (each a SELECT 1 round trip), counted and still sent."""
    seen: list[object] = []
    real = type(pg.engine.dialect).do_ping

    def counted(self: object, dbapi_conn: object) -> bool:
        seen.append(dbapi_conn)
        return real(self, dbapi_conn)

    monkeypatch.setattr(type(pg.engine.dialect), "do_ping", counted)
    return seen


def _backend_pid(pg: Database) -> int:
    with pg.session(unscoped=True) as s:
        return s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _age_pool(pg: Database) -> None:
    """Every connection in the pool looks idle for longer than the ping threshold."""
    for record in list(pg.engine.pool._pool.queue):  # type: ignore[attr-defined]
        record.info[db_session._CHECKED_IN] -= db_session.PING_AFTER_IDLE_S + 1


def test_a_connection_reused_at_once_is_not_pinged(pg, pings):
    first = _backend_pid(pg)
    for _ in range(3):
        assert _backend_pid(pg) == first  # the same pooled connection each time
    assert pings == []


def test_an_idle_connection_is_pinged_once_on_checkout(pg, pings):
    first = _backend_pid(pg)
    _age_pool(pg)
    assert _backend_pid(pg) == first
    assert len(pings) == 1
    assert _backend_pid(pg) == first  # just used: no second ping
    assert len(pings) == 1


def test_a_dead_idle_connection_is_replaced_before_the_transaction(pg, carnet_db, pings):
    dead = _backend_pid(pg)
    with carnet_db.engine.connect() as other:  # the server ends that connection's process
        other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
        other.commit()
    _age_pool(pg)
    with pg.session(unscoped=True) as s:  # no error: the ping found it dead, a new one serves
        alive = s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    assert alive != dead
    assert len(pings) == 1
