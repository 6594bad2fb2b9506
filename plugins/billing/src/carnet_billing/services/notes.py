"""Notes d'honoraires and credit notes: drafts, lines, issuing, cancellation by credit note.

- A draft has no number; it is edited and deleted freely (by staff who may prepare notes).
- Issuing checks the practitioner's billing profile (mandatory mentions), that the note has at
  least one line, then takes the next number of the practitioner's series of the year
  (`numbering.take`) in the same transaction, freezes the practitioner's mentions and the
  patient's name (sealed) on the note, and from then on the row is never changed (the service
  refuses, the database's triggers too).
- An issued note is cancelled, fully or partly, by a credit note (kind "credit") issued at once
  with its own number from the same series, referencing the note; what remains of a note is its
  total minus its credit notes, and a credit note may not exceed it.

Who: staff with `billing.prepare` prepare drafts; `billing.issue` issues, for the practitioner
themself (or an owner). A note is seen by owners and by its practitioner; another practitioner
gets a 404. A secretary (who prepares drafts and records payments) sees every note's number,
patient, dates, amounts and payments, never its acts: their codes, labels and places say what the
patient is treated for (clinical content), so `read` does not even open them for her (`acts_visible`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import select

from carnet_billing import permissions as perm
from carnet_billing.models import CREDIT, DRAFT, ISSUED, NGAP, NOTE, Act, BillingProfile, Note, NoteLine
from carnet_billing.money import line_cents, to_cents
from carnet_billing.services import chain, documents, numbering, profiles, tariffs
from carnet_billing.services.errors import BillingInvalid, NotFound, refuse
from carnet_core.plugin_api import (
    N_,
    CarnetSession,
    Clinic,
    FieldError,
    Membership,
    PatientError,
    open_or_unreadable,
    patient_access,
    seal,
    text_problem,
    utcnow,
)
from carnet_core.plugin_api import record as audit_record

RESOURCE = "billing_note"
MAX_LINES = 60
MAX_QUANTITY = 99
MAX_LINE = Decimal("10000")  # euros: an act above this is a typing mistake
MAX_COEFFICIENT = 10000  # hundredths: 100.00
LABEL_MAX, CODE_MAX, PLACE_MAX = 200, 40, 200
DEFAULT_TZ = "Europe/Paris"


@dataclass(frozen=True)
class LineInput:
    """One act to add to a draft: an act of the catalogue, or a key letter × coefficient, or a
    free amount; its date, optional place, label and quantity."""

    act_day: date
    act_id: int | None = None
    letter: str | None = None
    coefficient_hundredths: int | None = None
    price: Decimal | None = None
    label: str = ""
    place: str = ""
    quantity: int = 1
    session_ref: str | None = None  # the honoured session it invoices (services/sessions.py)


# --- reading ------------------------------------------------------------------------------------


def clinic_today(db: CarnetSession) -> date:
    clinic = db.info.get("clinic")
    if clinic is None or clinic.id != db.clinic_id:
        clinic = db.get(Clinic, db.clinic_id)
    tz = getattr(clinic, "timezone", None) or DEFAULT_TZ
    return datetime.now(ZoneInfo(tz)).date()


def may_see(principal: Any, note: Note) -> bool:
    if not principal.can(perm.VIEW):
        return False
    roles = set(principal.roles)
    return bool(roles & {"owner", "secretary"}) or note.practitioner_id == principal.user_id


def acts_visible(principal: Any, note: Note) -> bool:
    """Whether this person may see the note's acts (clinical content): its practitioner and owners."""
    return "owner" in principal.roles or note.practitioner_id == principal.user_id


def visible_filter(principal: Any) -> sa.ColumnElement[bool]:
    roles = set(principal.roles)
    if roles & {"owner", "secretary"}:
        return sa.true()
    return Note.practitioner_id == principal.user_id  # type: ignore[return-value]


def get(db: CarnetSession, principal: Any, note_id: int) -> Note:
    note = db.get(Note, note_id)
    if note is None or not may_see(principal, note):
        raise NotFound("no such note")
    return note


