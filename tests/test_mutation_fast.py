"""The fast mutant set: the most important security mutations must each make a test fail.

`make mutation` (mutmut, docs/MUTATION.md) runs thousands of mutants in tens of minutes; this runs
in every `make test`: each named mutation below is applied to its own copy of carnet_core, and the
test that guards it runs against the copy in a fresh process, where it must FAIL (a failed test,
not an error). A control run of the same guard tests against the unmutated code, in the same
minimal pytest (only Carnet's plugin loaded), must pass: the failures are the mutations'. A
snippet that no longer appears exactly once fails too: the guarded code moved, so update the
mutation (and check its test still guards it).

Cost: one interpreter per case (the import check and pytest in the same process), carnet_core
byte-compiled once for every copy, pytest without the third-party plugins the guard tests do not
use, and the cases run side by side on the machine's cores.
"""

from __future__ import annotations

import compileall
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "core" / "src" / "carnet_core"


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str  # relative to carnet_core/
    original: str
    mutant: str
    tests: tuple[str, ...]


# verify_clinic's two checks of the chain's end (a record after the head's seq, a last record whose
# hash is not the head's): removing both lets records forged after the head pass.
_TAIL_CHECKS = (
    "    if head_seq < result.last_seq:\n"
    "        return result.fail(Problem(\n"
    '            f"after the chain head (seq {head_seq}): records were added outside the application (inserted)",\n'
    "            seq=head_seq + 1,\n"
    "        ))\n"
    "    if result.records and head_hash != running:\n"
)

MUTATIONS = [
    Mutation(
        "scoping: the clinic filter removed from a one-table query",
        "db/session.py",
        "        state.statement = statement.where(only.c.clinic_id == clinic_id)\n",
        "        pass\n",
        ("core/tests/test_scoping.py::test_scoped_session_sees_only_its_clinic_rows",),
    ),
    Mutation(
        "scoping: the clinic filter removed from a joined or nested query",
        "db/session.py",
        "    state.statement = statement.options(",
        "    return\n    state.statement = statement.options(",
        ("core/tests/test_scoping.py::test_a_table_met_again_in_a_subquery_or_alias_is_scoped_there_too",),
    ),
    Mutation(
        "scoping: the per-request session unscoped by default",
        "web/app.py",
        'state.db.new_session(clinic_id=request.scope["state"].get("clinic_id"))',
        'state.db.new_session(clinic_id=request.scope["state"].get("clinic_id"), unscoped=True)',
        ("core/tests/test_scoping.py::test_a_request_without_a_clinic_gets_a_session_bound_to_none_never_unscoped",),
    ),
    Mutation(
        "csrf: the anonymous token no longer bound to the visitor's cookie",
        "identity/csrf.py",
        'return keys.mac("csrf", cookie_value)',
        'return keys.mac("csrf", "")',
        ("core/tests/test_csrf.py::test_login_tokens_are_per_visitor",),
    ),
    Mutation(
        "api tokens: scope enforcement disabled",
        "web/principal.py",
        "if self.scopes is not None and permission not in self.scopes:",
        "if False:",
        ("tests/test_api_scopes.py::test_a_read_scope_reads_but_never_writes",),
    ),
    Mutation(
        "encryption: the blind index keyed with the data key",
        "encryption/services.py",
        "key = _active_data_key(db, clinic_id, PURPOSE_INDEX)",
        "key = _active_data_key(db, clinic_id)",
        ("core/tests/test_encryption_contract.py::test_the_blind_index_is_keyed_with_the_index_key_never_the_data_key",),
    ),
    Mutation(
        "encryption: the active-key cache entry without its clinic",
        "encryption/services.py",
        'return ("active", clinic_id, purpose)',
        'return ("active", purpose)',
        ("core/tests/test_encryption_contract.py::test_a_session_touching_two_clinics_seals_each_with_its_own_keys",),
    ),
    Mutation(
        "encryption: an erased patient's key left in the process keyring",
        "encryption/services.py",
        "keyring_of(db).forget(",
        "(lambda *_: None)(",
        ("core/tests/test_encryption_contract.py::test_an_erased_patients_key_leaves_the_session_and_process_caches",),
    ),
    Mutation(
        "audit: a hashed column dropped from the hashed content",
        "audit/chain.py",
        "_json(action), _json(actor_id), _json(actor_kind),",
        "_json(action), _json(None), _json(actor_kind),",
        ("core/tests/test_audit_verify.py::test_a_modified_record_is_named",),
    ),
    Mutation(
        "audit: purge's DELETE without its clinic filter",
        "audit/integrity.py",
        "            AuditRecord.__table__.c.clinic_id == clinic_id,  # type: ignore[attr-defined]\n",
        "",
        ("core/tests/test_audit_purge.py::test_purge_deletes_only_its_clinics_records_even_without_the_triggers",),
    ),
    Mutation(
        "audit: the signed checkpoint message without the chain hash",
        "audit/checkpoints.py",
        '"seq": seq, "hash": hash_, "created_at"',
        '"seq": seq, "created_at"',
        (
            "core/tests/test_audit_tamper_properties.py"
            "::test_a_rewritten_chain_with_its_checkpoint_hashes_updated_names_the_checkpoint",
        ),
    ),
    Mutation(
        "audit: both end-of-chain checks removed (records forged after the head)",
        "audit/integrity.py",
        _TAIL_CHECKS,
        _TAIL_CHECKS.replace("if head_seq < result.last_seq:", "if False:").replace(
            "if result.records and head_hash != running:", "if False:"
        ),
        ("core/tests/test_audit_tamper_properties.py::test_forged_records_appended_after_the_head_are_named[1]",),
    ),
]


