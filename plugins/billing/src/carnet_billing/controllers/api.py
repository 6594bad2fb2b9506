"""JSON API under /api/v1/billing (in the OpenAPI document): notes, their acts, issuing, credit
notes, payments, a patient's balance. Refusals are core's convention: 422 with field errors
(nothing written), 404 for what this person may not see."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from carnet_billing import permissions as perm
from carnet_billing import schemas
from carnet_billing.money import parse_amount, parse_coefficient
from carnet_billing.services import notes, payments
from carnet_billing.services.errors import NotFound
from carnet_billing.services.notes import LineInput
from carnet_core.plugin_api import CarnetSession, Id, clinic_hooks, principal_of

DB = NamedDependency[CarnetSession]
NoteId = FromPath[Id]
BY_ID = {"note_id": "$response.body#/id"}
NOTE_LINKS = {
    "GetNote": ("GET", "/api/v1/billing/notes/{note_id}", BY_ID),
    "AddLine": ("POST", "/api/v1/billing/notes/{note_id}/lines", BY_ID),
    "IssueNote": ("POST", "/api/v1/billing/notes/{note_id}/issue", BY_ID),
}
RULES = {"error_statuses": (422,)}


def _full(db: CarnetSession, request: Request[Any, Any, Any], note_id: int) -> dict[str, Any]:
    try:
        note, lines = notes.read(db, principal_of(request), note_id)
    except NotFound:
        raise NotFoundException() from None
    remaining = notes.remaining_cents(db, note) if note.status == "issued" and note.kind == "note" else None
    return schemas.note_out(note, lines, remaining, payments.balance(db, note), payments.of_note(db, note))


def _call(action: Any) -> Any:
    try:
        return action()
    except NotFound:
        raise NotFoundException() from None


class NotesApi(Controller):
    path = "/notes"
    tags = ["billing"]
    opt = RULES

    @get("/", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def listing(self, request: Request[Any, Any, Any], db: DB) -> list[dict[str, Any]]:
        """The notes this person sees: owners and secretaries every note, a practitioner their own."""
        return [schemas.note_out(n) for n in notes.listing(db, principal_of(request))]

    @post("/", opt={"permission": perm.PREPARE, "links": NOTE_LINKS}, sync_to_thread=True, status_code=201)
    def create(self, request: Request[Any, Any, Any], db: DB, data: JSONBody[schemas.NoteIn]) -> dict[str, Any]:
        """A draft note (no number) for a patient, billed by a practitioner of the clinic."""
        note = notes.create_draft(db, principal_of(request), practitioner_id=data.practitioner_id,
                                  patient_id=data.patient_id, name_withheld=data.name_withheld)
        return schemas.note_out(note, [])

    @get("/{note_id:int}", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], db: DB, note_id: NoteId) -> dict[str, Any]:
        """A note with its acts (and what remains of it after credit notes, once issued)."""
        return _full(db, request, note_id)

    @delete("/{note_id:int}", opt={"permission": perm.PREPARE}, sync_to_thread=True, status_code=204)
    def remove(self, request: Request[Any, Any, Any], db: DB, note_id: NoteId) -> None:
        """Delete a draft (an issued note is never deleted: 422)."""
        _call(lambda: notes.delete_draft(db, principal_of(request), note_id))

    @post("/{note_id:int}/lines", opt={"permission": perm.PREPARE}, sync_to_thread=True, status_code=201)
    def add_line(self, request: Request[Any, Any, Any], db: DB, note_id: NoteId,
                 data: JSONBody[schemas.LineIn]) -> dict[str, Any]:
        """Add an act to a draft: a catalogue act, a key letter × coefficient (valued on the act's
        date in the practitioner's zone) or a free amount."""
        line = LineInput(
            act_day=data.act_day, act_id=data.act_id, letter=data.letter,
            coefficient_hundredths=parse_coefficient(data.coefficient) if data.coefficient else None,
            price=parse_amount(data.price) if data.price else None, label=data.label, place=data.place,
            quantity=data.quantity)
        _call(lambda: notes.add_line(db, principal_of(request), note_id, line))
        return _full(db, request, note_id)

    @post("/{note_id:int}/issue", opt={"permission": perm.ISSUE}, sync_to_thread=True, status_code=200)
    def issue(self, request: Request[Any, Any, Any], db: DB, note_id: NoteId) -> dict[str, Any]:
        """Issue a draft: the next number of the practitioner's series of the year; 422 naming the
        missing mandatory mentions of the billing profile, or for an empty note."""
        _call(lambda: notes.issue(db, principal_of(request), note_id, hooks=clinic_hooks(request)))
        return _full(db, request, note_id)

    @post("/{note_id:int}/credit", opt={"permission": perm.ISSUE}, sync_to_thread=True, status_code=201)
    def credit(self, request: Request[Any, Any, Any], db: DB, note_id: NoteId,
               data: JSONBody[schemas.CreditIn]) -> dict[str, Any]:
        """Cancel an issued note, fully or partly, by a credit note with its own number."""
        amount: Decimal | None = parse_amount(data.amount) if data.amount else None
        avoir = _call(lambda: notes.credit(db, principal_of(request), note_id, amount, hooks=clinic_hooks(request)))
        return _full(db, request, avoir.id)

    @post("/{note_id:int}/payments", opt={"permission": perm.PAYMENTS}, sync_to_thread=True, status_code=201)
    def pay(self, request: Request[Any, Any, Any], db: DB, note_id: NoteId,
            data: JSONBody[schemas.PaymentIn]) -> dict[str, Any]:
        """Record a payment of an issued note (partial or whole; 422 on a draft, a cancelled note or
        beyond what is due). The answer is the note with its state (issued, partly_paid, paid)."""
        _call(lambda: payments.record(db, principal_of(request), note_id, amount=parse_amount(data.amount),  # type: ignore[arg-type]
                                      paid_on=data.paid_on, method=data.method, payer=data.payer,
                                      hooks=clinic_hooks(request)))
        return _full(db, request, note_id)


class PatientsApi(Controller):
    path = "/patients"
    tags = ["billing"]
    opt = RULES

    @get("/{patient_id:int}/balance", opt={"permission": perm.VIEW}, sync_to_thread=True)
    def balance(self, request: Request[Any, Any, Any], db: DB, patient_id: FromPath[Id]) -> dict[str, Any]:
        """A patient's balance: billed, credited, paid and still due on their issued notes this
        person sees (owners and secretaries: every practitioner's; a practitioner: their own),
        with each note's own; 404 for a patient this person may not see."""
        return schemas.patient_balance_out(_call(lambda: payments.patient_balance(db, principal_of(request),
                                                                                  patient_id)))


API_HANDLERS = [NotesApi, PatientsApi]
