"""A practitioner's messaging hours and automatic reply (their own; thin handlers)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from carnet_core.plugin_api import N_, FormErrors, InvalidInput, errors_of, form_page, page, principal_of

from carnet_telecare import permissions as perm
from carnet_telecare.controllers.common import DB, FormData, field
from carnet_telecare.services import hours

DAYS = [N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday")]
DEFAULT_REPLY = ("Votre message est bien arrivé. Je lis les messages pendant mes heures de messagerie "
                 "et vous répondrai dès que possible. En cas d'urgence, appelez le 15 ou le 112.")


def _context(values: dict[str, Any], **more: Any) -> dict[str, Any]:
    from carnet_telecare.services.acts import professions

    return {"v": values, "day_names": DAYS, "errors": FormErrors(), "professions": professions(),
            "cap_max": hours.CAP_MAX, **more}


@get("/hours", name="telecare.hours", opt={"permission": perm.CLINICAL}, sync_to_thread=True)
def hours_page(request: Request[Any, Any, Any], db: DB) -> Template:
    profile = hours.profile_of(db, principal_of(request).user_id)
    values = ({"days": profile.days.split(","), "opens": profile.opens, "closes": profile.closes,
               "auto_reply": profile.auto_reply, "profession": profile.profession,
               "daily_cap": "" if profile.daily_cap is None else str(profile.daily_cap)} if profile is not None else
              {"days": ["0", "1", "2", "3", "4"], "opens": "09:00", "closes": "18:00", "auto_reply": DEFAULT_REPLY})
    return page(request, "telecare/hours.html", _context(values, saved=profile is not None))


@post("/hours", name="telecare.save_hours", opt={"permission": perm.CLINICAL}, sync_to_thread=True,
      status_code=303)
def save_hours(request: Request[Any, Any, Any], db: DB, data: FormData) -> Redirect | Template:
    raw_days = data.get("days") or []
    days = [str(d)[:1] for d in (raw_days if isinstance(raw_days, list) else [raw_days])][:7]
    values = {"days": days, "opens": field(data, "opens", 5), "closes": field(data, "closes", 5),
              "auto_reply": field(data, "auto_reply", hours.REPLY_LIMIT), "profession": field(data, "profession", 32),
              "daily_cap": field(data, "daily_cap", 6)}
    try:
        hours.save(db, principal_of(request).user_id, days, values["opens"], values["closes"], values["auto_reply"],
                   values["profession"], values["daily_cap"])
    except InvalidInput as exc:
        return form_page(request, "telecare/hours.html", _context(values), errors_of(request, exc))
    return Redirect("/telecare/hours", status_code=303)


HOURS_HANDLERS = [hours_page, save_hours]
