"""Accounting exports: the FEC checked rule by rule (article A47 A-1 of the LPF) on a file the
worker generated, the receipts journal's totals equal to the payments, refusals that write
nothing, and the pages: progress through htmx, an attachment through an expiring link, audited."""

import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pypdf
import pytest
import sqlalchemy as sa
from billing_world import PROFILE, make_staffed_world, principal
from sqlmodel import select

from carnet_billing.models import Export, Note, Payment
from carnet_billing.services import exports, notes, payments, profiles
from carnet_billing.services.errors import BillingInvalid
from carnet_billing.services.notes import LineInput
from carnet_core.testing import AuditRecord, wait_for_jobs

START, END = date(2026, 1, 1), date(2026, 6, 30)
# (act day, paid on, method, payer, amount) for the owner; amounts in euros
PAID = [
    (date(2026, 1, 5), date(2026, 1, 5), "card", "patient", "26.26"),
    (date(2026, 1, 12), date(2026, 1, 20), "cheque", "patient", "10.00"),
    (date(2026, 1, 12), date(2026, 1, 21), "cash", "amo", "16.26"),
    (date(2026, 2, 3), date(2026, 2, 3), "transfer", "amc", "26.26"),
    (date(2026, 3, 2), date(2026, 3, 9), "card", "patient", "26.26"),
    (date(2026, 6, 29), date(2026, 6, 30), "cash", "patient", "5.00"),
    (date(2026, 6, 29), date(2026, 7, 1), "cash", "patient", "21.26"),  # after the period
]


@pytest.fixture
def world(carnet_db, clinic, staff):
    return make_staffed_world(carnet_db, clinic, staff)


def _bill(carnet_db, world):
    """The owner's notes paid as PAID says (one note per act day), a colleague's paid note, and a
    credit note (which moves no money)."""
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        who = principal(world, world.owner, "owner", "practitioner")
        by_day = {}
        for act_day, paid_on, method, payer, amount in PAID:
            if act_day not in by_day:
                note = notes.create_draft(db, who, practitioner_id=world.owner.id, patient_id=world.patients[0])
                notes.add_line(db, who, note.id, LineInput(act_day=act_day, letter="AMO", coefficient_hundredths=1010))
                if act_day == date(2026, 6, 29):
                    notes.add_line(db, who, note.id, LineInput(act_day=act_day, price=Decimal("0.26")))
                notes.issue(db, who, note.id)
                by_day[act_day] = note.id
            payments.record(db, who, by_day[act_day], amount=Decimal(amount), paid_on=paid_on, method=method,
                            payer=payer)
        cancelled = notes.create_draft(db, who, practitioner_id=world.owner.id, patient_id=world.patients[1])
        notes.add_line(db, who, cancelled.id, LineInput(act_day=date(2026, 2, 1), letter="AMO",
                                                        coefficient_hundredths=1000))
        notes.issue(db, who, cancelled.id)
        notes.credit(db, who, cancelled.id)
        other = notes.create_draft(db, who, practitioner_id=world.practitioner.id, patient_id=world.patients[1])
        notes.add_line(db, who, other.id, LineInput(act_day=date(2026, 2, 2), letter="AMO", coefficient_hundredths=1000))
        notes.issue(db, who, other.id)
        payments.record(db, who, other.id, amount=Decimal("26.00"), paid_on=date(2026, 2, 2), method="card")


def _export(carnet_db, world, kind, user=None, roles=("owner", "practitioner"), who=None, start=START, end=END):
    user = user or world.owner
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{user.id}"
        return exports.request_export(db, principal(world, user, *roles), practitioner_id=who or user.id, kind=kind,
                                      start=start, end=end).id


def _file(carnet_db, world, carnet_settings, export_id):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        export = db.get(Export, export_id)
        assert export.status == "ready", export.status
        path = exports.folder(carnet_settings.home, world.clinic.id) / export.stored_as
        return export, path.read_bytes()


def _expected_cents(end=END):
    return [int(Decimal(a) * 100) for _, paid, _, _, a in PAID if START <= paid <= end]


