"""PDF of notes and credit notes: rendered by the worker once issuing commits, PDF/A-3b, every
mandatory mention read back from the PDF's text, kept sealed, deterministic; downloaded by the
note's practitioner or an owner only, audited, as an attachment."""

import base64
import io
import re
import threading
from datetime import date

import pypdf
import pytest
import sqlalchemy as sa
from billing_world import make_staffed_world, principal
from sqlmodel import select

from carnet_billing.models import Document, Note
from carnet_billing.services import documents, notes
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import open_
from carnet_core.testing import AuditRecord, wait_for_jobs

pytestmark = pytest.mark.pdf  # every test here renders a PDF (skipped without Pango, failed in CI)


@pytest.fixture
def world(carnet_db, clinic, staff):
    return make_staffed_world(carnet_db, clinic, staff)


def _session(carnet_db, world, actor="system:tests"):
    ctx = carnet_db.session(clinic_id=world.clinic.id)
    db = ctx.__enter__()
    db.info["principal"] = actor
    return ctx, db


def _issue(carnet_db, world, *, withheld=False, lines=2):
    ctx, db = _session(carnet_db, world, f"user:{world.owner.id}")
    try:
        who = principal(world, world.owner, "owner", "practitioner")
        note = notes.create_draft(db, who, practitioner_id=world.owner.id, patient_id=world.patients[0],
                                  name_withheld=withheld)
        for n in range(lines):
            notes.add_line(db, who, note.id, LineInput(act_day=date(2026, 3, 2 + n), letter="AMO",
                                                       coefficient_hundredths=1010, label="Séance de rééducation",
                                                       place="Cabinet des Tilleuls" if n == 0 else "Domicile du patient"))
        notes.issue(db, who, note.id)
        note_id = note.id
    finally:
        ctx.__exit__(None, None, None)
    return note_id


def _pdf(carnet_db, world, note_id):
    ctx, db = _session(carnet_db, world)
    try:
        document = documents.of_note(db, note_id)
        assert document is not None, "the worker rendered no PDF"
        raw = document.body
        return base64.b64decode(open_(db, document, "body")), raw, document.size
    finally:
        ctx.__exit__(None, None, None)


def _text(pdf):
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return reader, re.sub(r"\s+", " ", text)  # a cell's text wraps over lines


def test_the_worker_renders_a_pdf_a3b_with_every_mandatory_mention(world, carnet_db, jobs_worker):
    note_id = _issue(carnet_db, world)
    wait_for_jobs(jobs_worker)
    pdf, raw, digest = _pdf(carnet_db, world, note_id)
    reader, text = _text(pdf)
    # PDF/A-3b: the XMP identification, and a title
    xmp = reader.xmp_metadata.stream.get_data().decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
    assert reader.metadata["/Title"].startswith("Note d'honoraires n° 2026-")
    # the practitioner's identity and identifiers, the document's number and date
    for mention in ("Claire Martin", "Orthophoniste", "1 rue des Tilleuls, 69001 Lyon", "RPPS n° 10001234567",
                    "SIRET n° 12345678900011", "Note d’honoraires", "conventionné(e)"):
        assert mention in text, mention
    assert re.search(r"n° \d{4}-000001", text)
    assert re.search(r"Émise le \d\d/\d\d/\d{4}", text)
    # the patient's name, the date and place of each act, acts with coefficient and amounts, total
    assert "LEFÈVRE0 Élodie" in text or "LEFÈVRE0 ÉLODIE" in text.upper()
    for mention in ("02/03/2026", "03/03/2026", "Cabinet des Tilleuls", "Domicile du patient", "AMO 10,1",
                    "Cotation", "Séance de rééducation", "2,60 €", "26,26 €", "Total", "52,52 €"):
        assert mention in text, mention
    assert "Exonéré de TVA – art. 261-4-1° du CGI" in text
    # kept sealed: the stored column is ciphertext, no stretch of the PDF in it (needles long enough
    # that random ciphertext cannot hold them by chance: 3 bytes did, once in about 400 runs)
    assert b"%PDF-1." not in raw and "LEFÈVRE0".encode() not in raw and digest == len(pdf)
    assert all(pdf[i:i + 32] not in raw for i in range(0, len(pdf) - 32, 997))
    assert base64.b64encode(pdf)[:64] not in raw  # nor the PDF in the text form it is sealed in