def listing(db: CarnetSession, principal: Any, *, status: str | None = None, limit: int = 200) -> list[Note]:
    query = select(Note).where(visible_filter(principal))
    if status:
        query = query.where(Note.status == status)
    query = query.order_by(Note.status, Note.year.desc(), Note.seq.desc(), Note.id.desc()).limit(limit)  # type: ignore[union-attr]
    return list(db.exec(query).all())


def lines_of(db: CarnetSession, note: Note) -> list[NoteLine]:
    return list(db.exec(select(NoteLine).where(NoteLine.note_id == note.id)
                        .order_by(NoteLine.position, NoteLine.id)).all())


def credits_of(db: CarnetSession, note: Note) -> list[Note]:
    return list(db.exec(select(Note).where(Note.credit_of_id == note.id).order_by(Note.seq)).all())


def remaining_cents(db: CarnetSession, note: Note) -> int:
    """What is left of an issued note once its credit notes are deducted."""
    credited = db.execute(sa.select(sa.func.coalesce(sa.func.sum(Note.total_cents), 0)).where(
        Note.credit_of_id == note.id, Note.kind == CREDIT)).scalar()
    return note.total_cents - int(credited or 0)


def opened_line(db: CarnetSession, line: NoteLine) -> dict[str, Any]:
    """A line with its sealed texts opened (a damaged value shows as unreadable, for this line only)."""
    return {
        "id": line.id, "act_day": line.act_day, "quantity": line.quantity,
        "coefficient_hundredths": line.coefficient_hundredths, "unit_cents": line.unit_cents,
        "amount_cents": line.amount_cents,
        **{field: open_or_unreadable(db, line, field) for field in ("code", "label", "place")},
    }


def hidden_line(line: NoteLine) -> dict[str, Any]:
    """A line as a secretary sees it: date, quantity and amounts; its sealed texts left sealed."""
    return {
        "id": line.id, "act_day": line.act_day, "quantity": line.quantity,
        "coefficient_hundredths": None, "unit_cents": line.unit_cents, "amount_cents": line.amount_cents,
        "code": None, "label": None, "place": None, "hidden": True,
    }


def read(db: CarnetSession, principal: Any, note_id: int) -> tuple[Note, list[dict[str, Any]]]:
    """A note and its lines, for showing it: audited as a read of the patient's billing. The acts'
    sealed texts are opened only for those who may see them (`acts_visible`)."""
    note = get(db, principal, note_id)
    shown = opened_line if acts_visible(principal, note) else (lambda _db, line: hidden_line(line))
    lines = [shown(db, line) for line in lines_of(db, note)]
    audit_record(db, action="read", resource_type=RESOURCE, resource_id=note.id, patient_id=note.patient_id)
    return note, lines


# --- drafts -------------------------------------------------------------------------------------


def _is_practitioner(db: CarnetSession, user_id: int) -> bool:
    row = db.exec(select(Membership).where(Membership.user_id == user_id, Membership.active == True)).first()  # noqa: E712
    return row is not None and bool(row.role_set & {"practitioner", "owner"})


def create_draft(db: CarnetSession, principal: Any, *, practitioner_id: int, patient_id: int,
                 name_withheld: bool = False, cares: bool = False, session_group: str | None = None) -> Note:
    """A draft; `cares`: the practitioner's own honoured session with the patient shows they care
    for them (core's patient access lets them bill a patient they do not follow)."""
    errors: dict[str, FieldError] = {}
    if not _is_practitioner(db, practitioner_id):
        errors["practitioner_id"] = FieldError("unknown", N_("Choose a practitioner of the practice."))
    try:
        patient_access(db, principal).get(patient_id, cares=cares)
    except PatientError:
        errors["patient_id"] = FieldError("unknown", N_("Choose a patient of the practice."))
    if errors:
        raise BillingInvalid(errors)
    note = Note(kind=NOTE, status=DRAFT, practitioner_id=practitioner_id, patient_id=patient_id,
                name_withheld=name_withheld, session_group=session_group, created_by=principal.user_id)
    db.add(note)
    db.flush()
    audit_record(db, action="create", resource_type=RESOURCE, resource_id=note.id, patient_id=patient_id)
    return note


