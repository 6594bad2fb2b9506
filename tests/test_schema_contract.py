"""Schema mistakes a plugin author makes silently fail at start (or at `carnet init`) with a message
naming the fix: a sealed column on a table that is not clinic-owned, a table without the plugin's
prefix, a reference between clinic rows that the database would let cross clinics, and models that
no longer match their migrations."""

from __future__ import annotations

import textwrap
import uuid

import pytest
from click.testing import CliRunner

from carnet_core.cli import main
from carnet_core.plugins import PluginError, build_plugin_host
from carnet_core.testing.plugin import make_settings


def _plugin_package(tmp_path, monkeypatch, models: str) -> tuple[str, object]:
    """A plugin package on sys.path (`plugin.py` wires nothing, `models.py` as given)."""
    import importlib

    name = f"bad{uuid.uuid4().hex[:6]}"
    package = tmp_path / "plugins" / f"carnet_{name}"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text('CARNET_CORE_REQUIRES = ">=0.1,<1"\n')
    (package / "models.py").write_text(textwrap.dedent(models).replace("PLUGIN", name))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    return name, importlib.import_module(f"carnet_{name}.plugin")


def _start(tmp_path, name, module):
    return build_plugin_host(make_settings(tmp_path / "home"), extra=[(name, module)])


def test_a_sealed_column_on_a_table_that_is_not_clinic_owned_fails_at_start(tmp_path, monkeypatch):
    name, module = _plugin_package(tmp_path, monkeypatch, """
        from sqlmodel import Field, SQLModel
        from carnet_core.encryption.types import Sealed

        class Memo(SQLModel, table=True):
            __tablename__ = "PLUGIN_memo"
            id: int | None = Field(default=None, primary_key=True)
            body: bytes | None = Field(default=None, sa_type=Sealed)
    """)
    with pytest.raises(PluginError) as failed:
        _start(tmp_path, name, module)
    assert f"table '{name}_memo' (Memo) has sealed columns body but is not clinic-owned" in str(failed.value)
    assert "inherit carnet_core.db.ClinicOwned" in str(failed.value)


def test_a_plugin_table_without_the_plugin_prefix_fails_at_start(tmp_path, monkeypatch):
    name, module = _plugin_package(tmp_path, monkeypatch, """
        from sqlmodel import Field
        from carnet_core.db import ClinicOwned

        class Visit(ClinicOwned, table=True):
            __tablename__ = "PLUGINvisit"
            id: int | None = Field(default=None, primary_key=True)
    """)
    with pytest.raises(PluginError) as failed:
        _start(tmp_path, name, module)
    assert f"plugin '{name}': table '{name}visit' (Visit) must be named '{name}_…'" in str(failed.value)


def test_a_plain_foreign_key_to_a_patient_fails_at_start_naming_same_clinic(tmp_path, monkeypatch):
    name, module = _plugin_package(tmp_path, monkeypatch, """
        from sqlmodel import Field
        from carnet_core.db import ClinicOwned

        class Score(ClinicOwned, table=True):
            __tablename__ = "PLUGIN_score"
            id: int | None = Field(default=None, primary_key=True)
            patient_id: int = Field(foreign_key="core_patient.id")
    """)
    with pytest.raises(PluginError) as failed:
        _start(tmp_path, name, module)
    message = str(failed.value)
    assert f"{name}_score.patient_id references core_patient of any clinic" in message
    assert "same_clinic('patient_id', 'core_patient')" in message


def test_the_installed_plugins_models_keep_the_contract(plugin_host):
    from carnet_core.db.schema import schema_problems

    assert schema_problems(plugin_host) == []


def test_carnet_init_reports_models_that_no_longer_match_the_migrations_and_exits_1(tmp_path):
    settings = make_settings(tmp_path / "home")
    env = {"CARNET_HOME": str(settings.home), "CARNET_DATABASE_URL": settings.database_url}
    runner = CliRunner()
    first = runner.invoke(main, ["init"], env=env)
    assert first.exit_code == 0, first.output
    assert "database: migrated to" in first.output
    again = runner.invoke(main, ["init"], env=env)
    assert again.exit_code == 0 and "database: up to date" in again.output
    # a column dropped from under the models (a missing migration looks the same from here)
    import sqlalchemy as sa

    engine = sa.create_engine(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE core_clinic ADD COLUMN stray INTEGER")
        conn.exec_driver_sql("DROP INDEX ix_core_patient_clinic_email")
    engine.dispose()
    drifted = runner.invoke(main, ["init"], env=env)
    assert drifted.exit_code == 1, drifted.output
    assert "database: migrated, but 2 difference(s) from the models remain" in drifted.output
    assert "column core_clinic.stray is in the database, not in the models" in drifted.output
    assert "index ix_core_patient_clinic_email on core_patient is in the models, not in the database" in drifted.output
    assert "carnet migrations new" in drifted.output and "Do not serve" in drifted.output
    # the other steps still ran (key material is there)
    assert "master key" in drifted.output
