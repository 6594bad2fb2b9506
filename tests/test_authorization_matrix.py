"""Authorization matrix over every route of core and of every plugin in this repository (issue 3,
acceptance 3; issue 16: unsafe methods without/with a wrong CSRF token, cross-clinic writes).

The rows below are the route table's security contract; the checks themselves are core's
pytest-plugin contract (`carnet_core.testing.matrix`), the same an out-of-tree plugin runs on its
own routes. A route of core or of a plugin under `plugins/` without a row FAILS, so whoever adds
a route declares here who may call it; a plugin installed from elsewhere is left to its own suite.
"""

from __future__ import annotations

from pathlib import Path

from carnet_core.testing.matrix import ANY_MEMBER, CORE, SECRET_NAME, Row

STAFF = ("owner", "practitioner", "secretary")
# core and the plugins of this repository (plugins/<name>/): the routes this suite answers for
REPOSITORY_PLUGINS = sorted(p.parent.name for p in (Path(__file__).resolve().parents[1] / "plugins").glob("*/pyproject.toml"))
UNDER_TEST = [CORE, *REPOSITORY_PLUGINS]

# Routes anyone may call, without login (each listed on purpose).
PUBLIC_ROUTES = {
    "GET /", "POST /lang", "GET /healthz",
    "GET /login", "POST /login", "GET /login/totp", "POST /login/totp", "POST /logout",
    "GET /enroll/{token:str}", "POST /enroll/{token:str}", "POST /enroll/{token:str}/confirm",
    "GET /password/forgot", "POST /password/forgot",
    "GET /password/reset/{token:str}", "POST /password/reset/{token:str}",
    "GET /static/vendor/{file_path:path}", "HEAD /static/vendor/{file_path:path}",
    "GET /static/core/{file_path:path}", "HEAD /static/core/{file_path:path}",
    # scheduling: the private calendar feed; the secret token in the path is the credential
    "GET /p/{clinic_slug:str}/scheduling/feed/{token:str}",
    # scheduling, patients without accounts: online booking and the waiting list's intake form
    # (rate-limited per address and per e-mail), then pages reached through signed patient links
    # (core.links: hashed, expiring, single-purpose tokens; unsafe methods need the CSRF token).
    "GET /p/{clinic_slug:str}/scheduling/book",
    "GET /p/{clinic_slug:str}/scheduling/book/{practitioner_id:int}/{type_id:int}",
    "GET /p/{clinic_slug:str}/scheduling/book/{practitioner_id:int}/{type_id:int}/form",
    "POST /p/{clinic_slug:str}/scheduling/book/{practitioner_id:int}/{type_id:int}",
    "GET /p/{clinic_slug:str}/scheduling/confirm/{token:str}",
    "POST /p/{clinic_slug:str}/scheduling/confirm/{token:str}",
    "GET /p/{clinic_slug:str}/scheduling/c/{token:str}", "POST /p/{clinic_slug:str}/scheduling/c/{token:str}",
    "GET /p/{clinic_slug:str}/scheduling/a/{token:str}",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/cancel",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/move",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/earlier",
    "POST /p/{clinic_slug:str}/scheduling/a/{token:str}/reminders-off",
    "GET /p/{clinic_slug:str}/scheduling/waitlist", "POST /p/{clinic_slug:str}/scheduling/waitlist",
    "GET /p/{clinic_slug:str}/scheduling/o/{token:str}",
    "POST /p/{clinic_slug:str}/scheduling/o/{token:str}/accept",
    "POST /p/{clinic_slug:str}/scheduling/o/{token:str}/decline",
    "GET /p/{clinic_slug:str}/scheduling/w/{token:str}", "POST /p/{clinic_slug:str}/scheduling/w/{token:str}",
    "GET /p/{clinic_slug:str}/scheduling/m/{token:str}",
    "GET /static/scheduling/{file_path:path}", "HEAD /static/scheduling/{file_path:path}",
    # consent, signers without accounts: pages reached only through signed patient links (hashed,
    # expiring, single-use signing links with a one-time code; withdrawal links), CSRF on POSTs
    "GET /p/{clinic_slug:str}/consent/s/{token:str}", "POST /p/{clinic_slug:str}/consent/s/{token:str}/code",
    "POST /p/{clinic_slug:str}/consent/s/{token:str}/sign",
    "GET /p/{clinic_slug:str}/consent/w/{token:str}", "POST /p/{clinic_slug:str}/consent/w/{token:str}",
    "GET /p/{clinic_slug:str}/consent/a/{token:str}", "POST /p/{clinic_slug:str}/consent/a/{token:str}/code",
    "POST /p/{clinic_slug:str}/consent/a/{token:str}",
    "GET /p/{clinic_slug:str}/consent/r/{token:str}", "POST /p/{clinic_slug:str}/consent/r/{token:str}/code",
    "POST /p/{clinic_slug:str}/consent/r/{token:str}",
    # consent, a patient's RGPD request from the clinic's page: the same answer whether or not the
    # details match a file, rate-limited per visitor and per address; the personal link (hashed,
    # 24 hours, single use, code) goes only to the address on file
    "GET /p/{clinic_slug:str}/consent/rights", "POST /p/{clinic_slug:str}/consent/rights",
    "GET /p/{clinic_slug:str}/consent/rights/{token:str}",
    "POST /p/{clinic_slug:str}/consent/rights/{token:str}/code", "POST /p/{clinic_slug:str}/consent/rights/{token:str}",
    # consent, the kiosk on the cabinet's tablet: a link (hashed, 30 minutes, single use) shown once to
    # staff; refused on a device signed in as staff
    "GET /p/{clinic_slug:str}/consent/k/{token:str}", "POST /p/{clinic_slug:str}/consent/k/{token:str}",
    # billing, the patient's link in an unpaid follow-up e-mail: view and download the note
    "GET /p/{clinic_slug:str}/billing/n/{token:str}", "GET /p/{clinic_slug:str}/billing/n/{token:str}/download",
    "GET /static/billing/{file_path:path}", "HEAD /static/billing/{file_path:path}",
    # telecare, the patient's conversation: only through the link of a notification (hashed, expiring,
    # revoked when the conversation closes) and a one-time code sent to the same address; CSRF on POSTs
    "GET /p/{clinic_slug:str}/telecare/m/{token:str}", "POST /p/{clinic_slug:str}/telecare/m/{token:str}/code",
    "POST /p/{clinic_slug:str}/telecare/m/{token:str}/verify",
    "POST /p/{clinic_slug:str}/telecare/m/{token:str}/answer",
    "GET /p/{clinic_slug:str}/telecare/m/{token:str}/files/{attachment_id:int}",
    "GET /static/telecare/{file_path:path}", "HEAD /static/telecare/{file_path:path}",
    # telecare, joining a télésoin session: the link e-mailed for it, usable only from 15 minutes before
    # to 15 minutes after the session (checked by the service) and revoked when it ends
    "GET /p/{clinic_slug:str}/telecare/j/{token:str}", "POST /p/{clinic_slug:str}/telecare/j/{token:str}",
    # ... and its video socket: that link and the seat cookie of the browser that entered the
    # waiting room (its row below names who opens it)
    "WS /p/{clinic_slug:str}/telecare/j/{token:str}/signal",
    # telecare, a conversation started by the patient (only when the clinic's owner allows it: 404
    # otherwise): the same answer whether or not the details match a patient in care, misses counted
    # per visitor and e-mails per address; then the link e-mailed to the address on file (hashed, 24
    # hours, single use) and a one-time code sent to the same address; CSRF on POSTs
    "GET /p/{clinic_slug:str}/telecare/new", "POST /p/{clinic_slug:str}/telecare/new",
    "GET /p/{clinic_slug:str}/telecare/s/{token:str}", "POST /p/{clinic_slug:str}/telecare/s/{token:str}/code",
    "POST /p/{clinic_slug:str}/telecare/s/{token:str}/verify",
    "POST /p/{clinic_slug:str}/telecare/s/{token:str}/write",
}