def test_rendering_is_deterministic_and_a_redelivery_renders_nothing(world, carnet_db, jobs_worker, plugin_host):
    note_id = _issue(carnet_db, world, lines=1)
    wait_for_jobs(jobs_worker)
    pdf, _, digest = _pdf(carnet_db, world, note_id)
    ctx, db = _session(carnet_db, world)
    try:
        again = documents.render(db, plugin_host, db.get(Note, note_id))
        documents.schedule(db, db.get(Note, note_id))  # a second request for the same note
    finally:
        ctx.__exit__(None, None, None)
    assert again == pdf
    wait_for_jobs(jobs_worker)
    ctx, db = _session(carnet_db, world)
    try:
        assert len(db.exec(select(Document).where(Document.note_id == note_id)).all()) == 1
    finally:
        ctx.__exit__(None, None, None)


def _issued_and_rendered(carnet_db, world, jobs_worker):
    """A note issued and its PDF rendered by the worker; the statements run meanwhile, each as
    (run by a worker thread, its text on one line)."""
    statements: list[tuple[bool, str]] = []

    def seen(conn, cursor, statement, params, context, executemany):
        statements.append((threading.current_thread() is not threading.main_thread(), " ".join(statement.split())))

    sa.event.listen(carnet_db.engine, "before_cursor_execute", seen)
    try:
        note_id = _issue(carnet_db, world, lines=1)
        wait_for_jobs(jobs_worker)
    finally:
        sa.event.remove(carnet_db.engine, "before_cursor_execute", seen)
    return note_id, statements


def test_on_postgresql_the_sealed_pdf_is_written_by_one_insert(world, carnet_db, jobs_worker):
    """The document's id (in the sealed body's associated data) comes from the sequence first, with
    the note the actor reads: one INSERT with the sealed body, no INSERT-then-UPDATE writing the row
    twice. (SQLite has no sequence: there the row is inserted, then the body sealed into it; the
    binding of the body to its row is proven on both databases by the test below.)"""
    if carnet_db.dialect != "postgresql":
        pytest.skip("SQLite has no sequence: it inserts the row, then seals the body into it")
    note_id, statements = _issued_and_rendered(carnet_db, world, jobs_worker)
    written = [s.split()[0].upper() for _, s in statements
               if "billing_document" in s and s.upper().startswith(("INSERT", "UPDATE"))]
    assert written == ["INSERT"]
    # the id taken with the note, by the actor's first query (not by a statement of its own)
    assert not [s for _, s in statements if s.upper().startswith("SELECT NEXTVAL")]
    pdf, raw, size = _pdf(carnet_db, world, note_id)
    assert pdf.startswith(b"%PDF") and size == len(pdf)


def test_a_sealed_pdf_opens_on_its_own_row_and_not_pasted_on_another_note(world, carnet_db, jobs_worker):
    """The sealed body is bound to its document's id, however the id was taken (the sequence on
    PostgreSQL, the insert on SQLite): it opens where it was written, and a body moved to another
    row does not."""
    note_id = _issue(carnet_db, world, lines=1)
    wait_for_jobs(jobs_worker)
    pdf, raw, size = _pdf(carnet_db, world, note_id)
    assert pdf.startswith(b"%PDF") and size == len(pdf)
    other_id = _issue(carnet_db, world, lines=1)
    wait_for_jobs(jobs_worker)
    ctx, db = _session(carnet_db, world)
    try:
        other = documents.of_note(db, other_id)
        other.body = raw  # the first note's sealed PDF pasted on the second's row
        with pytest.raises(Exception, match="integrity"):
            open_(db, other, "body")
        db.rollback()  # the pasted body is not kept
    finally:
        ctx.__exit__(None, None, None)


