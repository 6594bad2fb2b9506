"""Try the plugin kit as a stranger would: `python scripts/plugin_trial.py [--dir DIR] [--name NAME]`.

Generates a plugin with `carnet plugins new` in a folder outside the repository (a new temporary
one by default), installs it into a throwaway virtual environment layered on this one (so the
repository's environment is not touched), checks it with ruff and `carnet plugins check`, migrates
a fresh Carnet home with `carnet init`, and runs the plugin's own tests (on SQLite, or on the
PostgreSQL database given with `--test-database-url`, which they empty). Exits 1 at the first
step that fails, naming it. Run by CI (.ci/run) and by tests/test_plugin_scaffold.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class TrialFailed(RuntimeError):
    pass


def run(step: str, command: list[str], cwd: Path, env: dict[str, str]) -> None:
    print(f"== {step}: {' '.join(command)}", flush=True)
    if subprocess.run(command, cwd=cwd, env=env, check=False).returncode != 0:  # noqa: S603
        raise TrialFailed(f"plugin trial: '{step}' failed (see above)")


def layered_venv(folder: Path) -> Path:
    """A virtual environment that sees this environment's packages (carnet-core, pytest, ...)
    through a .pth file, and installs into its own site-packages."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)  # noqa: S603
    python = folder / "bin" / "python"
    purelib = subprocess.run(  # noqa: S603
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    layer = sysconfig.get_paths()["purelib"]
    Path(purelib, "_carnet_layer.pth").write_text(f"import site; site.addsitedir({layer!r})\n")
    return python


def trial(parent: Path, name: str, test_database_url: str | None = None) -> None:
    parent = parent.resolve()
    if parent == ROOT or ROOT in parent.parents:
        raise TrialFailed(f"plugin trial: {parent} is inside the repository; give a folder outside it")
    parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}  # nothing of the caller's
    env["CARNET_HOME"] = str(parent / "home")
    here = Path(sys.executable).parent
    run("generate", [str(here / "carnet"), "plugins", "new", name, "--dir", str(parent)], parent, env)
    plugin = parent / f"carnet-{name}"
    run("ruff", [sys.executable, "-m", "ruff", "check", "--no-cache", "."], plugin, env)
    print("== throwaway environment", flush=True)
    python = layered_venv(parent / "venv")
    run("install", [str(python), "-m", "pip", "install", "-q", "-e", str(plugin)], plugin, env)
    run("check", [str(python), "-m", "carnet_core", "plugins", "check", name], plugin, env)
    run("migrate", [str(python), "-m", "carnet_core", "init"], plugin, env)
    if test_database_url:  # its tests on PostgreSQL (row-level security, same-clinic keys there)
        env["CARNET_TEST_DATABASE_URL"] = test_database_url
    # With pytest's warnings plugin on: the generated settings turn a deprecation from the plugin's
    # code or from how it (or core) uses Litestar into a failure, so this run proves there is none.
    run("its own tests", [str(python), "-m", "pytest", "-q", "-rw"], plugin, env)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="Folder outside the repository (default: a new temporary one).")
    parser.add_argument("--name", default="bilans", help="The plugin's name (default: bilans).")
    parser.add_argument("--test-database-url", help="Run the plugin's tests on this (disposable) PostgreSQL database.")
    args = parser.parse_args()
    parent = args.dir or Path(tempfile.mkdtemp(prefix="carnet-plugin-trial-"))
    try:
        trial(parent, args.name, args.test_database_url)
    except TrialFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"plugin trial: carnet-{args.name} generated in {parent}, installed, checked, migrated, tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
