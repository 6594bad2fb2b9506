"""Waiting-list pages for patients (intake form, offers, "still interested?", the practice's
message) under /p/{clinic_slug}/scheduling, and for staff (triage, priority rules, offers made)
under /scheduling."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from carnet_core.plugin_api import (
    N_,
    PUBLIC,
    CarnetSession,
    User,
    client_address,
    clinic_hooks,
    host_of,
    id_in_range,
    keep_page,
    links,
    open_fields,
    open_or_unreadable,
    page,
    principal_of,
    record,
    refusal_page,
    translate,
)
from carnet_scheduling import messages
from carnet_scheduling.controllers.common import plugin_settings
from carnet_scheduling.controllers.forms import FormErrors, flag, integer, text
from carnet_scheduling.permissions import CONFIGURE, MANAGE, VIEW
from carnet_scheduling.services import waitlist
from carnet_scheduling.services.booking import online_practitioners
from carnet_scheduling.services.contacts import GUARDIAN_KEYS
from carnet_scheduling.services.errors import NotFound, SchedulingError, SlotTaken

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
OPT = {"permission": PUBLIC}
DAYS = ((0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"))
RELATIONS = (("mother", N_("Mother")), ("father", N_("Father")), ("guardian", N_("Legal guardian")),
             ("other", N_("Other holder")))
PARTS = (("morning", "morning"), ("afternoon", "afternoon"), ("evening", "evening"))


def _base(request: Request[Any, Any, Any]) -> str:
    return f"/p/{request.scope['state']['public_clinic'].slug}/scheduling"


def _hooks(request: Request[Any, Any, Any]) -> Any:
    return clinic_hooks(request)


def _form(request: Any, db: CarnetSession, values: dict[str, Any] | None = None, error: Any = None,
          status: int = 200) -> Template:
    values = values or {}
    rows = list(values.get("guardians") or [])
    rows += [{"may_receive_messages": True}] * (2 - len(rows))
    return page(request, "scheduling/public_waitlist.html", {
        "practitioners": online_practitioners(db) or _all_practitioners(db), "values": values, "rows": rows,
        "relations": RELATIONS,
        "error": error, "days": DAYS, "parts": PARTS, "action": f"{_base(request)}/waitlist",
    }, status_code=status)


def _all_practitioners(db: CarnetSession) -> list[Any]:
    from carnet_scheduling.services.context import practitioners

    return practitioners(db)


@get("/waitlist", name="scheduling.public.waitlist", opt=OPT, sync_to_thread=True)
def waitlist_form(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    return _form(request, db)


@post("/waitlist", name="scheduling.public.waitlist_join", opt=OPT, sync_to_thread=True)
def waitlist_join(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Template:
    def listed(name: str) -> list[str]:
        value = data.get(name)
        return value if isinstance(value, list) else [value] if value else []

    values: dict[str, Any] = {k: data.get(k) for k in ("full_name", "email", "phone", "situation", "prescription",
                                                       "age_years", "birth_date", "urgent")
                              if not isinstance(data.get(k), list)}
    values["availability"] = listed("availability")
    values["guardians"] = [
        {**{k: data.get(f"g{i}_{k}") for k in GUARDIAN_KEYS if isinstance(data.get(f"g{i}_{k}"), str)},
         "may_receive_messages": data.get(f"g{i}_messages") in ("1", "on")}
        for i in range(2)
    ]
    try:
        waitlist.join(db, values, [int(p) for p in listed("practitioners")])
    except (SchedulingError, ValueError) as exc:
        error = exc if isinstance(exc, SchedulingError) else SchedulingError("practitioners", "choose a practitioner")
        return _form(request, db, values, error, 400)
    return page(request, "scheduling/public_waitlist_done.html", {"base": _base(request)})


def _open(request: Any, db: CarnetSession, token: str, purpose: str) -> Any:
    return links.open_link(db, token, purpose, client_address(request))


@get("/o/{token:str}", name="scheduling.public.offer", opt=OPT, sync_to_thread=True)
def offer_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    from sqlmodel import select

    from carnet_scheduling.patient_models import Offer

    try:
        link = _open(request, db, token, waitlist.OFFER)
        links.audit_access(db, link, resource_type="scheduling_offer")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    offer = db.exec(select(Offer).where(Offer.id == link.subject_id)).one()
    clinic = request.scope["state"]["public_clinic"]
    who = db.get(User, offer.practitioner_id)
    return keep_page(request, "scheduling/public_offer.html", {
        "when": messages.when_text(offer.starts_at, clinic.timezone, "fr"), "practitioner": who,
        "offer": offer, "accept": f"{_base(request)}/o/{token}/accept",
        "decline": f"{_base(request)}/o/{token}/decline",
    })


@post("/o/{token:str}/accept", name="scheduling.public.offer_accept", opt=OPT, sync_to_thread=True)
def offer_accept(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    try:
        link = _open(request, db, token, waitlist.OFFER)
        appt = waitlist.accept_offer(db, link, _hooks(request))
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except SlotTaken:
        return page(request, "scheduling/public_offer_done.html", {"kind": "taken", "base": _base(request)},
                    status_code=409)
    except waitlist.ContactRefused as refused:
        # kept: the offer records why it could not be accepted, for the staff's waiting list
        return keep_page(request, "scheduling/public_offer_done.html", {
            "kind": "contact", "field": refused.field, "base": _base(request)}, 422)
    except (SchedulingError, NotFound):
        return page(request, "scheduling/public_offer_done.html", {"kind": "closed", "base": _base(request)},
                    status_code=410)
    lang = messages.Lang(host_of(request), "fr")
    return keep_page(request, "scheduling/public_offer_done.html", {
        "kind": "booked", "facts": messages.appointment_facts(db, appt, lang), "base": _base(request)})


@post("/o/{token:str}/decline", name="scheduling.public.offer_decline", opt=OPT, sync_to_thread=True)
def offer_decline(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str],
) -> Template:
    try:
        link = _open(request, db, token, waitlist.OFFER)
        waitlist.decline_offer(db, link)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "scheduling/public_offer_done.html", {"kind": "declined", "base": _base(request)})


@get("/w/{token:str}", name="scheduling.public.still", opt=OPT, sync_to_thread=True)
def still_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    try:
        _open(request, db, token, waitlist.STILL_INTERESTED)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "scheduling/public_still.html", {"action": f"{_base(request)}/w/{token}"})


@post("/w/{token:str}", name="scheduling.public.still_answer", opt=OPT, sync_to_thread=True)
def still_answer(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str], data: Form,
) -> Template:
    try:
        link = _open(request, db, token, waitlist.STILL_INTERESTED)
        entry = waitlist.answer_still_interested(db, link, str(data.get("answer")) == "yes")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        raise NotFoundException() from None
    return keep_page(request, "scheduling/public_still.html", {"answered": entry.status})


@get("/m/{token:str}", name="scheduling.public.message", opt=OPT, sync_to_thread=True)
def message_page(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    try:
        link = _open(request, db, token, waitlist.READ_MESSAGE)
        text = waitlist.read_refusal(db, link)
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    except NotFound:
        raise NotFoundException() from None
    return keep_page(request, "scheduling/public_message_read.html", {"text": text})


@post("/a/{token:str}/earlier", name="scheduling.public.earlier", opt=OPT, sync_to_thread=True)
def ask_earlier(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], token: FromPath[str]) -> Template:
    from carnet_scheduling.services import appointments as appts
    from carnet_scheduling.services.booking import MANAGE as MANAGE_LINK

    try:
        link = _open(request, db, token, MANAGE_LINK)
        appt = appts.get_appointment(db, link.subject_id)
        waitlist.ask_for_earlier(db, appt)
        links.audit_access(db, link, action="update", resource_type="scheduling_waiting_entry")
    except links.LinkRefused as refused:
        return refusal_page(request, refused)
    return keep_page(request, "scheduling/public_offer_done.html", {"kind": "earlier", "base": _base(request)})


PUBLIC_WAITLIST_HANDLERS = [waitlist_form, waitlist_join, offer_page, offer_accept, offer_decline, still_page,
                            still_answer, message_page, ask_earlier]


# --- staff ---------------------------------------------------------------------------------------


def _rules(request: Any) -> tuple[waitlist.PriorityRules, waitlist.WaitRules]:
    settings = plugin_settings(request)
    return waitlist.PriorityRules.from_settings(settings), waitlist.WaitRules.from_settings(settings)


@get("/waitlist", name="scheduling.waitlist", opt={"permission": VIEW}, sync_to_thread=True)
def staff_waitlist(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], practitioner_id: FromQuery[int | None] = None,
) -> Template:
    principal = principal_of(request)
    from carnet_scheduling.services.context import practitioners

    people = practitioners(db)
    chosen = practitioner_id or (principal.user_id if any(p.id == principal.user_id for p in people)
                                 else (people[0].id if people else None))
    priorities, _ = _rules(request)
    rows = []
    if chosen is not None:
        for listing, entry, points, parts in waitlist.ranked(db, chosen, priorities):
            # a damaged value shows as "données illisibles" for this file only (core's fail-closed opening)
            fields = open_fields(db, entry, ("full_name", "age_years", "email", "phone"))
            # The situation and prescription are read by the practitioners only (clinical content).
            if principal.can("scheduling.clinical"):
                fields.update(open_fields(db, entry, ("situation", "prescription")))
            rows.append({"listing": listing, "entry": entry, "points": points, "parts": parts, "fields": fields})
        from carnet_scheduling.services import people as registry

        # the files staff added for a patient of the practice carry no name: the registry's (audited)
        named = registry.names(db, principal, {r["entry"].patient_id for r in rows if r["entry"].patient_id})
        for row in rows:
            row["name"] = named.get(row["entry"].patient_id) if row["entry"].patient_id else None
        record(db, action="list", resource_type="scheduling_waiting_entry", details={"count": len(rows)})
    offers = []
    for offer, entry in waitlist.offers_made(db, chosen):
        offers.append({"offer": offer, "who": open_or_unreadable(db, entry, "full_name") if entry.full_name else None,
                       "patient_id": entry.patient_id,
                       "when": messages.when_text(offer.starts_at, principal.clinic.timezone, "fr")})
    return page(request, "scheduling/waitlist.html", {
        "rows": rows, "offers": offers, "people": people, "chosen": chosen, "rules": priorities,
        "can_triage": principal.can(MANAGE) and chosen == principal.user_id, "can_add": principal.can(MANAGE),
    })


@post("/waitlist/{listing_id:int}", name="scheduling.waitlist.triage", opt={"permission": MANAGE},
      sync_to_thread=True)
def staff_triage(
    request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], listing_id: FromPath[int], data: Form,
) -> Any:
    principal = principal_of(request)
    try:
        priority = int(data["priority"]) if str(data.get("priority") or "").strip() else None
        waitlist.triage(db, listing_id, principal.user_id, str(data.get("action") or ""), priority,
                        str(data.get("message") or ""))
    except NotFound:
        raise NotFoundException() from None
    except (SchedulingError, ValueError) as exc:
        message = exc.message if isinstance(exc, SchedulingError) else "priority: a whole number"
        return page(request, "core/error.html", {"status": 400, "detail": message}, status_code=400)
    return Redirect("/scheduling/waitlist", status_code=303)


def _listed(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name)
    return [str(v) for v in value] if isinstance(value, list) else [str(value)] if value else []


def _add_form(request: Any, db: CarnetSession, values: dict[str, Any], errors: dict[str, str] | None = None,
              search: str = "", status: int = 200) -> Template:
    """The staff form that puts a patient of the practice on waiting lists: the patient is chosen
    among the search's results (a POST: a name never travels in an address), never typed as an id."""
    from carnet_scheduling.services import people
    from carnet_scheduling.services.context import practitioners

    principal = principal_of(request)
    results = people.search(db, principal, search) if search else None
    pid = str(values.get("patient_id") or "")
    if pid.isdigit() and id_in_range(int(pid)):
        name = people.one(db, principal, int(pid))
        if name:
            results = [(int(pid), name), *[r for r in results or [] if r[0] != int(pid)]]
    values["q"] = search
    return page(request, "scheduling/waitlist_new.html", {
        "v": values, "errors": errors or {}, "results": results, "registry": people.registry_available(),
        "people": practitioners(db), "days": DAYS, "parts": PARTS,
        "clinical": principal.can("scheduling.clinical"),
    }, status_code=status)