def _draft(db: CarnetSession, principal: Any, note_id: int) -> Note:
    note = get(db, principal, note_id)
    if note.status != DRAFT:
        raise refuse("note", "issued", N_("An issued note cannot be changed: cancel it with a credit note."))
    return note


def _checked_text(errors: dict[str, FieldError], field: str, value: str, limit: int, *, required: bool) -> str:
    value = value.strip()
    if len(value) > limit:
        errors[field] = FieldError("too_long", N_("%(limit)s characters at most."), limit=limit)
    elif value or required:
        problem = text_problem(value)
        if problem:
            errors[field] = FieldError(problem.code, problem.message)
    return value


def add_line(db: CarnetSession, principal: Any, note_id: int, line: LineInput) -> NoteLine:
    """Add an act to a draft. Its unit is the key letter's value in force on the act's date in the
    practitioner's zone (kept on the line), or the act's or typed price; the amount is rounded to
    the cent once (`money.line_cents`)."""
    note = _draft(db, principal, note_id)
    errors: dict[str, FieldError] = {}
    today = clinic_today(db)
    if line.act_day > today:
        errors["act_day"] = FieldError("future", N_("An act cannot be dated in the future."))
    elif line.act_day.year < 2000:
        errors["act_day"] = FieldError("out_of_range", N_("Enter a date between 2000 and 2099."))
    if not 1 <= line.quantity <= MAX_QUANTITY:
        errors["quantity"] = FieldError("out_of_range", N_("Enter a whole number between %(low)s and %(high)s."),
                                        low=1, high=MAX_QUANTITY)
    label = _checked_text(errors, "label", line.label, LABEL_MAX, required=False)
    place = _checked_text(errors, "place", line.place, PLACE_MAX, required=False)
    letter, coefficient, price = line.letter, line.coefficient_hundredths, line.price
    if line.act_id is not None:
        act = db.get(Act, line.act_id)
        if act is None or not act.active:
            errors["act_id"] = FieldError("unknown", N_("Choose an act of the catalogue."))
        else:
            label = label or act.label
            if act.kind == NGAP:
                letter, coefficient = act.letter, act.coefficient_hundredths
            else:
                price = Decimal(act.price_cents or 0) / 100
    letter = (letter or "").strip().upper() or None
    if letter is None and price is None and "act_id" not in errors:
        errors["letter"] = FieldError("required", N_("Give a key letter and a coefficient, or an amount."))
    if letter is not None and (coefficient is None or not 1 <= coefficient <= MAX_COEFFICIENT):
        errors["coefficient"] = FieldError("out_of_range", N_("Enter a coefficient between 0,01 and 100."))
    if letter is None and price is not None and not Decimal("0.01") <= price <= MAX_LINE:
        errors["price"] = FieldError("out_of_range", N_("Enter an amount between 0,01 € and 10 000 €."))
    if errors:
        raise BillingInvalid(errors)
    if len(lines_of(db, note)) >= MAX_LINES:
        raise refuse("note", "too_many_lines", N_("A note holds %(n)s acts at most."), n=MAX_LINES)
    if letter is not None:
        profile = profiles.get(db, note.practitioner_id)
        zone = profile.zone if profile else "metropole"
        unit = tariffs.value_on(db, letter, zone, line.act_day)
        code = f"{letter} {Decimal(coefficient or 0) / 100:g}".replace(".", ",")  # type: ignore[operator]
        amount = line_cents(unit, coefficient, line.quantity)
    else:
        unit = to_cents(price)  # type: ignore[arg-type]
        code, coefficient = "", None
        amount = line_cents(unit, None, line.quantity)
    if Decimal(amount) / 100 > MAX_LINE:
        raise refuse("quantity", "out_of_range", N_("Enter an amount between 0,01 € and 10 000 €."))
    row = NoteLine(note_id=note.id, position=len(lines_of(db, note)) + 1, act_day=line.act_day,  # type: ignore[arg-type]
                   coefficient_hundredths=coefficient, unit_cents=unit, quantity=line.quantity, amount_cents=amount,
                   session_ref=line.session_ref)
    if line.session_ref is None:
        db.add(row)
        db.flush()
    else:
        _add_session_line(db, row)
    seal(db, row, "code", code or None)
    seal(db, row, "label", label or None)
    seal(db, row, "place", place or None)
    db.add(row)
    _retotal(db, note)
    return row


