"""What one reminder costs the database: the queries it reads with and which of its commits wait
for the disk (bench/bench_reminders.py measures the rate this gives)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from patientside import mails, make_patient, next_weekday_at

from carnet_core.testing import OutboxMessage, wait_for_jobs
from carnet_scheduling.patient_models import SENT, ReminderRule
from carnet_scheduling.services import appointments as appts
from carnet_scheduling.services import reminders


def _one_reminder_due_now(carnet_db, world, plugin_host) -> int:
    patient_id = make_patient(carnet_db, world)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.practitioner.id}"
        db.add(ReminderRule(channel="email", minutes_before=24 * 60))
        db.flush()
        appt = appts.book(db, practitioner_id=world.practitioner.id, patient_id=patient_id,
                          appointment_type_id=world.session_type_id, starts_at=next_weekday_at(2, 10),
                          room_id=world.room_id, hooks=plugin_host.for_clinic({"scheduling"}))
    with carnet_db.session(unscoped=True) as db:
        db.execute(sa.update(OutboxMessage.__table__).values(not_before=None))
    return appt.id


def test_a_reminder_reads_in_two_queries_and_only_its_first_commit_waits_for_the_disk(
        carnet_db, world, plugin_host, jobs_worker, carnet_settings):
    appointment_id = _one_reminder_due_now(carnet_db, world, plugin_host)
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    # when the reminder is sent
    sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
    try:
        wait_for_jobs(jobs_worker)
    finally:
        sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert [r.status for r in reminders.for_appointment(db, appointment_id)] == [SENT]
    assert len(mails(carnet_settings)) == 1
    # then the job read the reminder with its appointment, rule, switches, effect key, clinic,
    # practitioner and place in one query, and the patient with their keys in one more (it took
    # thirteen), besides the outbox's own bookkeeping
    reads = [re.match(r"SELECT (\w+)\.", s).group(1) for s in statements
             if s.startswith("SELECT") and "core_outbox" not in s]
    assert reads == ["scheduling_reminder", "core_patient"], reads
    # and its writes: the link and the attempt (first transaction), the effect key and the status
    # (second), the outbox's "done" mark not counted
    writes = [re.match(r"(INSERT INTO|UPDATE) (\w+)", s).group(2) for s in statements
              if s.startswith(("INSERT", "UPDATE")) and "core_outbox" not in s]
    assert sorted(writes) == sorted(["core_patient_link", "scheduling_reminder", "core_job_effect",
                                     "scheduling_reminder"]), writes
    if carnet_db.dialect == "postgresql":
        # the first transaction (the address read and its audit record, the link) waits for the
        # disk before anything leaves; the second (effect key, status, "send" record) does not
        begins = [i for i, s in enumerate(statements) if s.startswith("SET LOCAL carnet.clinic_id")]

        def transaction_of(index: int) -> str:
            return statements[max(b for b in begins if b < index)]

        link = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO core_patient_link"))
        effect = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO core_job_effect"))
        assert "synchronous_commit" not in transaction_of(link)
        assert transaction_of(effect).endswith("SET LOCAL synchronous_commit = off")
