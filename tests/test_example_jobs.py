"""The example plugin's actor and schedule: declared as `example.greet`, fired per clinic that
enabled the plugin, skipped for a clinic that has not."""

import pytest
from example_plugin import plugin as example

from carnet_core.jobs import enqueue
from carnet_core.jobs.scheduler import Scheduler
from carnet_core.jobs.testing import wait_for_jobs


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("example", example)
    for seen in example.SEEN.values():
        seen.clear()
    return inline_plugins


def test_hook_register_actors(jobs_worker, make_clinic):
    # the plugin's job function becomes the actor example.greet on queue "example"
    actor = jobs_worker.actors["example.greet"]
    assert actor.queue_name == "example"
    assert actor.options["max_retries"] == 0
    clinic = make_clinic("avec", plugins=["example"])
    with jobs_worker.db.session(clinic_id=clinic.id) as db:
        enqueue(db, "example.greet", clinic.id)
    wait_for_jobs(jobs_worker)
    assert example.SEEN["greeted"] == [clinic.id]


def test_hook_register_schedules(jobs_worker, make_clinic):
    # the per-clinic schedule fires for clinics that enabled the plugin, and skips the others
    avec = make_clinic("avec", plugins=["example"])
    make_clinic("sans", plugins=[])
    scheduler = Scheduler(jobs_worker.db, jobs_worker.host, jobs_worker.config)
    assert [s.key for s in scheduler.schedules if s.key.startswith("example.")] == ["example.greet-clinics"]
    assert "core.audit-checkpoint" in [s.key for s in scheduler.schedules]
    # the example's per-clinic run (one clinic), core's checkpoint, backup check and retention
    assert scheduler.tick() == 4
    wait_for_jobs(jobs_worker)
    assert example.SEEN["greeted"] == [avec.id]