ALREADY_INVOICED = N_("This session is already invoiced (on a draft or an issued note).")


def _add_session_line(db: CarnetSession, row: NoteLine) -> None:
    """A line invoicing a session: refused when the session is on another line already; the
    database's unique key on (clinic, session) refuses it too when two requests race, and that
    refusal becomes the same field error (in a savepoint: the rest of the transaction stands)."""
    taken = db.exec(select(NoteLine.id).where(NoteLine.session_ref == row.session_ref)).first()
    if taken is not None:
        raise refuse("sessions", "already_invoiced", ALREADY_INVOICED)
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except sa.exc.IntegrityError:
        raise refuse("sessions", "already_invoiced", ALREADY_INVOICED) from None


def remove_line(db: CarnetSession, principal: Any, note_id: int, line_id: int) -> None:
    note = _draft(db, principal, note_id)
    row = db.get(NoteLine, line_id)
    if row is None or row.note_id != note.id:
        raise NotFound("no such line")
    db.delete(row)
    db.flush()
    _retotal(db, note)


def _retotal(db: CarnetSession, note: Note) -> None:
    total = db.execute(sa.select(sa.func.coalesce(sa.func.sum(NoteLine.amount_cents), 0))
                       .where(NoteLine.note_id == note.id)).scalar()
    note.total_cents = int(total or 0)
    note.updated_at = utcnow()
    db.add(note)
    db.flush()


def delete_draft(db: CarnetSession, principal: Any, note_id: int) -> None:
    note = _draft(db, principal, note_id)
    for row in lines_of(db, note):
        db.delete(row)
    db.flush()
    db.delete(note)
    db.flush()
    audit_record(db, action="delete", resource_type=RESOURCE, resource_id=note_id, patient_id=note.patient_id)


# --- issuing ------------------------------------------------------------------------------------


def _may_issue(principal: Any, note: Note) -> bool:
    return principal.can(perm.ISSUE) and (note.practitioner_id == principal.user_id or "owner" in principal.roles)


def _freeze(db: CarnetSession, principal: Any, note: Note, issuer: str, lines: list[NoteLine] | None = None) -> None:
    """Number, date and printed mentions: the last change the row ever sees."""
    today = clinic_today(db)
    seq = numbering.take(db, note.practitioner_id, today.year)
    name = None if note.name_withheld else patient_access(db, principal).name(note.patient_id, cares=True)
    with db.no_autoflush:
        note.year, note.seq = today.year, seq
        note.number = numbering.format_number(today.year, seq)
        note.issued_on = today
        note.issued_at = utcnow()
        note.issuer = issuer
        seal(db, note, "patient_name", name)
        note.status = ISSUED
        note.updated_at = utcnow()
        chain.link(db, note, lines)
    db.add(note)
    db.flush()
    documents.schedule(db, note)  # the PDF, rendered by the worker once this transaction commits


def _issuer_or_refuse(db: CarnetSession, practitioner_id: int) -> str:
    return _issuer_of(profiles.get(db, practitioner_id))


def _issuer_of(profile: BillingProfile | None) -> str:
    """The printed mentions of the practitioner's profile, or the refusal naming those it lacks."""
    missing = profiles.missing_mentions(profile)
    if missing:
        raise BillingInvalid({"profile": FieldError(
            "missing_mentions", N_("The billing profile lacks mandatory mentions: %(missing)s."),
            missing=", ".join(profiles.MENTIONS[m] for m in missing))})
    return profiles.as_issuer(profile)  # type: ignore[arg-type]


def notify(hooks: Any, name: str, **kwargs: Any) -> None:
    """Call a billing_* hook on the plugins the clinic enabled (`hooks` from host.for_clinic)."""
    if hooks is not None:
        getattr(hooks, name)(**kwargs)


