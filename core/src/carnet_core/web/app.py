"""create_app(settings) -> Litestar: the one place that wires core and plugins together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from carnet_core.clinics.controllers import ClinicDetailsController, ModulesController, operator_plugins
from carnet_core.clinics.settings_index import settings_index
from carnet_core.contrib import AUTHENTICATED, PUBLIC, ROLES, Permission
from carnet_core.db.session import TRACE_OPENS, CarnetSession, Database
from carnet_core.errors import InvalidInput
from carnet_core.i18n import load_catalogs
from carnet_core.plugins import CORE_PLUGIN, PluginHost, build_plugin_host
from carnet_core.settings import Settings
from carnet_core.web import routes
from carnet_core.web.errors import http_exception_handler, internal_error_handler, invalid_input_handler
from carnet_core.web.guards import permission_guard, plugin_enabled_guard
from carnet_core.web.limits import CarnetRequest, path_params_guard
from carnet_core.web.middleware import AccessLog, CarnetMiddleware, add_security_headers
from carnet_core.web.openapi import document_api_errors, openapi_config
from carnet_core.web.state import CarnetState
from carnet_core.web.templating import build_environment


class StartupError(Exception):
    """The app cannot start; the message names what to fix."""


# Commits and rollbacks run on their own worker threads. Were they to share anyio's default pool
# with the handlers, a burst of requests waiting on a row or the SQLite write lock held by one
# transaction would take every thread, and that transaction could never get one to commit.
ENDING_THREADS = 16


def _ending_limiter(state: CarnetState) -> anyio.CapacityLimiter:
    limiter = state.extras.get("ending_limiter")
    if limiter is None:  # made on the event loop, by the first request
        limiter = state.extras["ending_limiter"] = anyio.CapacityLimiter(ENDING_THREADS)
    return limiter


def _end(session: CarnetSession, commit: bool) -> None:
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
            if session.info.get(TRACE_OPENS):  # a refused form showed patient data all the same
                from carnet_core.audit.trace import keep_opens_after_rollback

                keep_opens_after_rollback(session)
    finally:
        session.close()


async def provide_db(request: Request[Any, Any, Any]) -> AsyncIterator[CarnetSession]:
    """One unit of work per request, bound to the request's clinic (or to none).

    Litestar runs this cleanup before the response is sent, so a failed commit becomes an error
    answer, never a success for a change that was lost. A handler that raises rolls back;
    `page(..., status_code>=400)` rolls back too (a form shown again with its errors). The commit
    or rollback runs on a thread of its own pool (see ENDING_THREADS).
    """
    state: CarnetState = request.app.state["carnet"]
    session = state.db.new_session(clinic_id=request.scope["state"].get("clinic_id"))
    # Who acts, from where, under which request id: read by the audit trail.
    session.info["principal"] = request.scope["state"].get("principal")
    session.info["request_id"] = request.scope["state"].get("request_id")
    session.info["address"] = request.client.host if request.client else None
    # The request's clinic row, already read by the middleware (a detached copy, read-only).
    scope_state = request.scope["state"]
    clinic = getattr(scope_state.get("principal"), "clinic", None) or scope_state.get("public_clinic")
    if clinic is not None and clinic.id == session.info.get("clinic_id"):
        session.info["clinic"] = clinic
    request.scope["state"]["db_session"] = session
    limiter = _ending_limiter(state)
    try:
        yield session
    except GeneratorExit:  # closed without an outcome (never cleaned up): nothing is kept
        _end(session, False)
        raise
    except BaseException:
        await anyio.to_thread.run_sync(_end, session, False, limiter=limiter, abandon_on_cancel=False)
        raise
    await anyio.to_thread.run_sync(_end, session, True, limiter=limiter, abandon_on_cancel=False)


def _own_logging() -> None:
    """At start-up, take back loggers configured since the process set up its logging (a server
    such as uvicorn configures its own before building the app). A process that installed no
    Carnet handler (a test) is left alone."""
    from carnet_core.logs import carnet_handler, own_loggers

    if carnet_handler() is not None:
        own_loggers()


async def _warn_rls_bypass(app: Litestar) -> None:
    """At start: say so when row-level security does not apply to the database role (logged)."""
    from carnet_core.process import warn_rls_bypass

    await anyio.to_thread.run_sync(warn_rls_bypass, app.state["carnet"].db)


def collect_permissions(host: PluginHost) -> dict[str, Permission]:
    permissions: dict[str, Permission] = {}
    for plugin, declared in host.call_each("register_permissions"):
        for perm in declared:
            if plugin != CORE_PLUGIN and not perm.name.startswith(f"{plugin}."):
                raise StartupError(f"plugin '{plugin}' declares permission '{perm.name}'; prefix it with '{plugin}.'")
            unknown = [role for role in perm.roles if role not in ROLES]
            if unknown or isinstance(perm.roles, str):
                raise StartupError(
                    f"plugin '{plugin}' grants permission '{perm.name}' to "
                    f"{', '.join(repr(r) for r in unknown) or repr(perm.roles)}, which is not a role; "
                    f"the roles are {', '.join(ROLES)} (a tuple: roles=(\"owner\",))"
                )
            permissions[perm.name] = perm
    return permissions


def plugin_routers(host: PluginHost) -> list[Router]:
    """Mount each plugin's routes under /<name>, /api/v1/<name> and /p/{clinic_slug}/<name>."""
    from carnet_core.web.public import public_plugin_guard

    routers: list[Router] = []
    for plugin, handlers in host.call_each("register_routes"):
        if plugin == CORE_PLUGIN or not handlers:
            continue
        routers.append(Router(
            path=f"/{plugin}", route_handlers=list(handlers), include_in_schema=False,
            guards=[plugin_enabled_guard(plugin), permission_guard], tags=[plugin],
        ))
    for plugin, handlers in host.call_each("register_api_routes"):
        if plugin == CORE_PLUGIN or not handlers:
            continue
        routers.append(Router(
            path=f"/api/v1/{plugin}", route_handlers=list(handlers),
            guards=[plugin_enabled_guard(plugin), permission_guard], tags=[plugin],
        ))
    for plugin, handlers in host.call_each("register_public_routes"):
        if plugin == CORE_PLUGIN or not handlers:
            continue
        routers.append(Router(
            path="/p/{clinic_slug:str}/" + plugin, route_handlers=list(handlers), include_in_schema=False,
            guards=[public_plugin_guard(plugin)], tags=[plugin],
        ))
    return routers