ADD_FIELDS = ("patient_id", "situation", "prescription", "urgent")


def _add_values(data: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {k: text(data, k, 4000) for k in ADD_FIELDS}
    values["practitioners"] = _listed(data, "practitioners")
    values["availability"] = _listed(data, "availability")
    return values


@get("/waitlist/new", name="scheduling.waitlist.add_form", opt={"permission": MANAGE}, sync_to_thread=True)
def staff_add_form(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """From the waiting list or a patient's page (`patient_id`, the patient already chosen)."""
    principal = principal_of(request)
    from carnet_scheduling.services.context import is_practitioner

    pid = (request.query_params.get("patient_id") or "")[:20]
    asked = (request.query_params.get("practitioner_id") or "")[:20]
    if asked.isdigit() and id_in_range(int(asked)) and is_practitioner(db, int(asked)):
        mine = [asked]
    else:
        mine = [str(principal.user_id)] if principal.user_id and is_practitioner(db, principal.user_id) else []
    return _add_form(request, db, {"patient_id": pid, "practitioners": mine, "availability": []})


@post("/waitlist/new", name="scheduling.waitlist.add_search", opt={"permission": MANAGE}, sync_to_thread=True,
      status_code=200)
def staff_add_search(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Template:
    """The form again with the patients found (its Search button, without JavaScript), every value kept."""
    return _add_form(request, db, _add_values(data), search=text(data, "q", 200))


@post("/waitlist", name="scheduling.waitlist.add", opt={"permission": MANAGE}, sync_to_thread=True)
def staff_add(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form) -> Any:
    from carnet_scheduling.services import people

    principal = principal_of(request)
    values = _add_values(data)
    errors = FormErrors()
    patient_id = integer(request, data, "patient_id", errors)
    if patient_id is None or people.one(db, principal, patient_id) is None:
        # an id the reader may not see is refused like a missing one (nothing said about it)
        errors["patient_id"] = translate(request, "Choose a patient (search by last name, e-mail or phone).")
    clinical = principal.can("scheduling.clinical")
    if not clinical and (values["situation"] or values["prescription"]):
        errors["situation"] = translate(request, "Only practitioners write clinical notes.")
    if not errors:
        try:
            waitlist.add_patient(
                db, patient_id, [int(p) for p in values["practitioners"] if p.isdigit() and id_in_range(int(p))],  # type: ignore[arg-type]
                principal.user_id, availability=values["availability"], urgent=flag(data, "urgent"),
                situation=values["situation"], prescription=values["prescription"])
        except SchedulingError as exc:
            errors[exc.field] = translate(request, exc.message)
    if errors:
        return _add_form(request, db, values, errors, status=422)
    return Redirect("/scheduling/waitlist", status_code=303)


@get("/online", name="scheduling.online", opt={"permission": VIEW}, sync_to_thread=True)
def staff_online(request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
    """Bookings, moves and cancellations made by patients online (no clinical content): patient,
    practitioner, type, time and the appointment's link; for owners, the public addresses to hand
    out (copy button, QR code to print)."""
    from carnet_scheduling.services import agenda
    from carnet_scheduling.services import people as registry
    from carnet_scheduling.services.booking import recent_online
    from carnet_scheduling.services.context import practitioners

    principal = principal_of(request)
    rows = recent_online(db)
    names = registry.names(db, principal, {a.patient_id for _b, a in rows if a.patient_id},
                           own_ids={a.patient_id for _b, a in rows if a.practitioner_id == principal.user_id})
    staff = {p.id: p for p in practitioners(db)}
    types = agenda.types_by_id(db)
    items = [{"booking": b, "appointment": a, "when": messages.when_text(a.starts_at, principal.clinic.timezone, "fr"),
              "patient": names.get(a.patient_id), "practitioner": staff.get(a.practitioner_id),
              "type": types.get(a.appointment_type_id)} for b, a in rows]
    record(db, action="list", resource_type="scheduling_online_booking", details={"count": len(items)})
    return page(request, "scheduling/online.html", {
        "items": items, "addresses": _addresses(request) if principal.can(CONFIGURE) else [],
    })


ADDRESS_LABELS = {"book": N_("Online booking page"), "waitlist": N_("Waiting-list form")}


def _addresses(request: Any) -> list[dict[str, str]]:
    from carnet_core.plugin_api import settings_of
    from carnet_scheduling.services.booking import public_address

    slug = principal_of(request).clinic.slug
    return [{"which": which, "label": label, "url": public_address(settings_of(request).base_url, slug, which)}
            for which, label in ADDRESS_LABELS.items()]


@get("/online/poster/{which:str}", name="scheduling.online.poster", opt={"permission": CONFIGURE},
     sync_to_thread=True)
def staff_poster(request: Request[Any, Any, Any], which: FromPath[str]) -> Template:
    """A page to print for the waiting room: the clinic's name, the public address and its QR code."""
    from markupsafe import Markup

    from carnet_scheduling.services.booking import qr_svg

    found = next((a for a in _addresses(request) if a["which"] == which), None)
    if found is None:
        raise NotFoundException()
    label = translate(request, found["label"])
    return page(request, "scheduling/online_poster.html", {
        "address": found, "label": label, "qr": Markup(qr_svg(found["url"], label, scale=8)),  # noqa: S704 (our SVG)
    })


STAFF_HANDLERS = [staff_waitlist, staff_triage, staff_online, staff_poster, staff_add_form, staff_add_search, staff_add]

# Words shown through `_(…)` from data (days, half-days, states) and the services' error messages.


SHOWN_MESSAGES = (
    N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
    N_("morning"), N_("afternoon"), N_("evening"), N_("new"), N_("accepted"), N_("refused"),
    N_("offered"), N_("taken"), N_("expired"), N_("declined"),
    N_("give the patient's name"), N_("give a valid e-mail address: offers are sent there"),
    N_("describe the situation in a few words (4000 characters at most)"), N_("1000 characters at most"),
    N_("give the age in years"), N_("choose at least one practitioner of this practice"),
    N_("choose half-days from the list"), N_("choose a practitioner"),
    N_("give at most four holders of parental authority"), N_("choose the relation to the patient"),
    N_("check the details of this holder"),
    N_("this patient is already on this practitioner's waiting list"),
)
