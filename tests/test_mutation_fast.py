"""The fast mutant set: the most important security mutations must each make a test fail.

`make mutation` (mutmut, docs/MUTATION.md) runs thousands of mutants in tens of minutes; this runs
in every `make test`: each named mutation below is applied to a copy of carnet_core, and the test
that guards it runs against the copy in a fresh process. It must FAIL there (exit code 1). A
snippet that no longer appears exactly once fails too: the guarded code moved, so update the
mutation (and check its test still guards it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


MUTATIONS = [
    Mutation(
        "scoping: the clinic filter removed from a scoped query",
        "db/session.py",
        "    state.statement = state.statement.options(",
        "    return\n    state.statement = state.statement.options(",
        ("core/tests/test_scoping.py::test_scoped_session_sees_only_its_clinic_rows",),
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
        'slot = ("active", clinic_id, purpose)',
        'slot = ("active", purpose)',
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
        '"actor_kind", "actor_id", ',
        '"actor_kind", ',
        ("core/tests/test_audit_verify.py::test_a_modified_record_is_named",),
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_suite_kills_the_mutant(mutation: Mutation, tmp_path: Path) -> None:
    copy = tmp_path / "carnet_core"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
    target = copy / mutation.file
    source = target.read_text()
    assert source.count(mutation.original) == 1, (
        f"{mutation.file}: the guarded snippet {mutation.original!r} appears {source.count(mutation.original)} "
        "times; update the mutation in tests/test_mutation_fast.py"
    )
    target.write_text(source.replace(mutation.original, mutation.mutant))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # the copy must be the one imported (PYTHONPATH precedes the editable install's path)
    probe = subprocess.run([sys.executable, "-c", "import carnet_core; print(carnet_core.__file__)"],
                           env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert probe.stdout.strip().startswith(str(copy)), probe.stdout
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 1, (
        f"the mutant survived (exit {done.returncode}): {mutation.name}\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    )
