"""Acceptance 4 over real HTTP: a 100 MB attachment upload attempt against a running `carnet serve`
is refused with a clear French answer, writes nothing, and the server's memory stays flat. The
body is generated and streamed over a socket as a browser sends a form (a PDF's first bytes, then
filler), read by the server in chunks (Litestar's multipart parser spools a file part to disk past
1 MB) and stopped at the request body limit (10 MB): 413, the page saying so. The server's peak
resident memory during the attempt (its VmHWM, reset just before) is compared with a 1 MB upload
that is accepted: both stay well under the upload's size. A memory bound, not a timing; the
figures are printed (bench/bench_telecare_upload.py prints them too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select
from telecare_world import make_world

from carnet_core.testing import peak_rss_growth, serving, stream_upload
from carnet_core.testing.uploads import MB

from carnet_telecare.models import Attachment, Conversation, Message

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc")


@pytest.fixture
def world(carnet_db, make_clinic, staff):
    return make_world(carnet_db, make_clinic, staff)


def _rows(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        return [db.exec(select(func.count()).select_from(t)).one() for t in (Conversation, Message, Attachment)]


def _everything(carnet_db, carnet_settings):
    """Every table's row count and the mail and SMS folders (the authorization matrix's "nothing
    changed")."""
    from carnet_core.testing.matrix import snapshot

    return snapshot(carnet_db, carnet_settings)


def test_a_100_mb_upload_attempt_is_refused_writes_nothing_and_the_servers_memory_stays_flat(
        carnet_settings, carnet_db, world, login_as, tmp_path):
    import httpx

    with (tmp_path / "out").open("wb") as out, serving(carnet_settings, stdout=out, stderr=out) as (proc, base), \
            httpx.Client(base_url=base, timeout=60) as browser:
        token = login_as(browser, world.owner)
        path = f"/telecare/patients/{world.patient}/conversations"
        fields = {"_csrf_token": token, "kind": "clinical", "subject": "Bilan", "body": "Voici le bilan."}
        small, small_peak = peak_rss_growth(proc.pid, lambda: stream_upload(
            base, path, browser.cookies, fields, size=1 * MB))
        assert small.status == 303, small.body[:500]  # the 1 MB file is taken: a conversation with it
        assert _rows(carnet_db, world) == [1, 1, 1]
        before = _everything(carnet_db, carnet_settings)
        for announced in (False, True):  # streamed without a length, then announcing its 100 MB
            large, large_peak = peak_rss_growth(proc.pid, lambda a=announced: stream_upload(
                base, path, browser.cookies, fields, size=100 * MB, announce=a))
            assert large.status == 413, (large.status, large.body[:500])
            assert "trop volumineux" in large.text and "Rien n’a été enregistré" in large.text
            assert large.sent < 20 * MB  # the server answered at its limit, not after reading it all
            assert _everything(carnet_db, carnet_settings) == before  # nothing written, nothing sent
            print(f"\nserver peak RSS growth: 1 MB accepted {small_peak / MB:.1f} MB; 100 MB refused "
                  f"({'announced' if announced else 'streamed'}) {large_peak / MB:.1f} MB, "
                  f"{large.sent / MB:.1f} MB sent before the answer")
            assert large_peak < 25 * MB, f"the server grew by {large_peak / MB:.1f} MB on a refused upload"
        assert browser.get("/telecare/").status_code == 200  # and it goes on serving
