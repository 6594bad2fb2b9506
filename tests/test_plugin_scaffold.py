"""The plugin kit (issue 8): `carnet plugins new` scaffolds an out-of-tree plugin that is clean,
passes `carnet plugins check`, installs, migrates and passes its own tests unchanged;
`carnet migrations new` autogenerates a revision on its branch; `carnet plugins check` names
each mistake and its fix; `carnet messages extract` serves any installed plugin."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet_core.testing import carnet_cli

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def generate(parent: Path, name: str = "bilans") -> Path:
    result = CliRunner().invoke(carnet_cli, ["plugins", "new", name, "--dir", str(parent)])
    assert result.exit_code == 0, result.output
    return parent / f"carnet-{name}"


def test_a_generated_plugin_is_complete_and_ruff_clean(tmp_path):
    from carnet_core.kit.messages import update
    from carnet_core.kit.scaffold import core_range
    from carnet_core.version import __version__

    plugin = generate(tmp_path)
    meta = tomllib.loads((plugin / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "carnet-bilans"
    assert meta["entry-points"]["carnet.plugins"] == {"bilans": "carnet_bilans.plugin"}
    assert meta["dependencies"] == [f"carnet-core{core_range()}"]
    from packaging.specifiers import SpecifierSet

    assert __version__ in SpecifierSet(core_range())
    package = plugin / "src" / "carnet_bilans"
    for part in ("plugin.py", "models.py", "services.py", "controllers.py", "permissions.py",
                 "migrations/bilans_0001_initial.py", "templates/bilans/patient.html",
                 "translations/fr/LC_MESSAGES/bilans.po"):
        assert (package / part).is_file(), part
    migration = (package / "migrations" / "bilans_0001_initial.py").read_text()
    assert 'branch_labels = ("bilans",)' in migration and "enable_clinic_rls(op" in migration
    assert 'same_clinic("patient_id", "core_patient")' in migration
    # plugin.py only wires; every module imports core through its public surface alone
    for source in package.rglob("*.py"):
        imported = set(re.findall(r"^\s*(?:from|import) (carnet_core[\w.]*)", source.read_text(), re.M))
        assert imported <= {"carnet_core.plugin_api"}, (source.name, imported)
    assert '<input type="hidden" name="_csrf_token"' in (package / "templates/bilans/patient.html").read_text()
    assert update("bilans", package, check=True) == 0  # every message translated
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=plugin, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("name", ["Bilans", "b", "core", "bi-lans", "1bilans", "class"])
def test_a_bad_name_is_refused_with_the_rule(tmp_path, name):
    result = CliRunner().invoke(carnet_cli, ["plugins", "new", name, "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "error:" in result.output
    assert not (tmp_path / f"carnet-{name}").exists()


def test_an_existing_folder_is_never_overwritten(tmp_path):
    generate(tmp_path)
    result = CliRunner().invoke(carnet_cli, ["plugins", "new", "bilans", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.output


@pytest.mark.slow
def test_a_generated_plugin_installs_checks_migrates_and_passes_its_own_tests(tmp_path):
    """Acceptance 2 (also a step of CI): generated outside the repository, installed into a
    throwaway environment layered on this one, `plugins check`, `carnet init`, its own tests."""
    trial = subprocess.run([sys.executable, str(ROOT / "scripts" / "plugin_trial.py"), "--dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=900)
    assert trial.returncode == 0, trial.stdout[-4000:] + trial.stderr[-4000:]
    assert re.search(r"^\d+ passed", trial.stdout, re.M), trial.stdout[-2000:]
    assert "== check" in trial.stdout and "\nok\n" in trial.stdout
    # the kit's other commands on that installed plugin, as its author would use them
    python, plugin = tmp_path / "venv" / "bin" / "python", tmp_path / "carnet-bilans"
    package = plugin / "src" / "carnet_bilans"
    env = {"PATH": "/usr/bin:/bin", "CARNET_HOME": str(tmp_path / "home")}

    def carnet(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-m", "carnet_core", *args], cwd=plugin, env=env, capture_output=True,
                              text=True, timeout=300)

    models = package / "models.py"
    models.write_text(models.read_text().replace(
        "    created_at: datetime", "    score: int | None = None\n    created_at: datetime"))
    wiring = package / "plugin.py"
    wiring.write_text(wiring.read_text() + "\n\ndef demo_data(clinic, db, context):\n    return None\n")
    checked = carnet("plugins", "check", "bilans")
    assert checked.returncode == 1
    assert "column bilans_entry.score is in the models, not in the database" in checked.stderr
    assert "carnet migrations new bilans" in checked.stderr
    assert "'demo_data' is named like a hook but is not marked @hookimpl" in checked.stderr

    made = carnet("migrations", "new", "bilans", "-m", "Add a score")
    assert made.returncode == 0, made.stderr
    revision = package / "migrations" / "bilans_0002_add_a_score.py"
    text = revision.read_text()
    assert "down_revision = 'bilans_0001'" in text and "add_column(sa.Column('score', sa.Integer()" in text
    wiring.write_text(wiring.read_text().replace("def demo_data", "@hookimpl\ndef demo_data"))
    checked = carnet("plugins", "check", "bilans")
    assert checked.returncode == 0, checked.stderr
    lint = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=plugin, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout

    templates = package / "templates" / "bilans" / "patient.html"
    templates.write_text(templates.read_text().replace('_("Save")', '_("Save the entry")'))
    assert carnet("messages", "extract", "bilans", "--check").returncode == 1
    extracted = carnet("messages", "extract", "bilans")
    assert extracted.returncode == 0 and "1 to translate" in extracted.stdout
    assert 'msgid "Save the entry"' in (package / "translations/fr/LC_MESSAGES/bilans.po").read_text()


def test_the_repository_plugins_pass_plugins_check(tmp_path):
    """What `carnet plugins check` asks of an out-of-tree plugin holds for this repository's own."""
    from carnet_core.kit.checks import check_plugins
    from carnet_core.settings import load_settings

    names = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    problems, _notes = check_plugins(load_settings({"CARNET_HOME": str(tmp_path)}), names)
    assert problems == []