def test_the_fec_follows_every_rule_of_article_a47_a1(world, carnet_db, carnet_settings, jobs_worker):
    _bill(carnet_db, world)
    export_id = _export(carnet_db, world, "fec")
    wait_for_jobs(jobs_worker)
    export, raw = _file(carnet_db, world, carnet_settings, export_id)
    # the file's name: SIREN (the SIRET's first 9 digits), "FEC", the closing date
    assert export.file_name == "123456789FEC20260630.txt"
    text = raw.decode("iso-8859-15")  # ISO-8859-15 text
    lines = text.split("\r\n")
    assert lines[-1] == "" and all("\n" not in line and "\r" not in line for line in lines)
    lines = lines[:-1]
    # the 18 mandatory columns, in order, tab-separated, named on the first line
    assert lines[0].split("\t") == [
        "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib", "CompAuxNum",
        "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit", "EcritureLet", "DateLet",
        "ValidDate", "Montantdevise", "Idevise"]
    rows = [line.split("\t") for line in lines[1:]]
    assert rows and all(len(row) == 18 for row in rows)
    col = {name: i for i, name in enumerate(lines[0].split("\t"))}
    entries: dict[int, list[list[str]]] = {}
    for row in rows:
        entries.setdefault(int(row[col["EcritureNum"]]), []).append(row)
        # dates YYYYMMDD and real; amounts with a decimal comma; mandatory texts present
        for name in ("EcritureDate", "PieceDate", "ValidDate"):
            assert re.fullmatch(r"\d{8}", row[col[name]]) and datetime.strptime(row[col[name]], "%Y%m%d")
        for name in ("Debit", "Credit"):
            assert re.fullmatch(r"\d+,\d{2}", row[col[name]]), row[col[name]]
        for name in ("JournalCode", "JournalLib", "CompteNum", "CompteLib", "PieceRef", "EcritureLib"):
            assert row[col[name]].strip(), name
        assert row[col["CompteNum"]].isdigit()
        assert START <= datetime.strptime(row[col["EcritureDate"]], "%Y%m%d").date() <= END
        assert row[col["Montantdevise"]] == row[col["Idevise"]] == ""  # amounts in euros
    # entries numbered 1, 2, 3… without a gap, in date order, each balanced (debit = credit)
    assert list(entries) == list(range(1, len(entries) + 1))
    days = [entries[n][0][col["EcritureDate"]] for n in entries]
    assert days == sorted(days)

    def cents(value):
        whole, frac = value.split(",")
        return int(whole) * 100 + int(frac)

    for lines_of_entry in entries.values():
        assert len(lines_of_entry) >= 2
        assert sum(cents(r[col["Debit"]]) for r in lines_of_entry) == sum(cents(r[col["Credit"]]) for r in lines_of_entry)
        assert len({r[col["EcritureDate"]] for r in lines_of_entry}) == 1
    # one entry per payment of the owner in the period, nobody else's, no patient's name
    debits = sorted(cents(r[col["Debit"]]) for r in rows if r[col["Debit"]] != "0,00")
    assert debits == sorted(_expected_cents())
    assert "Lefèvre" not in text and "LEFÈVRE" not in text
    assert {r[col["CompteNum"]] for r in rows} == {"512000", "531000", "706000"}


@pytest.mark.pdf
def test_the_receipts_journal_totals_equal_the_payments(world, carnet_db, carnet_settings, jobs_worker):
    _bill(carnet_db, world)
    csv_id = _export(carnet_db, world, "journal_csv")
    pdf_id = _export(carnet_db, world, "journal_pdf")
    wait_for_jobs(jobs_worker)
    export, raw = _file(carnet_db, world, carnet_settings, csv_id)
    assert export.file_name == "livre-des-recettes-20260101-20260630.csv"
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == ["Date", "Payeur", "N° de note", "Mode de règlement", "Montant (€)"]
    body, total = table[1:-1], table[-1]

    def cents(value):
        return int(value.replace(",", ""))

    with carnet_db.session(clinic_id=world.clinic.id) as db:
        paid = db.execute(sa.select(sa.func.sum(Payment.amount_cents)).join(Note, Note.id == Payment.note_id).where(
            Note.practitioner_id == world.owner.id, Payment.paid_on.between(START, END))).scalar()
        numbers = {n for (n,) in db.execute(sa.select(Note.number).where(Note.practitioner_id == world.owner.id))}
    assert sum(cents(row[4]) for row in body) == paid == sum(_expected_cents()) == cents(total[4])
    assert total[0] == "Total" and len(body) == len(_expected_cents())
    assert {row[2] for row in body} <= numbers
    assert {row[1] for row in body} == {"Patient", "Assurance Maladie", "Complémentaire"}
    assert {row[3] for row in body} == {"carte", "chèque", "espèces", "virement"}
    assert [row[0] for row in body][:2] == ["05/01/2026", "20/01/2026"]
    export, pdf = _file(carnet_db, world, carnet_settings, pdf_id)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = re.sub(r"\s+", " ", " ".join(p.extract_text() for p in reader.pages))
    assert "Livre des recettes" in text and "Total des recettes (6) 110,04 €" in text
    assert 'pdfaid:part="3"' in reader.xmp_metadata.stream.get_data().decode()


