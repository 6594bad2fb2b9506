"""`carnet import clinic` (issue 12): a demo clinic with every module exported, imported into an
empty instance (new keys, ids, numbers and hash chains kept, staff invited again), exported again:
the two archives are equal entity by entity, but for the documented differences (the export's
time, the audit trail that goes on). Every verifier passes on the imported clinic. A damaged or
altered archive, or one that does not fit, is refused with nothing written. Plugins import their
part through `import_clinic_data`, disabled and third-party ones too."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from example_plugin import plugin as example
from test_backup import DIALECTS, Instance, instances  # noqa: F401  (the fixture)

PASSPHRASE = "une phrase de passe assez longue"
SLUG = "cabinet-des-tilleuls"


def _export(inst: Instance, passphrase_file: Path) -> Path:
    before = set((inst.home / "exports").glob("*.carnet-export")) if (inst.home / "exports").exists() else set()
    made = inst.run("export", "clinic", SLUG, "--passphrase-file", str(passphrase_file))
    assert made.exit_code == 0, made.output
    (path,) = set((inst.home / "exports").glob("*.carnet-export")) - before
    return path


def _opened(path: Path) -> zipfile.ZipFile:
    from carnet_core.export.services import decrypt_to

    plain = io.BytesIO()
    decrypt_to(path, plain, passphrase=PASSPHRASE)
    return zipfile.ZipFile(plain)


def _records(archive: zipfile.ZipFile, path: str) -> list[dict]:
    return [json.loads(line) for line in archive.read(path).decode("utf-8").splitlines()]


def _render_a_note(inst: Instance) -> None:
    """The worker's part of the demo: one issued note's PDF rendered and kept (a document to carry)."""
    from sqlmodel import select

    from carnet_billing.models import Note
    from carnet_billing.services.documents import render, store
    from carnet_core.db.session import Database
    from carnet_core.encryption import install_keyring
    from carnet_core.plugins import build_plugin_host
    from carnet_core.settings import load_settings

    settings = load_settings(inst.env)
    db = Database(inst.url)
    install_keyring(db, settings)
    with db.session(clinic_id=1) as s:
        note = s.exec(select(Note).where(Note.status == "issued").order_by(Note.id)).first()
        store(s, note, render(s, build_plugin_host(settings), note))
    db.dispose()


def _count(url: str, sql: str) -> int:
    from carnet_core.db.session import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()
    finally:
        engine.dispose()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_export_import_export_round_trip_is_equal_entity_by_entity(instances, dialect, tmp_path):  # noqa: F811
    passphrase = tmp_path / "phrase.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    source = instances("source", dialect)
    for args in (["init"], ["demo"]):
        assert source.run(*args).exit_code == 0
    _render_a_note(source)
    first = _export(source, passphrase)

    target = instances("target", dialect)
    assert target.run("init").exit_code == 0
    imported = target.run("import", "clinic", str(first), "--passphrase-file", str(passphrase))
    assert imported.exit_code == 0, imported.output
    assert f"clinic '{SLUG}' imported" in imported.output
    verified = target.run("verify")  # audit chain, every sealed value opens, billing's hash chain
    assert verified.exit_code == 0, verified.output
    assert f"{SLUG}: billing: ok (intact)" in verified.output and f"{SLUG}: audit: ok" in verified.output
    # new keys: no wrapped key of the source is in the target; no password or second factor came
    assert _count(target.url, "SELECT count(*) FROM core_user WHERE password_hash IS NOT NULL "
                              "OR totp_secret_sealed IS NOT NULL") == 0
    assert _count(target.url, "SELECT count(*) FROM core_user") == _count(
        source.url, "SELECT count(*) FROM core_user u JOIN core_membership m ON m.user_id = u.id")
    # prefix search works on the imported patients (their name prefixes indexed with the new key)
    assert _count(target.url, "SELECT count(DISTINCT patient_id) FROM core_patient_name_prefix") == _count(
        target.url, "SELECT count(*) FROM core_patient WHERE erased_at IS NULL AND prefixes_indexed") == _count(
        source.url, "SELECT count(*) FROM core_patient WHERE erased_at IS NULL") > 0
    invitations = _count(target.url, "SELECT count(*) FROM core_outbox WHERE actor = 'core.send_account_link'")
    assert invitations == _count(target.url, "SELECT count(*) FROM core_user WHERE NOT disabled") > 0
    again = _export(target, passphrase)

    one, two = _opened(first), _opened(again)
    m1, m2 = json.loads(one.read("manifest.json")), json.loads(two.read("manifest.json"))
    assert m1["exported_at"] != m2["exported_at"]
    assert set(one.namelist()) == set(two.namelist())
    assert [n for n in one.namelist() if n.startswith("files/billing/notes/")]
    entities = 0
    for name in sorted(one.namelist()):
        if name in ("manifest.json", "core/audit.jsonl"):
            continue
        if name.endswith((".jsonl", ".ndjson")):
            assert _records(one, name) == _records(two, name), name
            entities += 1
        else:  # CSV tables and documents, byte for byte
            assert one.read(name) == two.read(name), name
    assert entities >= 30
    # the audit trail goes on: the source's records as they were, then the import, the values
    # `carnet verify` opened (traced), then the new export's request
    trail1, trail2 = _records(one, "core/audit.jsonl"), _records(two, "core/audit.jsonl")
    assert trail2[:len(trail1)] == trail1
    added = [(r["action"], r["resource_type"]) for r in trail2[len(trail1):]]
    assert added[0] == ("import", "clinic") and added[-1] == ("request", "clinic_export")
    assert {action for action, _ in added[1:-1]} == {"read"}
    imported_record = trail2[len(trail1)]
    details = json.loads(imported_record["details"])
    assert details["invited"] == invitations and details["records"]["core"] > 0
    files1 = {f["path"]: f for f in m1["files"]}
    files2 = {f["path"]: f for f in m2["files"]}
    assert {p: f for p, f in files1.items() if p != "core/audit.jsonl"} == {
        p: f for p, f in files2.items() if p != "core/audit.jsonl"}

    # the import needs an empty instance: a second one is refused, with nothing written
    audit_rows = _count(target.url, "SELECT count(*) FROM core_audit")
    twice = target.run("import", "clinic", str(first), "--passphrase-file", str(passphrase))
    assert twice.exit_code != 0 and "already holds a clinic" in twice.output
    assert _count(target.url, "SELECT count(*) FROM core_audit") == audit_rows


def _archive_bytes(carnet_db, plugin_host, clinic) -> bytes:
    from carnet_core.export.services import write_archive

    out = io.BytesIO()
    with carnet_db.session(clinic_id=clinic.id) as db:
        write_archive(db, plugin_host, clinic, out)
    return out.getvalue()


@pytest.fixture
def inline_plugins(inline_plugins):
    return example.install(inline_plugins)


def _rewritten(data: bytes, change) -> io.BytesIO:
    """The archive with its members passed through `change(name, content) -> content | None`."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name in source.namelist():
            content = change(name, source.read(name))
            if content is not None:
                zf.writestr(name, content)
    out.seek(0)
    return out


