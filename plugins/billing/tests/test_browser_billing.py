"""In a real browser (Debian's Chromium): a practitioner issues a week of honoured sessions in one
batch (the review in htmx's dialog), records a card payment (the amount offered as "26,26") and
downloads the note's PDF rendered by the worker."""

from __future__ import annotations

import re

import pytest
from test_billing_sessions import WEEK, agenda  # noqa: F401 (the fixture: honoured sessions via scheduling's API)

from carnet_core.testing import browser_login, wait_for_jobs

pytestmark = pytest.mark.browser


@pytest.mark.pdf  # the note's PDF, rendered by the worker
def test_a_practitioner_issues_a_week_in_one_batch_records_a_card_payment_and_downloads_the_pdf(
        live_server, browser_page, agenda, jobs_worker, tmp_path):  # noqa: F811
    page = browser_page
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    owner = agenda["owner"]
    browser_login(page, live_server, owner)

    # the week's honoured sessions, all ticked; the colleague's one left out of this batch
    page.goto(f"{live_server}/billing/sessions?week={WEEK}&practitioner={owner.id}")
    boxes = page.locator('input[name="sessions"]')
    assert boxes.count() == 3 and all(boxes.nth(i).is_checked() for i in range(3))
    page.get_by_role("button", name="Préparer les notes").click()
    dialog = page.locator("#billing-dialog")
    dialog.get_by_role("heading", name="Facturer 3 séances").wait_for()
    dialog.get_by_role("button", name="Créer et émettre les notes").click()
    page.wait_for_url(f"{live_server}/billing/")
    numbers = page.locator("a", has_text="-00000")
    assert numbers.count() == 3
    wait_for_jobs(jobs_worker)  # the worker renders the notes' PDFs

    # a card payment of the first note, the amount offered the French way
    numbers.first.click()
    amount = page.locator("#p-amount")
    assert amount.input_value() == "26,26"
    page.locator("#p-method").select_option("card")
    page.get_by_role("button", name="Enregistrer le paiement").click()
    page.locator("dd", has_text=re.compile(r"^payée")).wait_for()
    assert "Carte" in page.content()

    # the PDF
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le PDF").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("note-") and saved.read_bytes().startswith(b"%PDF")
    assert errors == []