# One interpreter per case: check the mutated copy is the carnet_core imported, then run pytest.
RUNNER = """
import sys
import carnet_core
if not carnet_core.__file__.startswith(sys.argv[1]):
    print("imported", carnet_core.__file__, "instead of the copy in", sys.argv[1])
    sys.exit(99)
import pytest
sys.exit(pytest.main(sys.argv[2:]))
"""


@dataclass
class Outcome:
    code: int
    failed: int
    errors: int
    output: str


def _run(copy_parent: Path, tests: tuple[str, ...], report: Path) -> Outcome:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(copy_parent), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # Only Carnet's pytest plugin: the third-party ones (faker, schemathesis, ...) cost seconds to
    # import and no guard test uses them.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    args = ["-q", "-x", "-p", "no:cacheprovider", "-p", "carnet_core.testing.plugin", f"--junitxml={report}", *tests]
    done = subprocess.run([sys.executable, "-c", RUNNER, str(copy_parent / "carnet_core"), *args],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    failed = errors = 0
    if report.exists():
        for suite in ET.parse(report).getroot().iter("testsuite"):
            failed += int(suite.get("failures", 0))
            errors += int(suite.get("errors", 0))
    return Outcome(done.returncode, failed, errors, done.stdout[-3000:] + done.stderr[-2000:])


class Cases:
    """Every case (and the control run) submitted at once, run two or more at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        template = root / "template" / "carnet_core"
        shutil.copytree(PACKAGE, template, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        compileall.compile_dir(template, quiet=1)  # once, for every copy (copies keep mtimes)
        self.template = template
        self.pool = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2))
        everything = tuple(t for m in MUTATIONS for t in m.tests)
        self.control: Future[Outcome] = self.pool.submit(_run, template.parent, everything, root / "control.xml")
        self.futures: dict[str, Future[Outcome]] = {}
        self.problems: dict[str, str] = {}
        for index, mutation in enumerate(MUTATIONS):
            parent = root / f"case-{index}"
            copy = parent / "carnet_core"
            shutil.copytree(template, copy)
            target = copy / mutation.file
            source = target.read_text()
            if source.count(mutation.original) != 1:
                self.problems[mutation.name] = (
                    f"{mutation.file}: the guarded snippet {mutation.original!r} appears "
                    f"{source.count(mutation.original)} times; update the mutation in tests/test_mutation_fast.py")
                continue
            target.write_text(source.replace(mutation.original, mutation.mutant))
            for stale in (target.parent / "__pycache__").glob(f"{target.stem}.*.pyc"):
                stale.unlink()
            self.futures[mutation.name] = self.pool.submit(_run, parent, mutation.tests, root / f"case-{index}.xml")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory):
    found = Cases(tmp_path_factory.mktemp("mutation-fast"))
    yield found
    found.pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.slow
def test_the_guard_tests_pass_without_the_mutations(cases: Cases) -> None:
    outcome = cases.control.result()
    assert outcome.code == 0, f"the guard tests fail on the unmutated code (exit {outcome.code})\n{outcome.output}"


@pytest.mark.slow
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_suite_kills_the_mutant(mutation: Mutation, cases: Cases) -> None:
    assert mutation.name not in cases.problems, cases.problems.get(mutation.name)
    outcome = cases.futures[mutation.name].result()
    assert outcome.code == 1 and outcome.failed >= 1 and outcome.errors == 0, (
        f"the mutant survived (exit {outcome.code}, {outcome.failed} failed, {outcome.errors} errors): "
        f"{mutation.name}\n{outcome.output}"
    )