def check_route_permissions(app: Litestar, permissions: dict[str, Permission]) -> None:
    """Every route declares a known permission, or start-up fails naming the route."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if route.path.startswith("/schema") or set(getattr(handler, "http_methods", ())) == {"OPTIONS"}:
                continue
            if _is_blocking(handler):
                raise StartupError(
                    f"route {route.path} ({handler.handler_name}) is synchronous without "
                    "sync_to_thread=True; blocking work (database, files) must not run on the event loop"
                )
            permission = handler.opt.get("permission")
            if permission is None:
                raise StartupError(
                    f"route {route.path} ({handler.handler_name}) declares no permission; "
                    "add opt={'permission': ...} to the handler, its controller or router"
                )
            if permission not in (PUBLIC, AUTHENTICATED) and permission not in permissions:
                raise StartupError(
                    f"route {route.path} needs permission '{permission}', which no plugin declares "
                    "in register_permissions"
                )


def _is_blocking(handler: Any) -> bool:
    """A synchronous HTTP handler that would run on the event loop (sync_to_thread unset)."""
    from litestar.utils.predicates import is_async_callable

    if not hasattr(handler, "http_methods") or is_async_callable(handler.fn):
        return False
    return handler.sync_to_thread is None


def static_routers(host: PluginHost) -> list[Router]:
    routers = []
    for name, info in host.plugins.items():
        folder = info.resource("static")
        if folder is None:
            continue
        directory = Path(str(folder)) / name
        if name == CORE_PLUGIN:
            routers.append(create_static_files_router(
                path="/static/vendor", directories=[Path(str(folder)) / "vendor"],
                opt={"permission": PUBLIC}, include_in_schema=False, name="static.vendor",
                send_as_attachment=False,
            ))
        routers.append(create_static_files_router(
            path=f"/static/{name}", directories=[directory], opt={"permission": PUBLIC},
            include_in_schema=False, name=f"static.{name}",
        ))
    return routers


def create_app(
    settings: Settings,
    host: PluginHost | None = None,
    db: Database | None = None,
    extra_route_handlers: list[Any] | None = None,
) -> Litestar:
    """Build the web application for `settings` (and, in tests, a given host and database)."""
    host = host or build_plugin_host(settings)
    db = db or Database(settings.database_url, role=settings.database_role)
    catalogs = load_catalogs(host)
    env = build_environment(host, catalogs, debug=settings.debug)
    state = CarnetState(settings=settings.with_plugin_settings(host.settings.plugins), host=host, db=db, templates=env)
    state.extras["catalogs"] = catalogs
    state.permissions = collect_permissions(host)
    from carnet_core.web.wiring import wire_core_services

    core_handlers: list[Any] = [
        routes.home, routes.set_language, routes.health, ModulesController, ClinicDetailsController, operator_plugins,
        settings_index,
    ]
    core_handlers.extend(wire_core_services(state))
    core_router = Router(
        path="/", route_handlers=core_handlers + list(extra_route_handlers or []),
        guards=[permission_guard], include_in_schema=False,
    )
    from carnet_core.identity.sessions import cookie_name

    openapi = openapi_config(cookie_name(state.settings))
    app = Litestar(
        route_handlers=[core_router, *plugin_routers(host), *static_routers(host)],
        dependencies={"db": Provide(provide_db)},
        middleware=[CarnetMiddleware, *state.extras.get("middleware", [])],
        guards=[path_params_guard, *state.extras.get("guards", [])],
        request_class=CarnetRequest,
        before_send=[add_security_headers],
        exception_handlers={
            HTTPException: http_exception_handler, InvalidInput: invalid_input_handler,
            Exception: internal_error_handler,
        },
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(env)),
        openapi_config=openapi,
        state=State({"carnet": state}),
        debug=False,
        # Carnet owns the process's logging (carnet_core.logs): Litestar's default configuration
        # would replace its handler at start-up (no JSON, no request id, no scrubbing).
        logging_config=None,
        on_startup=[_own_logging, _warn_rls_bypass],
    )
    # Outside routing, so that unrouted requests (404, 405) get a request id and an access line.
    app.asgi_handler = AccessLog(app.asgi_handler)
    check_route_permissions(app, state.permissions)
    document_api_errors(app, state.extras)
    for hook in state.extras.get("on_app_created", []):
        hook(app)
    return app
