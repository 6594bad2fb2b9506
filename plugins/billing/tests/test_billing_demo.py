"""`carnet demo` gives the demo practitioners a month of billing: profiles complete, issued notes
numbered without gaps per practitioner, payments, a credit note and drafts left to issue."""

from click.testing import CliRunner
from sqlmodel import select

from carnet_billing.models import Note, Payment
from carnet_billing.services import profiles
from carnet_core.testing import DEMO_SLUG, carnet_cli


def test_the_demo_clinic_has_a_month_of_notes_and_payments(carnet_db, carnet_settings, plugin_host):
    env = {"CARNET_HOME": str(carnet_settings.home), "CARNET_DATABASE_URL": carnet_settings.database_url}
    result = CliRunner().invoke(carnet_cli, ["demo"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    import sqlalchemy as sa

    with carnet_db.engine.connect() as conn:
        clinic_id = conn.execute(sa.text("SELECT id FROM core_clinic WHERE slug = :s"), {"s": DEMO_SLUG}).scalar()
    with carnet_db.session(clinic_id=clinic_id) as db:
        rows = db.exec(select(Note)).all()
        issued = [n for n in rows if n.status == "issued"]
        by_practitioner: dict[int, list[int]] = {}
        for note in sorted(issued, key=lambda n: n.seq):
            by_practitioner.setdefault(note.practitioner_id, []).append(note.seq)
        assert len(by_practitioner) == 2
        assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in by_practitioner.values())
        assert any(n.kind == "credit" for n in rows) and any(n.status == "draft" for n in rows)
        assert len(db.exec(select(Payment)).all()) >= 4
        assert all(not profiles.missing_mentions(profiles.get(db, p)) for p in by_practitioner)
