"""'Who accessed this file': the audit trail of one patient, for the owner and their practitioner."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlmodel import select

from carnet_core import audit
from carnet_core.audit import words
from carnet_core.i18n import N_
from carnet_core.identity.models import User
from carnet_core.patients import services
from carnet_core.patients.controllers import answers
from carnet_core.web.guards import principal_of
from carnet_core.web.render import page
from carnet_core.web.state import host_of

ACCESSES = "core.patients.accesses"
ACTOR_KINDS = words.ACTOR_WORDS
ACTION_LABELS = words.ACTION_WORDS
OUTCOME_LABELS = words.OUTCOME_WORDS


def access_rows(db: Any, patient_id: int, limit: int = 200, host: Any = None) -> list[dict[str, Any]]:
    """The patient's audit records, newest first, with staff names resolved."""
    records = audit.accesses_for_patient(db, patient_id, limit=limit)
    user_ids = {r.actor_user_id for r in records if r.actor_user_id}
    names = {}
    if user_ids:
        names = {u.id: (u.display_name or u.email) for u in db.exec(select(User).where(User.id.in_(user_ids)))}
    return [
        {
            "at": r.occurred_at,
            "who": names.get(r.actor_user_id) if r.actor_user_id else None,
            "kind": ACTOR_KINDS.get(r.actor_kind, r.actor_kind),
            "via_token": r.actor_kind == "token",
            "action": ACTION_LABELS.get(r.action, r.action),
            "resource": words.resource_word(host, r.resource_type) if host is not None else r.resource_type,
            "ok": r.outcome == "success",
            "outcome": OUTCOME_LABELS.get(r.outcome, r.outcome),
        }
        for r in records
    ]


ROLE_LABELS = {"owner": N_("owner"), "practitioner": N_("practitioner"), "secretary": N_("secretary")}


def accesses_for_patient_view(db: Any, patient_id: int, since: Any, host: Any = None,
                              limit: int = 500) -> list[dict[str, Any]]:
    """The accesses to one patient's file since `since`, newest first, as the patient may see them:
    when, who (a staff member's name and roles, else what kind of actor), what kind of access
    (msgids, translated where shown) and on what. Records of other patients never appear (the
    query is on `patient_id`, in `db`'s clinic). Not audited here: the caller records the viewing."""
    from carnet_core.identity.models import Membership

    records = [r for r in audit.accesses_for_patient(db, patient_id, limit=limit) if r.occurred_at >= since]
    user_ids = {r.actor_user_id for r in records if r.actor_user_id}
    names: dict[int, str] = {}
    roles: dict[int, list[str]] = {}
    if user_ids:
        names = {u.id: (u.display_name or u.email) for u in db.exec(select(User).where(User.id.in_(user_ids)))}
        for m in db.exec(select(Membership).where(Membership.user_id.in_(user_ids))):
            roles[m.user_id] = [ROLE_LABELS[r] for r in sorted(m.role_set) if r in ROLE_LABELS]
    return [
        {
            "at": r.occurred_at,
            "who": names.get(r.actor_user_id) if r.actor_user_id else None,
            "roles": roles.get(r.actor_user_id, []) if r.actor_user_id else [],
            "kind": ACTOR_KINDS.get(r.actor_kind, r.actor_kind),
            "action": ACTION_LABELS.get(r.action, N_("other access")),
            "resource": words.resource_word(host, r.resource_type) if host is not None else r.resource_type,
            "outcome": OUTCOME_LABELS.get(r.outcome, r.outcome),
        }
        for r in records
    ]


@get("/patients/{patient_id:int}/accesses", name="patients.accesses", opt={"permission": ACCESSES},
     sync_to_thread=True)
def patient_accesses(request: Request[Any, Any, Any], db: NamedDependency[Any], patient_id: FromPath[int]) -> Template:
    principal = principal_of(request)
    with answers(request):
        patient = services.get_patient(db, principal, patient_id)  # visibility rules apply
    rows = access_rows(db, patient.id, host=host_of(request))
    # Looking at who read a file is itself a read of that file's history.
    audit.record(db, actor=principal, action="read", resource_type="patient_accesses",
                 resource_id=patient.id, patient_id=patient.id)
    return page(request, "core/patients/accesses.html", {"patient_id": patient.id, "rows": rows},
                partial="core/patients/_accesses.html")