def test_the_actor_reads_the_note_and_whether_it_has_its_pdf_in_one_query(world, carnet_db, jobs_worker):
    """The actor's first query reads the note with whether its PDF exists (no query of the document
    table of its own), and a redelivery still renders nothing."""
    note_id, statements = _issued_and_rendered(carnet_db, world, jobs_worker)
    read = [s for by_worker, s in statements if by_worker and s.upper().startswith("SELECT")]
    notes_read = [s for s in read if " FROM billing_note " in f"{s} "]
    assert len(notes_read) == 1 and "billing_document" in notes_read[0]
    assert not [s for s in read if "FROM billing_document" in s and "EXISTS" not in s.upper()]
    pdf, _, _ = _pdf(carnet_db, world, note_id)
    ctx, db = _session(carnet_db, world)
    try:
        documents.schedule(db, db.get(Note, note_id))  # a second request for the same note
    finally:
        ctx.__exit__(None, None, None)
    wait_for_jobs(jobs_worker)
    assert _pdf(carnet_db, world, note_id)[0] == pdf


def test_a_withheld_name_is_not_printed_and_a_credit_note_names_the_note_it_cancels(world, carnet_db, jobs_worker):
    note_id = _issue(carnet_db, world, withheld=True, lines=1)
    ctx, db = _session(carnet_db, world, f"user:{world.owner.id}")
    try:
        avoir = notes.credit(db, principal(world, world.owner, "owner", "practitioner"), note_id)
        avoir_id, number = avoir.id, db.get(Note, note_id).number
    finally:
        ctx.__exit__(None, None, None)
    wait_for_jobs(jobs_worker)
    _, text = _text(_pdf(carnet_db, world, note_id)[0])
    assert "Lefèvre" not in text and "LEFÈVRE" not in text
    assert "nom non mentionné à la demande du patient" in text
    reader, credit_text = _text(_pdf(carnet_db, world, avoir_id)[0])
    assert "Avoir" in credit_text and f"Annule la note n° {number}" in credit_text
    assert "Total crédité" in credit_text and "26,26 €" in credit_text
    assert "Exonéré de TVA – art. 261-4-1° du CGI" in credit_text
    assert reader.metadata["/Title"].startswith("Avoir n° ")


def test_download_by_the_practitioner_or_an_owner_only_audited(world, carnet_db, jobs_worker, client, login_as):
    note_id = _issue(carnet_db, world, lines=1)
    # before the worker ran: a page saying the PDF is being prepared (no rendering in the request)
    login_as(client, world.owner)
    pending = client.get(f"/billing/notes/{note_id}/pdf")
    assert pending.status_code == 200 and "en préparation" in pending.text
    wait_for_jobs(jobs_worker)
    answer = client.get(f"/billing/notes/{note_id}/pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert re.fullmatch(r'attachment; filename="note-\d{4}-000001\.pdf"', answer.headers["content-disposition"])
    assert answer.headers["cache-control"] == "no-store" and answer.content.startswith(b"%PDF-")
    assert "Télécharger le PDF" in client.get(f"/billing/notes/{note_id}").text
    with carnet_db.session(unscoped=True) as db:
        downloads = db.exec(select(AuditRecord).where(AuditRecord.action == "download",
                                                     AuditRecord.resource_type == "billing_document")).all()
        assert [(e.actor_user_id, e.patient_id) for e in downloads] == [(world.owner.id, world.patients[0])]
    # another practitioner: 404 (not theirs); a secretary: refused by the permission
    client.cookies.clear()
    login_as(client, world.practitioner)
    assert client.get(f"/billing/notes/{note_id}/pdf").status_code == 404
    client.cookies.clear()
    login_as(client, world.secretary)
    assert client.get(f"/billing/notes/{note_id}/pdf").status_code == 403


def test_a_draft_has_no_pdf_and_the_render_request_is_idempotent(world, carnet_db, jobs_worker, client, login_as):
    ctx, db = _session(carnet_db, world)
    try:
        who = principal(world, world.owner, "owner", "practitioner")
        draft = notes.create_draft(db, who, practitioner_id=world.owner.id, patient_id=world.patients[1]).id
    finally:
        ctx.__exit__(None, None, None)
    token = login_as(client, world.owner)
    assert client.get(f"/billing/notes/{draft}/pdf").status_code == 404
    assert client.post(f"/billing/notes/{draft}/pdf", data={"_csrf_token": token}).status_code == 404
    note_id = _issue(carnet_db, world, lines=1)
    wait_for_jobs(jobs_worker)
    again = client.post(f"/billing/notes/{note_id}/pdf", data={"_csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303
    wait_for_jobs(jobs_worker)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        count = db.execute(sa.select(sa.func.count()).select_from(Document)).scalar()
    assert count == 1
