"""Per-clinic modules at run time, from the settings page and the CLI, with their four effects:
routes answer 404, navigation entries vanish, hooks are not called, schedules skip the clinic.
Disabling deletes nothing; re-enabling shows everything again."""

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from example_plugin import plugin as example

from carnet_core.cli import main
from carnet_core.jobs.scheduler import Scheduler
from carnet_core.jobs.testing import wait_for_jobs


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("example", example)
    for seen in example.SEEN.values():
        seen.clear()
    return inline_plugins


@pytest.fixture
def cli(carnet_settings, plugin_host, monkeypatch):
    """The `carnet` command against the same database, with the example plugin installed."""
    monkeypatch.setattr("carnet_core.cli.Runtime.host", property(lambda self: plugin_host))
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}

    def run(*args):
        result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return run


def row_counts(db):
    with db.engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {n: conn.exec_driver_sql(f'SELECT COUNT(*) FROM "{n}"').scalar() for n in names if n != "alembic_version"}


def visible(client):
    example.SEEN["context"].clear()
    home = client.get("/").text
    return {
        "page": client.get("/example/").status_code,
        "api": client.get("/api/v1/example/ping").status_code,
        "nav": 'href="/example/"' in home,
        "hook": bool(example.SEEN["context"]),  # template_context ran for the core home page
    }


def test_owner_toggles_a_module_from_the_settings_page(client, clinic, staff, login_as, carnet_db):
    owner = staff("owner,practitioner")
    login_as(client, owner)
    assert visible(client) == {"page": 200, "api": 200, "nav": True, "hook": True}
    settings_page = client.get("/settings/modules")
    assert "example" in settings_page.text and "0.3.1" in settings_page.text
    before = row_counts(carnet_db)

    # when the owner disables the module (a plain form post, no JavaScript)
    response = client.post("/settings/modules/example", data={"enabled": "false"}, follow_redirects=False)
    assert response.status_code == 303
    # then it vanishes at once, without restart
    assert visible(client) == {"page": 404, "api": 404, "nav": False, "hook": False}
    # and nothing was deleted
    after = row_counts(carnet_db)
    assert {k: v for k, v in after.items() if v < before.get(k, 0)} == {}

    # when it is enabled again through htmx, the row comes back as a partial and the module shows
    partial = client.post("/settings/modules/example", data={"enabled": "true"}, headers={"HX-Request": "true"})
    assert partial.status_code == 200 and partial.text.lstrip().startswith('<tr id="module-example"')
    assert visible(client) == {"page": 200, "api": 200, "nav": True, "hook": True}
    assert example.SEEN["toggled"] == [("cabinet-test", "example", False), ("cabinet-test", "example", True)]


def test_cli_toggle_applies_to_a_running_app_and_its_schedules(client, clinic, staff, login_as, cli, jobs_worker):
    practitioner = staff("practitioner")
    login_as(client, practitioner)
    assert client.get("/example/").status_code == 200

    assert "example disabled for cabinet-test" in cli("plugins", "disable", "example", "--clinic", "cabinet-test")
    assert client.get("/example/").status_code == 404
    assert '"enabled": false' in cli("plugins", "list", "--clinic", "cabinet-test", "--json")
    scheduler = Scheduler(jobs_worker.db, jobs_worker.host, jobs_worker.config)
    scheduler.tick()
    wait_for_jobs(jobs_worker)
    assert example.SEEN["greeted"] == []

    cli("plugins", "enable", "example", "--clinic", "cabinet-test")
    assert client.get("/example/").status_code == 200
    # the next run of the schedule reaches the clinic again
    from datetime import timedelta

    from carnet_core.db.base import utcnow

    scheduler.tick(now=utcnow() + timedelta(minutes=6))
    wait_for_jobs(jobs_worker)
    assert example.SEEN["greeted"] == [clinic.id]


def test_a_clinic_without_the_module_never_sees_it_while_another_clinic_does(client, make_clinic, staff, login_as):
    other = make_clinic("sans-module", plugins=[])
    member = staff("owner,practitioner", clinic=other)
    login_as(client, member)
    assert visible(client) == {"page": 404, "api": 404, "nav": False, "hook": False}
    modules = client.get("/settings/modules").text
    assert "example" in modules  # offered, but disabled
    assert "Désactivé" in modules


def test_only_owners_manage_modules(client, clinic, staff, login_as, carnet_db):
    secretary = staff("secretary")
    login_as(client, secretary)
    assert client.get("/settings/modules").status_code == 403
    before = row_counts(carnet_db)
    assert client.post("/settings/modules/example", data={"enabled": "false"}).status_code == 403
    assert row_counts(carnet_db) == before
    assert client.post("/settings/modules/unknown", data={"enabled": "false"}).status_code in (403, 404)


def test_hook_navigation_items(client, make_clinic, staff, login_as):
    # entries appear for clinics that enabled the plugin and hold the entry's permission
    avec = make_clinic("avec", plugins=["example"])
    login_as(client, staff("practitioner", clinic=avec))
    assert 'href="/example/"' in client.get("/").text
    client.post("/logout")
    login_as(client, staff("secretary", clinic=avec))  # lacks example.view
    assert 'href="/example/"' not in client.get("/").text


def test_hook_template_context(client, make_clinic, staff, login_as):
    avec = make_clinic("avec", plugins=["example"])
    login_as(client, staff("practitioner", clinic=avec))
    assert "example-context-value" in client.get("/example/").text
    assert example.SEEN["context"] and set(example.SEEN["context"]) == {avec.id}
