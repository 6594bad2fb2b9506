"""`carnet jobs status|failed|retry`; `carnet worker` and `carnet scheduler` (carnet-workers)."""

from __future__ import annotations

import json
from typing import Any

import click
import sqlalchemy as sa


def _db_guard(fn: Any) -> Any:
    """Turn a missing or unmigrated database into a message naming the fix."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return fn(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(
                f"the database is not ready ({type(exc.orig).__name__}); run `carnet init` first"
            ) from None

    return wrapper


@click.group()
def jobs() -> None:
    """Inspect the job queue: outbox backlog, failed jobs."""


@jobs.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@_db_guard
def jobs_status(rt: Any, as_json: bool) -> None:
    """Outbox backlog, failed jobs, queues, broker mode and the scheduler's leader."""
    from carnet_core.jobs.broker import IN_PROCESS_MODE, REDIS_MODE, declare_actors
    from carnet_core.jobs.config import jobs_config
    from carnet_core.jobs.models import FailedJob
    from carnet_core.jobs.outbox import outbox_counts
    from carnet_core.jobs.scheduler import collect_schedules, lease_holder
    from carnet_core.settings import _redact_url

    host, db, settings = rt.host, rt.db, rt.settings
    config = jobs_config(settings.env)
    counts = outbox_counts(db)
    with db.session(unscoped=True) as s:
        failed = s.execute(sa.select(sa.func.count()).select_from(FailedJob)).scalar_one()
    queues: dict[str, Any] = {}
    mode = REDIS_MODE if settings.redis_url else IN_PROCESS_MODE
    redis_state = None
    from dramatiq.brokers.stub import StubBroker

    # Actors are declared on a throw-away broker only to learn their queues.
    for actor in declare_actors(host, StubBroker(middleware=[])).values():
        queues.setdefault(actor.queue_name, None)
    if settings.redis_url:
        redis_state = _redis_queue_sizes(settings.redis_url, config.namespace, queues)
    leader = lease_holder(db)
    data = {
        "broker": mode,
        "redis": _redact_url(settings.redis_url) if settings.redis_url else None,
        "redis_reachable": redis_state,
        "in_process_worker": settings.in_process_worker,
        "outbox": counts,
        "failed": failed,
        "queues": queues,
        "schedules": [s.key for s in collect_schedules(host)],
        "scheduler_leader": {"holder": leader[0], "expires_at": leader[1].isoformat()}
        if leader
        else None,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    where = f"Redis {data['redis']}" if mode == REDIS_MODE else "in-process (inside `carnet serve`)"
    click.echo(f"broker:      {where}" + ("" if redis_state in (None, True) else "  [UNREACHABLE]"))
    click.echo(
        f"outbox:      {counts['pending']} due, {counts['scheduled']} scheduled later, "
        f"{counts['published']} published not finished, {counts['done']} done, "
        f"{counts['expired']} expired"
    )
    click.echo(f"failed:      {failed}" + ("  (see `carnet jobs failed`)" if failed else ""))
    for name, size in sorted(queues.items()):
        click.echo(f"queue:       {name}" + ("" if size is None else f"  {size} waiting"))
    if not queues:
        click.echo("queue:       none (no plugin declares actors)")
    click.echo(f"schedules:   {', '.join(data['schedules']) or 'none'}")
    click.echo(
        "scheduler:   "
        + (
            f"leader {leader[0]} until {leader[1]:%Y-%m-%d %H:%M:%S} UTC"
            if leader
            else "no active scheduler"
        )
    )


def _redis_queue_sizes(url: str, namespace: str, queues: dict[str, Any]) -> bool:
    import redis

    from carnet_core.jobs.broker import redis_client

    client = redis_client(url)
    try:
        for name in queues:
            # Dramatiq keeps a list of message ids per queue and per delay queue.
            queues[name] = client.llen(f"{namespace}:{name}") + client.llen(
                f"{namespace}:{name}.DQ"
            )
        return True
    except (redis.ConnectionError, redis.TimeoutError):
        return False
    finally:
        client.close()


@jobs.command("failed")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
@_db_guard
def jobs_failed(rt: Any, limit: int, as_json: bool) -> None:
    """Jobs that exhausted their retries, newest first."""
    from carnet_core.jobs.models import FailedJob

    with rt.db.session(unscoped=True) as s:
        rows = (
            s.execute(sa.select(FailedJob).order_by(FailedJob.id.desc()).limit(limit))
            .scalars()
            .all()
        )
    items = [
        {
            "id": r.id,
            "message_id": r.message_id,
            "actor": r.actor,
            "queue": r.queue,
            "clinic_id": r.clinic_id,
            "retries": r.retries,
            "error": r.error,
            "failed_at": r.failed_at.isoformat(),
        }
        for r in rows
    ]
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("no failed job")
        return
    for i in items:
        clinic = f" clinic {i['clinic_id']}" if i["clinic_id"] is not None else ""
        click.echo(
            f"#{i['id']:<5} {i['failed_at'][:19]}  {i['actor']}{clinic}  "
            f"after {i['retries']} retries: "
            f"{i['error']}"
        )
    click.echo("retry one with `carnet jobs retry ID`")


@jobs.command("retry")
@click.argument("failed_id", type=int)
@click.pass_obj
@_db_guard
def jobs_retry(rt: Any, failed_id: int) -> None:
    """Enqueue a failed job again (a new message; the failed record is removed)."""
    from carnet_core.jobs.models import FailedJob
    from carnet_core.jobs.outbox import enqueue_with_options

    with rt.db.session(unscoped=True) as s:
        row = s.get(FailedJob, failed_id)
        if row is None:
            raise click.ClickException(f"no failed job #{failed_id}; see `carnet jobs failed`")
        msg = enqueue_with_options(
            s,
            row.actor,
            args=json.loads(row.args),
            kwargs=json.loads(row.kwargs),
            clinic_id=row.clinic_id,
        )
        s.delete(row)
    click.echo(f"job #{failed_id} ({row.actor}) enqueued again as {msg.message_id}")


def _workers() -> Any:
    try:
        import carnet_workers.main as workers
    except ImportError:
        raise click.ClickException(
            "carnet-workers is not installed; `pip install -e workers`"
        ) from None
    return workers


@click.command()
@click.option(
    "--processes",
    "-p",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Worker processes (a supervisor restarts any that dies).",
)
@click.option(
    "--threads",
    "-t",
    default=None,
    type=click.IntRange(1, 256),
    help="Threads per process [default: CARNET_JOBS_WORKER_THREADS or 8].",
)
@click.option(
    "--queues", "-Q", default="", help="Comma-separated queues to consume (default: all)."
)
@click.option("--no-relay", is_flag=True, help="Do not publish the outbox from this process.")
@click.pass_obj
def worker(rt: Any, processes: int, threads: int | None, queues: str, no_relay: bool) -> None:
    """Run job workers against Redis, and the outbox relay."""
    chosen = {q.strip() for q in queues.split(",") if q.strip()} or None
    _workers().run_worker(
        rt.settings, processes=processes, threads=threads, queues=chosen, relay=not no_relay
    )


@click.command()
@click.pass_obj
def scheduler(rt: Any) -> None:
    """Run the periodic scheduler (one leads when several run)."""
    _workers().run_scheduler(rt.settings)


def commands() -> list[click.Command]:
    return [jobs, worker, scheduler]