def _with_lines(db: CarnetSession, note_id: int) -> tuple[Note | None, list[NoteLine], BillingProfile | None]:
    """The note (None: no such note in the clinic), its lines in order and its practitioner's
    billing profile (one a practitioner and clinic), in one query."""
    rows = db.exec(select(Note, NoteLine, BillingProfile)
                   .outerjoin(NoteLine, NoteLine.note_id == Note.id)  # type: ignore[arg-type]
                   .outerjoin(BillingProfile, BillingProfile.practitioner_id == Note.practitioner_id)  # type: ignore[arg-type]
                   .where(Note.id == note_id).order_by(NoteLine.position, NoteLine.id)).all()
    if not rows:
        return None, [], None
    return rows[0][0], [line for _, line, _ in rows if line is not None], rows[0][2]


def issue(db: CarnetSession, principal: Any, note_id: int, *, hooks: Any = None) -> Note:
    # the note read with its lines and profile, held here: `_draft` finds it in the session
    held, lines, profile = _with_lines(db, note_id)
    note = _draft(db, principal, note_id)
    if not _may_issue(principal, note):
        raise refuse("note", "forbidden", N_("Only the practitioner of the note (or an owner) may issue it."))
    issuer = _issuer_of(profile)
    if not lines or note.total_cents <= 0:
        raise refuse("note", "empty", N_("An empty note cannot be issued: add at least one act."))
    _freeze(db, principal, note, issuer, lines)
    audit_record(db, action="issue", resource_type=RESOURCE, resource_id=note.id, patient_id=note.patient_id,
                 details={"seq": note.seq, "year": note.year})
    notify(hooks, "billing_note_issued", note=note, db=db)
    return note


def credit(db: CarnetSession, principal: Any, note_id: int, amount: Decimal | None = None, *,
           hooks: Any = None) -> Note:
    """Cancel an issued note by a credit note, issued at once: of what remains (`amount` None) or
    of `amount` euros (a partial cancellation, at most what remains)."""
    note = get(db, principal, note_id)
    if note.status != ISSUED or note.kind != NOTE:
        raise refuse("note", "not_issued", N_("Only an issued note can be cancelled by a credit note."))
    if not _may_issue(principal, note):
        raise refuse("note", "forbidden", N_("Only the practitioner of the note (or an owner) may issue it."))
    remaining = remaining_cents(db, note)
    if remaining <= 0:
        raise refuse("amount", "nothing_left", N_("This note is already fully cancelled."))
    if amount is None:
        cents = remaining
    else:
        if amount != amount.quantize(Decimal("0.01")) or amount <= 0:
            raise refuse("amount", "invalid", N_("Enter an amount in euros with two decimals at most."))
        cents = to_cents(amount)
        if cents > remaining:
            raise refuse("amount", "too_large", N_("A credit note cannot exceed what remains of the note (%(left)s)."),
                         left=f"{Decimal(remaining) / 100:.2f}".replace(".", ",") + " €")
    issuer = _issuer_or_refuse(db, note.practitioner_id)
    avoir = Note(kind=CREDIT, status=DRAFT, practitioner_id=note.practitioner_id, patient_id=note.patient_id,
                 credit_of_id=note.id, name_withheld=note.name_withheld, total_cents=cents,
                 created_by=principal.user_id)
    db.add(avoir)
    db.flush()
    line = NoteLine(note_id=avoir.id, position=1, act_day=clinic_today(db), unit_cents=cents,  # type: ignore[arg-type]
                    quantity=1, amount_cents=cents)
    db.add(line)
    db.flush()
    label = "Annulation totale" if cents == note.total_cents else "Annulation partielle"
    seal(db, line, "label", f"{label} de la note n° {note.number}")
    db.add(line)
    db.flush()
    _freeze(db, principal, avoir, issuer)
    audit_record(db, action="issue", resource_type=RESOURCE, resource_id=avoir.id, patient_id=avoir.patient_id,
                 details={"seq": avoir.seq, "year": avoir.year, "credit_of": note.id})
    notify(hooks, "billing_note_cancelled", note=note, credit_note=avoir, db=db)
    return avoir
