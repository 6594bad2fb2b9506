"""The clinic owner's choices for the module: whether patients may see who looked at their file
(on unless the owner switched it off), whether signing links and their codes also go by SMS (off
unless the owner switched it on), and the interval of reminders for unsigned forms (every 3 days,
twice, unless the owner chose otherwise). Read by the public pages and the message jobs; changed
by owners on the settings page (checked, refused in French with nothing saved), audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import select

from carnet_core.plugin_api import N_, CarnetSession, FieldError, InvalidInput, record, sms_transport, utcnow

from carnet_consent.models import Setting

REMINDER_EVERY = (1, 30)  # days between two reminders, bounds
REMINDER_COUNT = (0, 5)  # reminders per signer, bounds (0: no reminder)


@dataclass(frozen=True)
class Choices:
    """What the owner submits on the settings page, checked by `clean`."""

    accesses_view: bool
    sms_links: bool
    reminder_every_days: int
    reminder_count: int


def current(db: CarnetSession) -> Setting:
    """The clinic's row, or the defaults (not saved) when the owner never changed anything."""
    return db.exec(select(Setting)).first() or Setting()


def accesses_enabled(db: CarnetSession) -> bool:
    return current(db).accesses_view


def reminder_steps(db: CarnetSession) -> list[timedelta]:
    """When each reminder of an unsigned form is due, counted from its sending: step n (from 1)
    at n times the clinic's interval."""
    row = current(db)
    return [timedelta(days=row.reminder_every_days * n) for n in range(1, row.reminder_count + 1)]


def sms_possible(host: Any) -> bool:
    """SMS can leave: an SMS provider module is installed (core's `sms_transport`, the rule of
    every page's `sms_ready`). Without one, SMS would only land in the server's SMS folder: the
    channel is off, the settings page says so, and the e-mail alone goes."""
    return sms_transport(host) is not None


def sms_enabled(db: CarnetSession, host: Any) -> bool:
    """Signing links go by SMS too: the owner switched it on and SMS can leave."""
    return current(db).sms_links and sms_possible(host)


def _whole(value: str, field: str, bounds: tuple[int, int], message: str) -> tuple[int | None, dict[str, FieldError]]:
    raw = (value or "").strip()
    if raw.isdigit() and len(raw) <= 3 and bounds[0] <= int(raw) <= bounds[1]:
        return int(raw), {}
    return None, {field: FieldError("range", message, low=bounds[0], high=bounds[1])}


def clean(values: dict[str, Any]) -> Choices:
    """The owner's choices, or `InvalidInput` naming each field that is wrong (in French)."""
    every, errors = _whole(str(values.get("reminder_every_days") or ""), "reminder_every_days", REMINDER_EVERY,
                           N_("give a whole number of days between %(low)s and %(high)s"))
    count, more = _whole(str(values.get("reminder_count") or ""), "reminder_count", REMINDER_COUNT,
                         N_("give a number of reminders between %(low)s and %(high)s"))
    errors.update(more)
    if errors:
        raise InvalidInput(errors)
    return Choices(bool(values.get("accesses_view")), bool(values.get("sms_links")), every, count)  # type: ignore[arg-type]


def update(db: CarnetSession, principal: Any, choices: Choices) -> Setting:
    """Save the owner's choices; the audit record says what changed (nothing recorded when the
    same choices are saved again)."""
    row = db.exec(select(Setting)).first() or Setting()
    first = row.id is None
    before = {k: getattr(row, k) for k in ("accesses_view", "sms_links", "reminder_every_days", "reminder_count")}
    after = {k: getattr(choices, k) for k in before}
    for key, value in after.items():
        setattr(row, key, value)
    row.updated_by = getattr(principal, "user_id", None)
    row.updated_at = utcnow()
    db.add(row)
    db.flush()
    changed = after if first else {k: v for k, v in after.items() if before[k] != v}
    if changed:
        record(db, action="update", resource_type="consent_setting", resource_id=row.id, details=changed)
    return row
