"""The job being run by the current worker thread: message id, clinic, and the process services."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from carnet_core.jobs.config import JobsError

if TYPE_CHECKING:
    from carnet_core.db.session import CarnetSession, Database
    from carnet_core.plugins import PluginHost
    from carnet_core.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What an actor may need beyond its arguments. Declare a `job` parameter to receive it."""

    message_id: str  # the outbox message id: stable across redeliveries and retries
    actor: str
    retries: int
    clinic_id: int | None
    outbox_id: int | None
    settings: Settings
    host: PluginHost
    db: Database

    def key(self, *parts: Any) -> str:
        """An idempotency key unique to this message: `<actor>:<message id>[:part…]`."""
        return ":".join([self.actor, self.message_id, *(str(p) for p in parts)])

    @property
    def domain(self) -> str:
        """The gettext domain of this job's messages: its plugin's name, the actor's prefix
        ("consent.send_invitation" -> "consent")."""
        return self.actor.split(".", 1)[0]

    def translate(self, message: str, **variables: Any) -> str:
        """`message` in the instance's locale, looked up first in this job's plugin's own catalog
        (then core's, then all merged), `%(name)s` placeholders filled from `variables`."""
        from carnet_core.web.templating import message_environment

        catalogs = message_environment(self.host).globals["gettext_catalogs"]
        return catalogs.gettext(self.settings.locale, message, self.domain, **variables)

    def render(self, template: str, **context: Any) -> str:
        """A plain-text message template (an e-mail or SMS body) rendered in the instance's locale:
        no HTML escaping, trimmed, one final newline."""
        from carnet_core.web.templating import message_environment

        env = message_environment(self.host)
        return env.get_template(template).render(locale=self.settings.locale, **context).strip() + "\n"

    def patient_url(self, clinic_slug: str, path: str) -> str:
        """An absolute link to this plugin's public (patient) pages: `<base_url>/p/<clinic>/<plugin>/<path>`.
        Only tokens go in `path`, never anything about the patient."""
        return f"{self.settings.base_url.rstrip('/')}/p/{clinic_slug}/{self.domain}/{path.lstrip('/')}"

    @contextmanager
    def session(
        self, clinic_id: int | None = None, unscoped: bool = False, durable: bool = True
    ) -> Iterator[CarnetSession]:
        """A unit of work bound to `clinic_id` (default: the job's clinic), or unscoped.

        `durable=False`: its commit does not wait for the disk (`Database.session`), for the record
        of an effect made under an idempotency key that the job, run again, makes again harmlessly."""
        cid = clinic_id if clinic_id is not None else (None if unscoped else self.clinic_id)
        if cid is None and not unscoped:
            raise JobsError("this job carries no clinic id; pass clinic_id=... or unscoped=True")
        with self.db.session(clinic_id=cid, unscoped=unscoped and cid is None, durable=durable) as s:
            s.info["principal"] = f"job:{self.actor}"  # who acts, for the audit trail
            yield s


_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "carnet_job", default=None
)


def current_job() -> JobContext:
    """The job running in this thread; raises outside an actor."""
    job = _current.get()
    if job is None:
        raise JobsError("current_job() called outside a running job")
    return job


def current_job_or_none() -> JobContext | None:
    return _current.get()


def set_current(job: JobContext | None) -> contextvars.Token[JobContext | None]:
    return _current.set(job)
