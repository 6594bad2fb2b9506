"""`carnet demo` loads a believable clinic once and says how to log in."""

from click.testing import CliRunner

from carnet_core.cli import main
from carnet_core.demo import DEMO_SLUG, DEMO_STAFF


def run(args, carnet_settings):
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_demo_creates_the_clinic_and_prints_how_to_log_in(carnet_db, carnet_settings):
    result = run(["demo", "--if-empty"], carnet_settings)
    assert result.exit_code == 0, result.output
    assert "/login" in result.output
    for email, *_ in DEMO_STAFF:
        assert email in result.output
    listing = run(["clinic", "list"], carnet_settings)
    assert DEMO_SLUG in listing.output


def test_demo_is_loaded_only_once(carnet_db, carnet_settings):
    run(["demo"], carnet_settings)
    again = run(["demo", "--if-empty"], carnet_settings)
    assert again.exit_code == 0
    assert "already loaded" in again.output
    listing = run(["clinic", "list", "--json"], carnet_settings)
    assert listing.output.count(DEMO_SLUG) == 1


def test_demo_code_prints_a_six_digit_code(carnet_settings):
    result = run(["demo", "code", DEMO_STAFF[0][0]], carnet_settings)
    assert result.exit_code == 0
    assert result.output.strip().isdigit() and len(result.output.strip()) == 6
    unknown = run(["demo", "code", "nobody@example.org"], carnet_settings)
    assert unknown.exit_code == 2
