"""`make mutation`: mutation testing of the security modules with mutmut 3.x, one target at a time.

    python scripts/mutation.py                 # every target of mutation/targets.toml
    python scripts/mutation.py scoping audit   # some targets
    python scripts/mutation.py --score         # scores of the last runs, nothing re-run
    python scripts/mutation.py --survivors scoping   # the diff of each surviving mutant
    python scripts/mutation.py --mutmut-results      # mutmut's own list of the mutants not killed
    python scripts/mutation.py identity --mutants 'carnet_core.identity.sessions.x_token_authenticator__*'
                                               # only these mutants (mutmut's names, fnmatch patterns)

Each target gets a work folder `var/mutation/<target>/`: its `src` is a link to the target's source
root, and its `pyproject.toml` is the root `[tool.mutmut]` plus the target's files and focused
tests. mutmut copies `src` into `mutants/src`, which its runner puts first on `sys.path`, so the
tests (run from the repository's own test files) import the mutated copy. Runs are incremental:
mutmut keeps its results in the work folder and re-runs only what changed (delete the folder to
start over). The score excludes the reviewed equivalent mutants of `mutation/equivalent.toml`;
an entry whose diff no longer matches the mutant of that name is reported as stale and counted.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "mutation" / "targets.toml"
EQUIVALENT = ROOT / "mutation" / "equivalent.toml"
WORK = ROOT / "var" / "mutation"
# mutmut's exit codes (mutmut.stats.status_by_exit_code): 1 and 3 are kills.
KILLED = {1, 3}
TIMEOUT = {36, -24, 24, 152, 255}


@dataclass
class Target:
    name: str
    root: str
    mutate: list[str]
    tests: list[str]
    exclude: list[str] = field(default_factory=list)

    @property
    def work(self) -> Path:
        return WORK / self.name


@dataclass
class Score:
    target: str
    killed: int = 0
    timeout: int = 0
    survived: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # not run yet (a run cut short)
    equivalent: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return self.killed + self.timeout + len(self.survived) + len(self.no_tests) + len(self.other)

    @property
    def percent(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.counted if self.counted else 0.0


def load_targets() -> dict[str, Target]:
    data = tomllib.loads(TARGETS.read_text())
    return {name: Target(name, t["root"], list(t["mutate"]), list(t["tests"]), list(t.get("exclude", [])))
            for name, t in data.items()}


def load_equivalents() -> dict[str, dict[str, str]]:
    """Mutant name -> {"target", "diff", "reason"} of every reviewed equivalent mutant."""
    if not EQUIVALENT.exists():
        return {}
    entries = tomllib.loads(EQUIVALENT.read_text()).get("mutant", [])
    found = {}
    for entry in entries:
        missing = {"target", "name", "diff", "reason"} - set(entry)
        if missing or not entry["reason"].strip():
            raise SystemExit(f"{EQUIVALENT}: entry {entry.get('name')!r} lacks {sorted(missing) or ['a reason']}")
        found[entry["name"]] = entry
    return found


def write_config(target: Target) -> None:
    """The target's work folder: `src` linked to its source root, its own [tool.mutmut]."""
    work = target.work
    work.mkdir(parents=True, exist_ok=True)
    src = work / "src"
    if src.is_symlink() and src.resolve() != (ROOT / target.root).resolve():
        src.unlink()
    if not src.exists():
        src.symlink_to(ROOT / target.root, target_is_directory=True)
    for test in target.tests:
        if not (ROOT / test.split("::")[0]).exists():
            raise SystemExit(f"target {target.name}: test file {test} does not exist")
    for path in target.mutate:
        if not (ROOT / target.root / path).exists():
            raise SystemExit(f"target {target.name}: {target.root}/{path} does not exist")
    shared = tomllib.loads((ROOT / "pyproject.toml").read_text()).get("tool", {}).get("mutmut", {})
    config = dict(shared)
    config["source_paths"] = ["src"]
    config["only_mutate"] = [f"src/{p}" for p in target.mutate]
    # Absolute test paths: mutmut runs pytest from `mutants/`; the repository's pytest settings apply.
    config["pytest_add_cli_args_test_selection"] = [str(ROOT / t) for t in target.tests]
    config["pytest_add_cli_args"] = [f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml"),
                                     *shared.get("pytest_add_cli_args", [])]
    lines = ["# Written by scripts/mutation.py from mutation/targets.toml: edit that file instead.",
             "[tool.mutmut]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    text = "\n".join(lines) + "\n"
    path = work / "pyproject.toml"
    if not path.exists() or path.read_text() != text:
        # mutmut fingerprints its configuration and invalidates what a change affects (a new test
        # selection: everything; new timeouts: the timeouts), keeping the other verdicts.
        path.write_text(text)
    # mutmut runs the tests from `mutants/` by their ids relative to the repository: link the
    # test folders' top directories there (the mutated package itself is the copy in mutants/src).
    (work / "mutants").mkdir(exist_ok=True)
    for top in sorted({Path(t).parts[0] for t in target.tests}):
        link = work / "mutants" / top
        if not link.is_symlink():
            link.symlink_to(ROOT / top, target_is_directory=True)


def _environment(target: Target | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # Focused tests on the embedded defaults (SQLite, in-process broker): deterministic and fast.
    for name in ("CARNET_TEST_DATABASE_URL", "CARNET_TEST_REDIS_URL", "CARNET_TEST_REQUIRE_SERVICES"):
        env.pop(name, None)
    # ... unless MUTATION_DATABASE_URL names a PostgreSQL database: code that differs on PostgreSQL
    # only (a role set on each connection, a dialect's branch) is measured there, e.g.
    # `MUTATION_DATABASE_URL=postgresql://... scripts/mutation.py scoping --mutants 'NAME*'`.
    if os.environ.get("MUTATION_DATABASE_URL"):
        env["CARNET_TEST_DATABASE_URL"] = os.environ["MUTATION_DATABASE_URL"]
    # The quickest tests first (mutation/order_tests.py); through the environment, not mutmut's
    # pytest arguments, which mutmut fingerprints (a change there re-runs every mutant).
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "mutation"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTEST_PLUGINS"] = "order_tests"
    # `exclude`: node ids (relative to the repository) of tests of those files left out.
    env["MUTATION_EXCLUDE"] = "\n".join(target.exclude) if target else ""
    # Every mutant is a new pytest process: the migrated SQLite template is kept across them
    # (carnet_core.testing.plugin, named by the migrations' content) instead of migrating per mutant.
    env["CARNET_TEST_TEMPLATE_DIR"] = str(WORK / "templates")
    return env


def refresh_unmutated(target: Target) -> None:
    """mutmut copies the source root into `mutants/src` once and never again: bring the files it
    does not mutate up to date with the checkout (the code the mutants run with must be main's)."""
    source, copy = ROOT / target.root, target.work / "mutants" / "src"
    if not copy.is_dir():
        return
    mutated = {Path(p) for p in target.mutate}
    for path in source.rglob("*"):
        relative = path.relative_to(source)
        if not path.is_file() or relative in mutated or "__pycache__" in relative.parts:
            continue
        mirror = copy / relative
        if mirror.exists() and mirror.read_bytes() != path.read_bytes():
            shutil.copy2(path, mirror)


def normalise_stats(target: Target) -> None:
    """Test names as the repository's node ids in mutmut's stats.

    mutmut collects the tests from `mutants/` (the test folders are linked there), and when it
    measures tests added since its first run it names them through the link
    (`var/mutation/<target>/mutants/core/tests/...`), a path that does not exist from `mutants/`:
    pytest then refuses the whole selection. Renamed back to `core/tests/...`."""
    stats = target.work / "mutants" / "mutmut-stats.json"
    if not stats.exists():
        return
    prefix = f"{(target.work / 'mutants').relative_to(ROOT)}/"
    data = json.loads(stats.read_text())

    def fix(name: str) -> str:
        return name[len(prefix):] if name.startswith(prefix) else name

    data["duration_by_test"] = {fix(k): v for k, v in data.get("duration_by_test", {}).items()}
    data["tests_by_mangled_function_name"] = {
        k: sorted({fix(t) for t in v}) for k, v in data.get("tests_by_mangled_function_name", {}).items()}
    stats.write_text(json.dumps(data, indent=4))


def run(target: Target, max_children: int, equivalents: dict[str, dict[str, str]],
        only: list[str] | None = None) -> int:
    write_config(target)
    refresh_unmutated(target)
    mutmut = Path(sys.executable).parent / "mutmut"
    command = ["nice", "-n", os.environ.get("MUTATION_NICE", "10"), str(mutmut), "run", "--max-children",
               str(max_children)]
    print(f"== {target.name}: mutmut on {', '.join(target.mutate)} against {', '.join(target.tests)}", flush=True)
    # `only`: the mutants of some functions (a function changed since the last full run); mutmut
    # still generates every mutant and leaves the others as they were.
    done = _mutmut(target, [*command, *(only or [])])
    if done.returncode != 0:
        return done.returncode
    # mutmut keeps a verdict until the mutated function changes: a survivor of an earlier run is
    # not tried again when tests are added. Try every mutant not killed again, by name, against
    # the current tests (mutmut re-runs the mutants it is given explicitly); reviewed equivalents
    # are not tried again.
    again = [name for name, code in _results(target).items()
             if code not in KILLED and code not in TIMEOUT and name not in equivalents
             and (only is None or any(fnmatch.fnmatchcase(name, pattern) for pattern in only))]
    if again:
        print(f"== {target.name}: {len(again)} mutants not killed, tried again against the current tests", flush=True)
        if any(_results(target)[name] in (5, 33) for name in again):
            # mutmut maps tests to functions once; a function added since has none: measure again
            # (the verdicts are kept, only the test mapping is rebuilt).
            (target.work / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
        done = _mutmut(target, [*command, *again])
    return done.returncode


def _mutmut(target: Target, command: list[str]) -> subprocess.CompletedProcess[bytes]:
    """One mutmut run; once more when it measured new tests under misleading names (see
    normalise_stats), now that they are renamed."""
    normalise_stats(target)
    done = subprocess.run(command, cwd=target.work, env=_environment(target), check=False)  # noqa: S603
    stats = target.work / "mutants" / "mutmut-stats.json"
    prefix = f"{(target.work / 'mutants').relative_to(ROOT)}/"
    if done.returncode != 0 and stats.exists() and prefix in stats.read_text():
        normalise_stats(target)
        done = subprocess.run(command, cwd=target.work, env=_environment(target), check=False)  # noqa: S603
    return done


def _results(target: Target) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for path in target.mutate:
        meta = target.work / "mutants" / "src" / f"{path}.meta"
        if meta.exists():
            found.update(json.loads(meta.read_text())["exit_code_by_key"])
    return found


def diff_of(target: Target, name: str) -> str:
    """mutmut's own diff of a mutant (`mutmut show`), computed in the target's work folder."""
    mutmut = Path(sys.executable).parent / "mutmut"
    shown = subprocess.run([str(mutmut), "show", name], cwd=target.work, env=_environment(),  # noqa: S603
                           capture_output=True, text=True, check=False)
    return shown.stdout


def changed_lines(diff: str) -> str:
    """The mutant's own lines of a diff (`+` lines, the mutant's signature in the equivalent list);
    for a mutant that only removes code, the removed lines, each as `- line`."""
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    if added:
        return "\n".join(added)
    return "\n".join(
        f"- {line[1:].strip()}" for line in diff.splitlines() if line.startswith("-") and not line.startswith("---"))


def score(target: Target, equivalents: dict[str, dict[str, str]]) -> Score | None:
    results = _results(target)
    if not results:
        return None
    result = Score(target.name)
    for name, code in sorted(results.items()):
        if code is None:
            result.pending.append(name)
            continue
        if code in KILLED:
            result.killed += 1
            continue
        if code in TIMEOUT:
            result.timeout += 1
            continue
        entry = equivalents.get(name)
        if entry is not None and entry["target"] == target.name:
            if changed_lines(diff_of(target, name)) == entry["diff"].strip():
                result.equivalent.append(name)
                continue
            result.stale.append(name)
        if code == 0:
            result.survived.append(name)
        elif code in (5, 33):
            result.no_tests.append(name)
        else:
            result.other.append(f"{name} (exit {code})")
    return result


def print_score(result: Score) -> None:
    print(f"{result.target}: {result.percent:.1f} % killed ({result.killed} killed, {result.timeout} timeout, "
          f"{len(result.survived)} survived, {len(result.no_tests)} not covered by the target's tests, "
          f"{len(result.other)} other; {len(result.equivalent)} reviewed equivalents excluded"
          + (f"; {len(result.pending)} not run yet" if result.pending else "") + ")")
    for name in result.stale:
        print(f"    stale equivalent entry (the mutant of that name changed; review it again): {name}")
    for name in result.survived + result.no_tests + result.other:
        print(f"    not killed: {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", help="targets of mutation/targets.toml (default: all)")
    parser.add_argument("--score", action="store_true", help="print the scores of the last runs only")
    parser.add_argument("--survivors", action="store_true", help="print the diff of every mutant not killed")
    parser.add_argument("--mutmut-results", action="store_true",
                        help="print mutmut's own `mutmut results` (every mutant not killed) of each target")
    parser.add_argument("--max-children", type=int, default=int(os.environ.get("MUTATION_CHILDREN", "2")))
    parser.add_argument("--mutants", nargs="+", default=None, metavar="PATTERN",
                        help="run only the mutants matching these names (fnmatch patterns of mutmut's names)")
    parser.add_argument("--fail-under", type=float, default=None, help="exit 1 if a target scores lower")
    args = parser.parse_args(argv)
    targets = load_targets()
    unknown = [t for t in args.targets if t not in targets]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {sorted(targets)}")
    chosen = [targets[t] for t in (args.targets or targets)]
    equivalents = load_equivalents()
    failed = False
    for target in chosen:
        if args.mutmut_results:
            mutmut = Path(sys.executable).parent / "mutmut"
            print(f"== {target.name}: mutmut results", flush=True)
            subprocess.run([str(mutmut), "results"], cwd=target.work, env=_environment(), check=False)  # noqa: S603
            continue
        if not (args.score or args.survivors):
            code = run(target, args.max_children, equivalents, args.mutants)
            if code != 0:
                print(f"{target.name}: mutmut ended with exit code {code}", file=sys.stderr)
                failed = True
        result = score(target, equivalents)
        if result is None:
            print(f"{target.name}: no results yet (run `make mutation TARGETS={target.name}`)")
            continue
        print_score(result)
        if args.survivors:
            for name in result.survived + result.no_tests:
                print(diff_of(target, name))
        if args.fail_under is not None and result.percent < args.fail_under:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