# scheduling (JSON API). Bodies are sent as forms here, so the allowed role gets 400 (bad body),
# 404 (unknown id) or 400 (missing from/to): what matters is that it passed the guards.
_S = "/api/v1/scheduling"
_STAFF = ("owner", "practitioner", "secretary")
_CLINICAL = ("owner", "practitioner")
_APPT = {"appointment_id": 999999}
SCHEDULING_ROWS: dict[str, Row] = {
    # staff pages of the patient side: the waiting list (clinical parts for practitioners only),
    # triage (a practitioner triages their own list: an unknown listing is a 404), online bookings
    "GET /scheduling/waitlist": Row(_STAFF),
    "POST /scheduling/waitlist/{listing_id:int}": Row(_STAFF, {"listing_id": 999999}, {"action": "accept"},
                                                       ok=(404,)),
    "GET /scheduling/online": Row(_STAFF),
    # the QR code of a public address (booking, waiting list), to print: owners, who hand them out
    "GET /scheduling/online/poster/{which:str}": Row(("owner",), {"which": "book"}),
    # staff put a patient of the practice on waiting lists: the form, its Search button (a POST: the
    # name never in an address), the creation (empty: 422)
    "GET /scheduling/waitlist/new": Row(_STAFF),
    "POST /scheduling/waitlist/new": Row(_STAFF, body={"q": "x"}),
    "POST /scheduling/waitlist": Row(_STAFF, body={}, ok=(422,)),
    f"GET {_S}/appointments": Row(_STAFF, ok=(400,)),
    f"POST {_S}/appointments": Row(_STAFF, body={}, ok=(400,)),
    f"GET {_S}/appointments/{{appointment_id:int}}": Row(_STAFF, _APPT, ok=(404,)),
    f"POST {_S}/appointments/{{appointment_id:int}}/move": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"POST {_S}/appointments/{{appointment_id:int}}/cancel": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"POST {_S}/appointments/{{appointment_id:int}}/status": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"POST {_S}/appointments/{{appointment_id:int}}/move-following": Row(_STAFF, _APPT, {}, ok=(400, 404)),
    f"GET {_S}/appointments/{{appointment_id:int}}/notes": Row(_CLINICAL, _APPT, ok=(404,)),
    f"PUT {_S}/appointments/{{appointment_id:int}}/notes": Row(_CLINICAL, _APPT, {}, ok=(400, 404)),
    f"GET {_S}/availability": Row(_STAFF, ok=(400,)),
    f"POST {_S}/prescriptions": Row(_STAFF, body={}, ok=(400,)),
    f"POST {_S}/series": Row(_STAFF, body={}, ok=(400,)),
    f"GET {_S}/series/{{series_id:int}}": Row(_STAFF, {"series_id": 999999}, ok=(404,)),
    f"GET {_S}/appointment-types": Row(_STAFF),
    f"POST {_S}/appointment-types": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/places": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/rooms": Row(("owner",), body={}, ok=(400,)),
    f"PUT {_S}/working-hours/{{practitioner_id:int}}": Row(("owner",), {"practitioner_id": 999999}, {}, ok=(400, 404)),
    f"POST {_S}/exceptions": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/school-holidays": Row(("owner",), body={}, ok=(400,)),
    f"POST {_S}/feed": Row(_CLINICAL, body={}, ok=(400,)),
    f"POST {_S}/feed/revoke": Row(_CLINICAL, body={}),
    # scheduling pages (forms): empty bodies give 422, unknown ids 404
    "GET /scheduling": Row(_STAFF),
    "GET /scheduling/types.css": Row(_STAFF),
    "GET /scheduling/today": Row(_STAFF),
    "GET /scheduling/day-sheet": Row(_STAFF),
    # cancelling a practitioner's whole day (illness): the form, then the cancellation (empty: 422)
    "GET /scheduling/day-off": Row(_STAFF),
    "POST /scheduling/day-off": Row(_STAFF, body={}, ok=(422,)),
    # patient search posts (a name never in an address): the live search and the forms' Search button
    "POST /scheduling/patients/search": Row(_STAFF, body={"q": "x"}),
    "GET /scheduling/appointments/new": Row(_STAFF),
    "POST /scheduling/appointments/new": Row(_STAFF, body={"q": "x"}),
    "POST /scheduling/appointments": Row(_STAFF, body={}, ok=(422,)),
    "GET /scheduling/appointments/{appointment_id:int}": Row(_STAFF, _APPT, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/move": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/cancel": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/status": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/move-following": Row(_STAFF, _APPT, {}, ok=(404,)),
    "POST /scheduling/appointments/{appointment_id:int}/notes": Row(_CLINICAL, _APPT, {}, ok=(404,)),
    "GET /scheduling/series/new": Row(_STAFF),
    "POST /scheduling/series/new": Row(_STAFF, body={"q": "x"}),
    "POST /scheduling/series": Row(_STAFF, body={}, ok=(422,)),
    "GET /scheduling/series/{series_id:int}": Row(_STAFF, {"series_id": 999999}, ok=(404,)),
    "GET /scheduling/setup": Row(("owner",)),
    "POST /scheduling/setup/types": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/profession": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/places": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/rooms": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/hours": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/exceptions": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/school-zone": Row(("owner",), body={"school_zone": "Z"}, ok=(422,)),
    "POST /scheduling/setup/school-holidays": Row(("owner",), body={}, ok=(422,)),
    # reminder settings (owners) and a patient's reminders switch (from the patient page)
    "GET /scheduling/setup/reminders": Row(("owner",)),
    "POST /scheduling/setup/reminders/rules": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/setup/reminders/defaults": Row(("owner",), body={}),
    "POST /scheduling/setup/reminders/rules/{rule_id:int}": Row(("owner",), {"rule_id": 999999}, {"action": "off"},
                                                                ok=(404,)),
    "POST /scheduling/setup/reminders/switches": Row(("owner",), body={}, ok=(422,)),
    "POST /scheduling/patients/{patient_id:int}/reminders": Row(_STAFF, {"patient_id": 999999}, {"enabled": "0"},
                                                                ok=(404,)),
}

# billing pages: unknown notes answer 404 (after the guards), empty forms 422
_NOTE = {"note_id": 999999}
BILLING_ROWS: dict[str, Row] = {
    "GET /billing": Row(_STAFF),
    "GET /billing/notes/new": Row(_STAFF),
    "POST /billing/notes/new": Row(_STAFF, body={"q": "x"}),
    "POST /billing/notes": Row(_STAFF, body={}, ok=(422,)),
    "GET /billing/notes/{note_id:int}": Row(_STAFF, _NOTE, ok=(404,)),
    "POST /billing/notes/{note_id:int}/lines": Row(_STAFF, _NOTE, {}, ok=(404,)),
    "POST /billing/notes/{note_id:int}/lines/{line_id:int}/remove": Row(_STAFF, {**_NOTE, "line_id": 999999}, {},
                                                                       ok=(404,)),
    "POST /billing/notes/{note_id:int}/delete": Row(_STAFF, _NOTE, {}, ok=(404,)),
    "POST /billing/notes/{note_id:int}/issue": Row(_CLINICAL, _NOTE, {}, ok=(404,)),
    "POST /billing/notes/{note_id:int}/credit": Row(_CLINICAL, _NOTE, {}, ok=(404,)),
    "POST /billing/notes/{note_id:int}/payments": Row(_STAFF, _NOTE, {}, ok=(404,)),
    # a note's PDF: its practitioner and owners (billing.documents), never a secretary
    "GET /billing/notes/{note_id:int}/pdf": Row(_CLINICAL, _NOTE, ok=(404,)),
    "POST /billing/notes/{note_id:int}/pdf": Row(_CLINICAL, _NOTE, {}, ok=(404,)),
    # accounting exports: practitioners (their own) and owners, never a secretary
    "GET /billing/exports": Row(_CLINICAL),
    "POST /billing/exports": Row(_CLINICAL, body={}, ok=(422,)),
    "GET /billing/exports/{export_id:int}/file": Row(_CLINICAL, {"export_id": 999999}, ok=(404,)),
    "GET /billing/profile": Row(_CLINICAL),
    "POST /billing/profile": Row(_CLINICAL, body={"siret": "1"}, ok=(422,)),
    "GET /billing/tariffs": Row(("owner",)),
    "POST /billing/tariffs": Row(("owner",), body={}, ok=(422,)),
    "POST /billing/acts": Row(("owner",), body={}, ok=(422,)),
    "GET /billing/verify": Row(("owner",)),
    "GET /billing/sessions": Row(_STAFF),
    "POST /billing/sessions/review": Row(_STAFF, body={}, ok=(422,)),
    "POST /billing/sessions/invoice": Row(_STAFF, body={}, ok=(422,)),
    "GET /billing/followup": Row(_STAFF),
    "POST /billing/followup": Row(("owner",), body={"days": "0"}, ok=(422,)),
    "GET /billing/patients/{patient_id:int}/attestation": Row(_STAFF, {"patient_id": "999999"}, ok=(404,),
                                                              foreign={"patient_id": "__patient_a__"}),
    # the attestation's PDF: asked for (the worker renders it), followed, downloaded by whoever asked or an owner
    "POST /billing/patients/{patient_id:int}/attestation.pdf": Row(_STAFF, {"patient_id": "999999"}, {"year": "2026"},
                                                                   ok=(404,), foreign={"patient_id": "__patient_a__"}),
    "GET /billing/attestations/{attestation_id:int}": Row(_STAFF, {"attestation_id": "999999"}, ok=(404,)),
    "GET /billing/attestations/{attestation_id:int}/pdf": Row(_STAFF, {"attestation_id": "999999"}, ok=(404,)),
    "POST /billing/acts/{act_id:int}": Row(("owner",), {"act_id": 999999}, {"active": "0"}, ok=(404,)),
    "GET /api/v1/billing/notes": Row(_STAFF),
    "POST /api/v1/billing/notes": Row(_STAFF, body={}, ok=(400,)),
    "GET /api/v1/billing/notes/{note_id:int}": Row(_STAFF, _NOTE, ok=(404,)),
    "DELETE /api/v1/billing/notes/{note_id:int}": Row(_STAFF, _NOTE, ok=(404,)),
    "POST /api/v1/billing/notes/{note_id:int}/lines": Row(_STAFF, _NOTE, {}, ok=(400, 404)),
    "POST /api/v1/billing/notes/{note_id:int}/issue": Row(_CLINICAL, _NOTE, {}, ok=(404,)),
    "POST /api/v1/billing/notes/{note_id:int}/credit": Row(_CLINICAL, _NOTE, {}, ok=(400, 404)),
    "POST /api/v1/billing/notes/{note_id:int}/payments": Row(_STAFF, _NOTE, {}, ok=(400, 404)),
    "GET /api/v1/billing/patients/{patient_id:int}/balance": Row(_STAFF, {"patient_id": "999999"}, ok=(404,),
                                                                 foreign={"patient_id": "__patient_a__"}),
}

# Path parameters naming a real patient of clinic A: a member of clinic B is refused on each route.
_PA = {"patient_id": "__patient_a__"}

# Path parameters naming a real patient of clinic A: a member of clinic B is refused on each route.
_PA = {"patient_id": "__patient_a__"}

# consent: every member sees status and sends forms (no clinical content); owners write the forms.
# Unknown ids answer 404, empty forms 422 (nothing written); clinic B never reaches A's patient.
_C = "/api/v1/consent"
_UNKNOWN_PATIENT = {"patient_id": "999999"}
CONSENT_ROWS: dict[str, Row] = {
    "GET /consent": Row(_STAFF),
    "POST /consent/forms/starter": Row(("owner",), body={}),
    "GET /consent/forms/new": Row(("owner",)),
    "POST /consent/forms": Row(("owner",), body={}, ok=(422,)),
    "GET /consent/forms/{template_id:int}": Row(("owner",), {"template_id": 999999}, ok=(404,)),
    "POST /consent/forms/{template_id:int}": Row(("owner",), {"template_id": 999999}, {"action": "save"}, ok=(404,)),
    "GET /consent/versions/{version_id:int}": Row(_STAFF, {"version_id": 999999}, ok=(404,)),
    "GET /consent/patients/{patient_id:int}": Row(_STAFF, _UNKNOWN_PATIENT, ok=(404,), foreign=_PA),
    "POST /consent/patients/{patient_id:int}/send": Row(_STAFF, _UNKNOWN_PATIENT, {"template_id": "1"}, ok=(404, 422),
                                                        foreign=_PA),
    "POST /consent/patients/{patient_id:int}/withdraw": Row(_STAFF, _UNKNOWN_PATIENT, {"purpose": "telesoin"},
                                                            ok=(404,), foreign=_PA),
    # consents given in the cabinet: on paper with a scan, on a tablet (a kiosk link shown once)
    "GET /consent/patients/{patient_id:int}/paper": Row(_STAFF, _UNKNOWN_PATIENT, ok=(404,), foreign=_PA),
    "POST /consent/patients/{patient_id:int}/paper": Row(_STAFF, _UNKNOWN_PATIENT, {}, ok=(404,), foreign=_PA),
    "POST /consent/patients/{patient_id:int}/tablet": Row(_STAFF, _UNKNOWN_PATIENT,
                                                          {"template_id": "1", "signer": "patient"},
                                                          ok=(404, 422), foreign=_PA),
    "GET /consent/requests/{request_id:int}/scan": Row(_STAFF, {"request_id": 999999}, ok=(404,)),
    "GET /consent/requests/{request_id:int}": Row(_STAFF, {"request_id": 999999}, ok=(404,)),
    "POST /consent/requests/{request_id:int}/cancel": Row(_STAFF, {"request_id": 999999}, {}, ok=(404,)),
    "POST /consent/requests/{request_id:int}/resend": Row(_STAFF, {"request_id": 999999}, {}, ok=(404,)),
    # the signed PDF: download, ask the worker for it, check it again; the verification page
    "GET /consent/requests/{request_id:int}/pdf": Row(_STAFF, {"request_id": 999999}, ok=(404,)),
    "POST /consent/requests/{request_id:int}/pdf": Row(_STAFF, {"request_id": 999999}, {}, ok=(404,)),
    "GET /consent/requests/{request_id:int}/verify": Row(_STAFF, {"request_id": 999999}, ok=(404,)),
    "GET /consent/verify": Row(_STAFF),
    "POST /consent/verify": Row(_STAFF, body={}, ok=(422,)),
    # the RGPD requests register: owners and secretaries record and see it; owners answer
    "GET /consent/rights": Row(("owner", "secretary")),
    "GET /consent/patients/{patient_id:int}/rights": Row(("owner", "secretary"), _UNKNOWN_PATIENT, ok=(404,),
                                                         foreign=_PA),
    "POST /consent/patients/{patient_id:int}/rights": Row(("owner", "secretary"), _UNKNOWN_PATIENT, {"kind": "access"},
                                                          ok=(404,), foreign=_PA),
    "GET /consent/rights/{request_id:int}": Row(("owner", "secretary"), {"request_id": 999999}, ok=(404,)),
    "POST /consent/rights/{request_id:int}/extend": Row(("owner",), {"request_id": 999999}, {"reason": "x"},
                                                        ok=(404,)),
    "POST /consent/rights/{request_id:int}/decide": Row(("owner",), {"request_id": 999999},
                                                        {"decision": "answered"}, ok=(404,)),
    "POST /consent/rights/{request_id:int}/deliver": Row(("owner",), {"request_id": 999999}, {}, ok=(404,)),
    # the owner's settings ("who looked at my file", links by SMS, the reminder interval)
    "GET /consent/settings": Row(("owner",)),
    "POST /consent/settings": Row(("owner",), body={"accesses_view": "1", "reminder_every_days": "3",
                                                   "reminder_count": "2"}),
    f"GET {_C}/forms": Row(_STAFF),
    f"GET {_C}/patients/{{patient_id:int}}": Row(_STAFF, _UNKNOWN_PATIENT, ok=(404,), foreign=_PA),
    f"GET {_C}/patients/{{patient_id:int}}/allows/{{purpose:str}}": Row(
        _STAFF, {**_UNKNOWN_PATIENT, "purpose": "telesoin"}, ok=(404,), foreign={**_PA, "purpose": "telesoin"}),
    f"POST {_C}/requests": Row(_STAFF, body={}, ok=(400,)),
    f"POST {_C}/patients/{{patient_id:int}}/withdrawals": Row(_STAFF, _UNKNOWN_PATIENT, {}, ok=(400, 404),
                                                              foreign=_PA),
}

# telecare: every member reaches the inbox and writes; a secretary opens administrative conversations
# only (the service answers 404 for a clinical one: tested in the plugin). Unknown ids answer 404; the
# start and answer forms are multipart (a URL-encoded body is refused with 400 before anything runs).
_T = "/api/v1/telecare"
_CONV = {"conversation_id": 999999}
TELECARE_ROWS: dict[str, Row] = {
    "GET /telecare": Row(_STAFF),
    "GET /telecare/patients/{patient_id:int}": Row(_STAFF, _UNKNOWN_PATIENT, ok=(404,), foreign=_PA),
    "POST /telecare/patients/{patient_id:int}/conversations": Row(_STAFF, _UNKNOWN_PATIENT, {}, ok=(400, 404),
                                                                  foreign=_PA),
    "GET /telecare/conversations/{conversation_id:int}": Row(_STAFF, _CONV, ok=(404,)),
    "POST /telecare/conversations/{conversation_id:int}/messages": Row(_STAFF, _CONV, {}, ok=(400, 404)),
    "POST /telecare/conversations/{conversation_id:int}/close": Row(_STAFF, _CONV, {}, ok=(404,)),
    "GET /telecare/conversations/{conversation_id:int}/files/{attachment_id:int}": Row(
        _STAFF, {**_CONV, "attachment_id": 999999}, ok=(404,)),
    # télésoin sessions: owners and practitioners (clinical); a secretary is refused
    "POST /telecare/patients/{patient_id:int}/sessions": Row(_CLINICAL, _UNKNOWN_PATIENT, {}, ok=(404, 422),
                                                             foreign=_PA),
    "GET /telecare/sessions/{session_id:int}": Row(_CLINICAL, {"session_id": 999999}, ok=(404,)),
    "POST /telecare/sessions/{session_id:int}/admit": Row(_CLINICAL, {"session_id": 999999}, {}, ok=(404,)),
    "POST /telecare/sessions/{session_id:int}/end": Row(_CLINICAL, {"session_id": 999999}, {}, ok=(404,)),
    "POST /telecare/sessions/{session_id:int}/report": Row(_CLINICAL, {"session_id": 999999}, {}, ok=(404,)),
    # start/stop the recording the practitioner's browser makes (the patient's consent asked then)
    "POST /telecare/sessions/{session_id:int}/recording": Row(_CLINICAL, {"session_id": 999999}, {}, ok=(404,)),
    # the video sockets of a session whose patient is in the waiting room (_telecare_room): the
    # practitioner's for clinical staff of the clinic, the patient's for the browser holding the
    # link and the seat it was given on entering; handshakes attempted by every participant
    # (an owner who does not practise holds the permission but not the patient's clinical content)
    "WS /telecare/sessions/{session_id:int}/signal": Row(_CLINICAL, {"session_id": "__telecare_session__"},
                                                          foreign={"session_id": "__telecare_session__"},
                                                          opens=("practitioner",)),
    "WS /p/{clinic_slug:str}/telecare/j/{token:str}/signal": Row(
        ("patient-link",), {"clinic_slug": "__clinic_slug__", "token": "__telecare_join__"}),
    # a practitioner's own messaging hours and automatic reply
    "GET /telecare/hours": Row(_CLINICAL),
    "POST /telecare/hours": Row(_CLINICAL, body={}, ok=(422,)),
    # answer templates: every member keeps their own (owners and secretaries also the practice's);
    # another person's template, or an unknown one, is a 404; inserting one needs the conversation
    "GET /telecare/templates": Row(_STAFF),
    "POST /telecare/templates": Row(_STAFF, body={}, ok=(422,)),
    "GET /telecare/templates/{template_id:int}": Row(_STAFF, {"template_id": 999999}, ok=(404,)),
    "POST /telecare/templates/{template_id:int}": Row(_STAFF, {"template_id": 999999}, {}, ok=(404,)),
    "POST /telecare/templates/{template_id:int}/delete": Row(_STAFF, {"template_id": 999999}, {}, ok=(404,)),
    "POST /telecare/conversations/{conversation_id:int}/reply": Row(_STAFF, _CONV, {}, ok=(400, 404)),
    # the practice's messaging settings (patients may start a conversation): owners only
    "GET /telecare/settings": Row(("owner",)),
    "POST /telecare/settings": Row(("owner",), body={"patients_may_start": "1"}),
    f"GET {_T}/conversations": Row(_STAFF),
    f"GET {_T}/conversations/{{conversation_id:int}}": Row(_STAFF, _CONV, ok=(404,)),
}

ROWS: dict[str, Row] = {
    # Réglages: every member, each seeing the settings pages they may open (tests/test_settings_page.py)
    "GET /settings": Row(ANY_MEMBER),
    "GET /settings/modules": Row(("owner",)),
    "POST /settings/modules/{plugin:str}": Row(("owner",), {"plugin": "__first_plugin__"}, {"enabled": "0"},
                                               ok=(200, 303, 404)),
    "GET /operator/plugins": Row(("owner",)),
    # backups, retention ahead, jobs in progress; retention: rules, confirmed destruction, legal holds
    "GET /operator": Row(("owner",)),
    "GET /settings/retention": Row(("owner",)),
    # the clinic export: ask (passphrase or age key), follow, download once
    "GET /settings/export": Row(("owner",)),
    "POST /settings/export": Row(("owner",), body={"mode": "passphrase", "passphrase": "court"}, ok=(422,)),
    "POST /settings/export/{export_id:int}/download": Row(("owner",), {"export_id": 999999}, ok=(404,)),
    "POST /settings/retention/rules": Row(("owner",), body={"archive_after_years": "x"}, ok=(422,)),
    "POST /settings/retention/destroy": Row(("owner",), body={"proposal": "999999", "confirm": "1"}, ok=(422,)),
    "POST /settings/retention/holds": Row(("owner",), body={"patient_id": "999999", "reason": "litigation"},
                                          ok=(404,)),
    "POST /settings/retention/holds/{hold_id:int}/release": Row(("owner",), {"hold_id": 999999}, ok=(404,)),
    "GET /audit": Row(("owner",)),
    "GET /account": Row(ANY_MEMBER),
    "POST /account/password": Row(ANY_MEMBER, body={"current": "wrong", "password": "x", "confirm": "x"},
                                  ok=(400,)),
    "POST /account/recovery-codes": Row(ANY_MEMBER, body={"code": "000000"}, ok=(400,)),
    "GET /clinic/switch": Row(ANY_MEMBER),
    "POST /clinic/switch": Row(ANY_MEMBER, body={"clinic_id": "__clinic_a__"}),
    "GET /api/v1/me": Row(ANY_MEMBER),
    **SCHEDULING_ROWS,
    **BILLING_ROWS,
    **CONSENT_ROWS,
    **TELECARE_ROWS,
    "GET /settings/users": Row(("owner",)),
    "POST /settings/users": Row(("owner",), body={"email": "nouvelle@cabinet.test", "roles": "secretary"}),
    "POST /settings/users/{user_id:int}/roles": Row(("owner",), {"user_id": "__target_roles__"},
                                                    {"roles": "practitioner"}, foreign={"user_id": "__target_roles__"}),
    "POST /settings/users/{user_id:int}/remove": Row(("owner",), {"user_id": "__target_remove__"}, {},
                                                     foreign={"user_id": "__target_remove__"}),
    "POST /settings/users/{user_id:int}/disable": Row(("owner",), {"user_id": "__target_disable__"}, {},
                                                     foreign={"user_id": "__target_disable__"}),
    "POST /settings/users/{user_id:int}/resend": Row(("owner",), {"user_id": "__target_resend__"}, {},
                                                     foreign={"user_id": "__target_resend__"}),
    # Patient registry: every role holds view/edit; visibility of each patient is the service's
    # rule (tests in core/tests/test_patients.py). No patient exists here: 404 / 400 / 422 answers.
    "GET /patients": Row(STAFF),
    "POST /patients/search": Row(STAFF, body={"q": "x"}),
    "GET /patients/new": Row(STAFF),
    "POST /patients/new": Row(STAFF, body={"last_name": ""}, ok=(422,)),
    "GET /patients/{patient_id:int}": Row(STAFF, {"patient_id": "999999"}, ok=(404,), foreign=_PA),
    "GET /patients/{patient_id:int}/edit": Row(STAFF, {"patient_id": "999999"}, ok=(404,), foreign=_PA),
    "GET /patients/{patient_id:int}/accesses": Row(("owner", "practitioner"), {"patient_id": "999999"}, ok=(404,), foreign=_PA),
    "POST /patients/{patient_id:int}/edit": Row(STAFF, {"patient_id": "999999"}, {"last_name": "X"}, ok=(404,), foreign=_PA),
    "GET /settings/clinic": Row(("owner",)),
    "POST /settings/clinic": Row(("owner",), body={"name": "Cabinet du Parc", "address": "3 place Bellecour",
                                                   "postcode": "69002", "city": "Lyon"}),
    "GET /settings/patients": Row(("owner",)),
    "POST /settings/patients": Row(("owner",), body={"share_patients": "1"}),
    # RGPD: export (owners and the patient's practitioner), erasure (owners, confirmed)
    # an archived record opens with a recorded reason (audited) for whoever may see the patient
    "POST /patients/{patient_id:int}/archive-access": Row(STAFF, {"patient_id": "999999"},
                                                          {"reason": "continuity_of_care"}, ok=(404,), foreign=_PA),
    "POST /patients/{patient_id:int}/export": Row(("owner", "practitioner"), {"patient_id": "999999"}, {},
                                                  ok=(404,), foreign=_PA),
    "GET /patients/{patient_id:int}/erase": Row(("owner",), {"patient_id": "999999"}, ok=(404,), foreign=_PA),
    "POST /patients/{patient_id:int}/erase": Row(("owner",), {"patient_id": "999999"},
                                                 {"reason": "other", "confirm_last_name": "Secret"}, ok=(404,),
                                                 foreign=_PA),
    "GET /api/v1/patients": Row(STAFF),
    "POST /api/v1/patients": Row(STAFF, body={"last_name": "X"}, ok=(400,)),
    "POST /api/v1/patients/search": Row(STAFF, body={"q": "x"}, ok=(400,)),
    "GET /api/v1/patients/{patient_id:int}": Row(STAFF, {"patient_id": "999999"}, ok=(404,), foreign=_PA),
    "PATCH /api/v1/patients/{patient_id:int}": Row(STAFF, {"patient_id": "999999"}, {"phone": ""}, ok=(400, 404), foreign=_PA),
    "POST /api/v1/patients/{patient_id:int}/archive-access": Row(STAFF, {"patient_id": "999999"},
                                                                 {"reason": "patient_request"}, ok=(400, 404), foreign=_PA),
}


def test_authorization_matrix(authorization_matrix, carnet_db):
    from carnet_core.patients.services import create_patient
    from carnet_core.web.principal import Principal

    clinic_a = authorization_matrix.clinics["a"]
    owner = authorization_matrix.users["owner"]
    principal = Principal(kind="user", user_id=owner.id, clinic_id=clinic_a.id, roles=frozenset({"owner"}),
                          permissions=frozenset({"core.patients.view", "core.patients.edit"}))
    with carnet_db.session(clinic_id=clinic_a.id) as db:
        patient = create_patient(db, principal, {"last_name": "Secret", "first_name": "Alpha"})
    authorization_matrix.ctx["__patient_a__"] = str(patient.id)
    # clinic A's members that the staff routes act on, one per route (invited, not enrolled)
    from carnet_core.identity import services

    with carnet_db.session(unscoped=True) as db:
        for what in ("roles", "remove", "disable", "resend"):
            target, _ = services.invite(db, clinic_a.id, f"cible-{what}@cabinet.test", "secretary")
            authorization_matrix.ctx[f"__target_{what}__"] = str(target.id)
    _telecare_room(authorization_matrix, carnet_db)
    authorization_matrix.check(ROWS, PUBLIC_ROUTES, plugins=UNDER_TEST)


def _telecare_room(m, carnet_db):
    """A télésoin session of clinic A, its patient in the waiting room, for the video sockets' rows:
    its id, its join link, and the "patient-link" participant holding the link and the seat cookie
    the join page gives the browser that enters."""
    from datetime import timedelta

    from carnet_core.patients.services import create_patient
    from carnet_core.plugin_api import links, utcnow
    from carnet_core.web.principal import Principal
    from carnet_telecare.models import Session
    from carnet_telecare.services import sessions, signalling

    clinic, owner = m.clinics["a"], m.users["owner"]
    principal = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=frozenset({"owner"}),
                          permissions=frozenset({"core.patients.view", "core.patients.edit"}))
    with carnet_db.session(clinic_id=clinic.id) as db:
        patient = create_patient(db, principal, {"last_name": "Video", "first_name": "Alpha",
                                                 "practitioner_id": m.users["practitioner"].id})
        start = utcnow()
        session = Session(patient_id=patient.id, practitioner_id=m.users["practitioner"].id, starts_at=start,
                          ends_at=start + timedelta(minutes=30), status="waiting", joined_at=start)
        seat, session.seat = signalling.new_seat()
        db.add(session)
        db.flush()
        issued = links.issue(db, purpose=sessions.JOIN, subject_type="telecare_session", subject_id=session.id,
                             patient_id=patient.id, expires_at=session.ends_at + sessions.MARGIN, max_uses=50)
        m.ctx["__telecare_session__"], m.ctx["__telecare_join__"] = str(session.id), issued.token
    m.add_client("patient-link").cookies.set(signalling.SEAT_COOKIE, seat, domain="127.0.0.1")


def test_other_clinic_cannot_switch_into_clinic_a(authorization_matrix):
    m = authorization_matrix
    before = m.snapshot()
    response = m.call("other-clinic", "POST", "/clinic/switch", {"clinic_id": m.ctx["__clinic_a__"]})
    assert response.status_code == 400
    assert SECRET_NAME not in response.text
    assert m.call("other-clinic", "GET", "/api/v1/me").json()["clinic"]["slug"] == "beta"
    assert m.snapshot() == before


def test_an_unrelated_plugin_needs_no_row_here(authorization_matrix):
    # routes are attributed to the plugin that mounts them; a plugin not under test is not checked
    from carnet_core.testing.matrix import plugin_of

    assert plugin_of("GET /otherplugin/things", ["otherplugin", "scheduling"]) == "otherplugin"
    assert plugin_of("GET /api/v1/otherplugin/x", ["otherplugin"]) == "otherplugin"
    assert plugin_of("POST /p/{clinic_slug:str}/otherplugin/form", ["otherplugin"]) == "otherplugin"
    assert plugin_of("GET /otherpluginx", ["otherplugin"]) == CORE
    assert plugin_of("GET /patients", ["otherplugin"]) == CORE