def test_messages_extract_serves_an_installed_plugin_through_the_plugin_host(tmp_path, monkeypatch):
    monkeypatch.setenv("CARNET_HOME", str(tmp_path))
    result = CliRunner().invoke(carnet_cli, ["messages", "extract", "scheduling", "--check"])
    assert result.exit_code == 0, result.output  # its catalogue is complete, found where it is installed
    unknown = CliRunner().invoke(carnet_cli, ["messages", "extract", "nosuchplugin", "--check"])
    assert unknown.exit_code == 2 and "no installed plugin 'nosuchplugin'" in unknown.output


def test_extracting_messages_with_nothing_new_leaves_the_catalogue_as_it_was(tmp_path):
    """`make messages` / `carnet messages extract` rewrote every catalogue at each run (a new
    extraction time in its header): a diff in every plugin for a change in one. Only a change of
    messages, translations or places now writes the file."""
    from carnet_core.kit.messages import update

    package = generate(tmp_path) / "src" / "carnet_bilans"
    po = package / "translations" / "fr" / "LC_MESSAGES" / "bilans.po"
    update("bilans", package)
    # as if extracted on another day: the header's time alone must not make a new file
    before = re.sub(rb'"POT-Creation-Date: [^"]*"', lambda _: b'"POT-Creation-Date: 2026-01-02 03:04+0000\\n"',
                    po.read_bytes())
    po.write_bytes(before)
    update("bilans", package)
    assert po.read_bytes() == before
    template = package / "templates" / "bilans" / "patient.html"
    template.write_text(template.read_text().replace('_("Save")', '_("Save the entry")'))
    update("bilans", package)
    assert po.read_bytes() != before and b'msgid "Save the entry"' in po.read_bytes()
