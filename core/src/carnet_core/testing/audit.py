"""Watch a clinic's audit chain from a test: when its head is locked, and by which job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def spy_on_chain_head(monkeypatch: Any, seen: Callable[[Any, int, Any], None]) -> None:
    """Call `seen(conn, clinic_id, job)` each time a clinic's audit chain head is about to be
    locked (for an append), on the connection that takes the lock; `job` is the running job's
    context (`actor`, `message_id`) or None outside a job. Undone with the test's monkeypatch."""
    from carnet_core.audit import services
    from carnet_core.jobs.context import current_job_or_none

    take = services._lock_head

    def spy(conn: Any, clinic_id: int) -> Any:
        seen(conn, clinic_id, current_job_or_none())
        return take(conn, clinic_id)

    monkeypatch.setattr(services, "_lock_head", spy)
