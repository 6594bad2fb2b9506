"""Clinic settings pages: the practice's name and address, the modules a clinic enables, the operator's
plugin list."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from carnet_core.clinics import services
from carnet_core.db.session import CarnetSession
from carnet_core.errors import InvalidInput
from carnet_core.web.forms import Form, errors_of, form_page, text
from carnet_core.web.guards import principal_of
from carnet_core.web.render import page
from carnet_core.web.state import carnet_state


def module_rows(request: Request[Any, Any, Any], db: CarnetSession) -> list[dict[str, Any]]:
    state = carnet_state(request)
    principal = principal_of(request)
    enabled = services.enabled_plugins(db, principal.clinic_id, state.host.names)
    return [
        {
            "name": name,
            "version": state.host.plugins[name].version,
            "distribution": state.host.plugins[name].distribution,
            "enabled": name in enabled,
        }
        for name in state.host.names
    ]


DETAIL_FIELDS = ("name", "address", "postcode", "city")


class ClinicDetailsController(Controller):
    """The practice's name and postal address (owners): what every patient page shows in its header."""

    path = "/settings/clinic"
    opt = {"permission": "core.clinic.manage"}

    @get("/", name="core.clinic", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any]) -> Template:
        clinic = principal_of(request).clinic
        values = {field: getattr(clinic, field) for field in DETAIL_FIELDS}
        return page(request, "core/clinic.html", {"values": values, "errors": {},
                                                  "saved": request.query_params.get("saved") == "1"})

    @post("/", name="core.clinic.save", sync_to_thread=True)
    def save(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], data: Form,
             ) -> Template | Redirect:
        principal = principal_of(request)
        values = {field: text(data, field, 400) for field in DETAIL_FIELDS}
        try:
            services.update_details(db, principal.clinic_id, actor=principal, **values)
        except InvalidInput as exc:
            return form_page(request, "core/clinic.html", {"values": values, "saved": False},
                             errors_of(request, exc))
        return Redirect("/settings/clinic?saved=1", status_code=303)


class ModulesController(Controller):
    path = "/settings/modules"
    opt = {"permission": "core.manage_modules"}

    @get("/", name="core.modules", sync_to_thread=True)
    def show(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession]) -> Template:
        return page(request, "core/modules.html", {"modules": module_rows(request, db)})

    @post("/{plugin:str}", name="core.modules.toggle", sync_to_thread=True)
    def toggle(self, request: Request[Any, Any, Any], db: NamedDependency[CarnetSession], plugin: FromPath[str],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Template | Redirect:
        state = carnet_state(request)
        principal = principal_of(request)
        if plugin not in state.host.names:
            raise NotFoundException()
        form = data
        enabled = str(form.get("enabled", "")).lower() in ("1", "true", "on", "yes")
        changed = services.set_plugin_enabled(db, principal.clinic_id, plugin, enabled, state.host.names)
        if changed:
            state.host.hook.clinic_plugin_toggled(clinic=principal.clinic, plugin=plugin, enabled=enabled)
        principal.enabled_plugins = frozenset(services.enabled_plugins(db, principal.clinic_id, state.host.names))
        rows = module_rows(request, db)
        row = next(r for r in rows if r["name"] == plugin)
        if request.headers.get("hx-request") == "true":
            return page(request, "core/_module_row.html", {"m": row})
        return Redirect("/settings/modules", status_code=303)


@get("/operator/plugins", name="core.operator.plugins", opt={"permission": "core.operator"}, sync_to_thread=True)
def operator_plugins(request: Request[Any, Any, Any]) -> Template:
    state = carnet_state(request)
    plugins = [
        {
            "name": info.name,
            "version": info.version,
            "distribution": info.distribution,
            "core_requires": info.core_requires,
            "hooks": state.host.hooks_of(info.name),
        }
        for info in state.host.plugins.values()
    ]
    return page(request, "core/operator_plugins.html", {"plugins": plugins, "blocked": state.host.blocked})
