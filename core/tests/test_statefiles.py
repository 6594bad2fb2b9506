"""State files are private (issue 14, item 9): CARNET_HOME and its folders 0700; the database,
its WAL and shared-memory files, keys, e-mails and SMS 0600 — whatever the caller's umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from carnet_core.settings import load_settings


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _run(home, *args, umask=0o022):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env["CARNET_HOME"] = str(home)
    code = f"import os; os.umask({umask}); from carnet_core.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300,
    )


def test_carnet_init_makes_the_state_private_under_a_permissive_umask(tmp_path):
    home = tmp_path / "var"
    done = _run(home, "init")
    assert done.returncode == 0, done.stderr
    settings = load_settings({"CARNET_HOME": str(home)})
    for folder in (home, settings.mail_dir, settings.sms_dir, settings.keys_dir):
        assert _mode(folder) == 0o700, folder
    db = home / "carnet.db"
    assert _mode(db) == 0o600
    for journal in (home / "carnet.db-wal", home / "carnet.db-shm"):
        if journal.exists():  # left by the last connection, if any
            assert _mode(journal) == 0o600, journal
    for key in settings.keys_dir.iterdir():
        if not key.name.endswith(".pub"):
            assert _mode(key) == 0o600, key
    # the WAL and shared-memory files SQLite adds while the database is open follow its mode
    import sqlite3

    previous = os.umask(0o022)
    try:
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE probe (x)")
        conn.commit()
        assert _mode(home / "carnet.db-wal") == _mode(home / "carnet.db-shm") == 0o600
        conn.close()
    finally:
        os.umask(previous)


def test_carnet_init_tightens_an_installation_made_world_readable(tmp_path):
    home = tmp_path / "var"
    assert _run(home, "init").returncode == 0
    settings = load_settings({"CARNET_HOME": str(home)})
    os.chmod(home, 0o755)
    os.chmod(settings.mail_dir, 0o755)
    os.chmod(home / "carnet.db", 0o644)
    old_mail = settings.mail_dir / "old.eml"
    old_mail.write_text("Subject: rendez-vous\n\n")
    os.chmod(old_mail, 0o644)
    again = _run(home, "init")
    assert again.returncode == 0, again.stderr
    assert "modes tightened" in again.stdout
    assert _mode(home) == _mode(settings.mail_dir) == 0o700
    assert _mode(home / "carnet.db") == _mode(old_mail) == 0o600


def test_a_mail_and_an_sms_are_written_private_whatever_the_umask(carnet_settings):
    from carnet_core.mail import Mail, send_mail
    from carnet_core.sms import send_sms

    previous = os.umask(0o002)
    try:
        os.chmod(carnet_settings.mail_dir, 0o775)
        os.rmdir(carnet_settings.sms_dir)  # created on first use
        send_mail(carnet_settings, Mail(to="a@b.fr", subject="Rappel", text="Un lien", html=None), key="k:1")
        send_sms(None, carnet_settings, "+33600000000", "Un lien", key="k:2")
    finally:
        os.umask(previous)
    (mail,) = carnet_settings.mail_dir.iterdir()
    (sms,) = carnet_settings.sms_dir.iterdir()
    assert _mode(mail) == _mode(sms) == 0o600
    assert _mode(carnet_settings.sms_dir) == 0o700