def _rows(database, table: str) -> int:
    with database.session(unscoped=True) as db:
        return db.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()


def test_hook_import_clinic_data_gives_each_plugin_its_part_even_disabled(
        carnet_db, carnet_settings, plugin_host, make_clinic, empty_instance):
    from carnet_core.clinics.services import set_plugin_enabled
    from carnet_core.export.importing import check, import_archive

    clinic = make_clinic("avec-exemple", plugins=["scheduling", "example"])
    with carnet_db.session(clinic_id=clinic.id) as db:
        assert set_plugin_enabled(db, clinic.id, "example", False, plugin_host.names)
    data = _archive_bytes(carnet_db, plugin_host, clinic)
    example.SEEN["clinic_imported"].clear()
    done = import_archive(carnet_settings, plugin_host, empty_instance, check(io.BytesIO(data)))
    assert done["slug"] == "avec-exemple" and done["written"]["example"] == {"greeting": 2}
    assert example.SEEN["clinic_imported"] == [
        ("avec-exemple", ["greeting"], [{"id": 1, "text": "bonjour"}, {"id": 2, "text": "au revoir"}])]
    assert set(done["written"]) >= {"core", "scheduling", "billing", "consent", "telecare", "example"}


@pytest.mark.parametrize("damage", ["altered", "unlisted", "missing", "bad record", "unknown field", "manifest"])
def test_a_damaged_or_altered_archive_is_refused_and_nothing_is_written(
        carnet_db, carnet_settings, plugin_host, make_clinic, empty_instance, damage):
    from carnet_core.export.importing import ClinicImportError, check, import_archive
    from carnet_core.plugin_api import patient_access
    from carnet_core.web.principal import Principal

    clinic = make_clinic("abimee", plugins=["scheduling"])
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = "system:tests"
        owner = Principal(kind="user", user_id=None, clinic_id=clinic.id, roles=frozenset({"owner"}))
        patient_access(db, owner).register({"last_name": "Durand", "first_name": "Léa", "birth_date": "2015-03-02"})
    data = _archive_bytes(carnet_db, plugin_host, clinic)

    def refit(change):
        """Change members, then write a manifest that lists them truly (a careful forger)."""
        import hashlib

        changed = zipfile.ZipFile(_rewritten(data, change))
        manifest = json.loads(changed.read("manifest.json"))
        for entry in manifest["files"]:
            content = changed.read(entry["path"])
            entry["size"], entry["sha256"] = len(content), hashlib.sha256(content).hexdigest()
        return _rewritten(data, lambda name, content: json.dumps(manifest).encode() if name == "manifest.json"
                          else change(name, content))

    def patient_line(edit):
        def change(name, content):
            if name != "core/patient.jsonl":
                return content
            record = json.loads(content)
            edit(record)
            return json.dumps(record).encode() + b"\n"
        return change

    cases = {
        "altered": (lambda: _rewritten(data, lambda n, c: c.replace(b"Durand", b"Dupont")), "SHA-256"),
        "unlisted": (lambda: _with_extra(data), "does not list"),
        "missing": (lambda: _rewritten(data, lambda n, c: None if n == "core/patient.jsonl" else c), "missing"),
        "bad record": (lambda: refit(patient_line(lambda r: r.update(birth_date=12))), "not text"),
        "unknown field": (lambda: refit(patient_line(lambda r: r.update(nickname="Lulu"))), "no column 'nickname'"),
        "manifest": (lambda: _rewritten(data, lambda n, c: b"{" if n == "manifest.json" else c), "manifest"),
    }
    make, message = cases[damage]
    before = {t: _rows(empty_instance, t) for t in ("core_clinic", "core_user", "core_audit", "core_data_key")}
    with pytest.raises(ClinicImportError, match=message):
        import_archive(carnet_settings, plugin_host, empty_instance, check(make()))
    assert {t: _rows(empty_instance, t) for t in before} == before


def _with_extra(data: bytes) -> io.BytesIO:
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("core/hidden.jsonl", b'{"id": 1}\n')
    out.seek(0)
    return out


def test_the_wrong_passphrase_or_a_file_that_is_no_export_is_refused(tmp_path):
    from carnet_core.export.importing import ClinicImportError, open_archive

    stray = tmp_path / "stray.carnet-export"
    stray.write_bytes(b"pas une archive")
    with pytest.raises(ClinicImportError, match="not a Carnet export"):
        open_archive(stray, passphrase=PASSPHRASE)
