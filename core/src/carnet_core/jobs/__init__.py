"""Jobs: transactional outbox, Dramatiq broker set-up, idempotent actors, schedules.

Plugins enqueue with `enqueue(db, "plugin.actor", ...)` inside their transaction, declare actors
with the `register_actors` hook and periodic work with `register_schedules`; see docs/DEVELOPING.md.
"""

from carnet_core.jobs.config import JobsConfig, JobsError
from carnet_core.jobs.context import JobContext, current_job
from carnet_core.jobs.idempotency import already_done, already_done_clause, once
from carnet_core.jobs.outbox import enqueue, enqueue_with_options

__all__ = [
    "JobContext",
    "JobsConfig",
    "JobsError",
    "already_done",
    "already_done_clause",
    "current_job",
    "enqueue",
    "enqueue_with_options",
    "once",
]