@pytest.mark.pdf
def test_the_journal_pdf_is_laid_out_in_parts_joined_into_one_pdf_a(world, carnet_db, plugin_host, tmp_path):
    """Memory bounded by a part's rows: here parts of 2 receipts, each but the first opening with
    the total carried forward, pages numbered on, the totals after the last row, one PDF/A-3b."""
    _bill(carnet_db, world)
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        profile = profiles.get(db, world.owner.id)
        seen = []
        out = tmp_path / "journal"
        out.mkdir()
        count = exports.write_journal_pdf(out / "journal.pdf", plugin_host, profile,
                                          exports.receipts(db, world.owner.id, START, END), START, END,
                                          progress=seen.append, chunk=2)
    assert count == 6 and seen == [2, 4, 6]
    assert [p.name for p in out.iterdir()] == ["journal.pdf"]  # the parts are gone
    reader = pypdf.PdfReader(out / "journal.pdf")
    assert 'pdfaid:part="3"' in reader.xmp_metadata.stream.get_data().decode()
    assert reader.metadata["/Title"] == "Livre des recettes"
    pages = [re.sub(r"\s+", " ", p.extract_text()) for p in reader.pages]
    assert len(pages) == 3
    assert "Livre des recettes" in pages[0] and "Report" not in pages[0]
    # 05/01 card 26,26 and 20/01 cheque 10,00 on the first part: carried forward to the second
    assert "Report (2 règlements) 36,26 €" in pages[1] and "Report (4 règlements)" in pages[2]
    assert [f"Page {n}" in pages[n - 1] for n in (1, 2, 3)] == [True, True, True]
    assert "Total des recettes (6) 110,04 €" in pages[2] and "Total des recettes" not in pages[1]
    assert "Livre des recettes" not in pages[1]


def test_bad_requests_get_french_field_errors_and_write_nothing(world, carnet_db):
    cases = [
        ({"kind": "fec", "start": END, "end": START}, "end", "before_start"),
        ({"kind": "zip"}, "kind", "invalid_choice"),
        ({"kind": "fec", "start": date(2023, 1, 1), "end": END}, "end", "too_long"),
        ({"kind": "journal_csv", "start": date(2099, 1, 1), "end": date(2099, 2, 1)}, "start", "future"),
    ]
    for overrides, field, code in cases:
        with pytest.raises(BillingInvalid) as refused:
            _export(carnet_db, world, **{"kind": "fec", "start": START, "end": END, **overrides})
        assert refused.value.errors[field].code == code
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = "system:tests"
        profiles.save(db, world.practitioner.id, {**PROFILE, "rpps": "", "adeli": "691234567", "siret": ""})
    with pytest.raises(BillingInvalid) as refused:  # a practitioner without SIRET: no FEC
        _export(carnet_db, world, "fec", user=world.practitioner, roles=("practitioner",))
    assert refused.value.errors["kind"].code == "no_siret"
    with pytest.raises(BillingInvalid) as refused:  # a practitioner exports their own receipts only
        _export(carnet_db, world, "journal_csv", user=world.practitioner, roles=("practitioner",), who=world.owner.id)
    assert refused.value.errors["practitioner"].code == "forbidden"
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        assert db.execute(sa.select(sa.func.count()).select_from(Export)).scalar() == 0


def test_the_exports_page_polls_progress_and_downloads_through_an_expiring_link(
        world, carnet_db, carnet_settings, jobs_worker, client, login_as):
    _bill(carnet_db, world)
    token = login_as(client, world.owner)
    assert "Exports comptables" in client.get("/billing/exports").text
    bad = client.post("/billing/exports", data={"kind": "fec", "start": "2026-06-30", "end": "2026-01-01",
                                                "_csrf_token": token})
    assert bad.status_code == 422 and "La fin de la période précède son début." in bad.text
    asked = client.post("/billing/exports", data={"kind": "fec", "start": "2026-01-01", "end": "2026-06-30",
                                                  "practitioner": str(world.owner.id), "_csrf_token": token},
                        follow_redirects=False)
    assert asked.status_code == 303
    waiting = client.get("/billing/exports", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 2s"' in waiting.text and "<html" not in waiting.text and "en attente" in waiting.text
    wait_for_jobs(jobs_worker)
    done = client.get("/billing/exports", headers={"HX-Request": "true"})
    assert "hx-trigger" not in done.text and "Télécharger" in done.text
    export_id = int(re.search(r"/billing/exports/(\d+)/file", done.text).group(1))
    answer = client.get(f"/billing/exports/{export_id}/file")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert "123456789FEC20260630.txt" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"JournalCode\tJournalLib")
    with carnet_db.session(unscoped=True) as db:
        audited = db.exec(select(AuditRecord.action).where(AuditRecord.resource_type == "billing_export")).all()
    assert sorted(audited) == ["build", "create", "download"]
    # another practitioner: not theirs (404); a secretary: refused by the permission
    client.cookies.clear()
    login_as(client, world.practitioner)
    assert client.get(f"/billing/exports/{export_id}/file").status_code == 404
    client.cookies.clear()
    login_as(client, world.secretary)
    assert client.get(f"/billing/exports/{export_id}/file").status_code == 403
    # past its time the link answers 410 and the file is gone
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        export = db.get(Export, export_id)
        path = exports.folder(carnet_settings.home, world.clinic.id) / export.stored_as
        db.execute(sa.update(Export).where(Export.id == export_id).values(
            expires_at=datetime.now().astimezone() - timedelta(minutes=1)))
    client.cookies.clear()
    login_as(client, world.owner)
    gone = client.get(f"/billing/exports/{export_id}/file")
    assert gone.status_code == 410 and "Ce lien de téléchargement a expiré" in gone.text
    assert not path.exists()
    assert "lien expiré" in client.get("/billing/exports").text
