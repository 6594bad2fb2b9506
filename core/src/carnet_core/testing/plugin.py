"""Pytest plugin: settings, migrated database, plugin host, app client, inline plugins.

Every test gets a fresh database: SQLite by default (copied from a template migrated once per
session), or PostgreSQL when CARNET_TEST_DATABASE_URL is set (migrated once, emptied per test).
With CARNET_TEST_REQUIRE_SERVICES=1 (CI), a test marked `postgres` or `redis` fails instead of
skipping when its service URL is missing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from carnet_core.db.session import Database
from carnet_core.plugins import PluginError, PluginHost, build_plugin_host
from carnet_core.settings import Settings, load_settings

PG_ENV = "CARNET_TEST_DATABASE_URL"
REDIS_ENV = "CARNET_TEST_REDIS_URL"


def pytest_configure(config: pytest.Config) -> None:
    for marker in (
        "postgres: needs CARNET_TEST_DATABASE_URL (PostgreSQL)",
        "redis: needs CARNET_TEST_REDIS_URL (Redis)",
        "browser: drives headless Chromium",
        "pdf: renders PDF documents (WeasyPrint, with the system's Pango)",
        "slow: slower tests",
    ):
        config.addinivalue_line("markers", marker)
    _hypothesis_profile()


def _hypothesis_profile() -> None:
    """Property tests judge results, not speed: no per-example deadline on a shared, busy machine."""
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # an out-of-tree plugin's suite without hypothesis
        return
    settings.register_profile("carnet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("carnet")


def _require_services() -> bool:
    return os.environ.get("CARNET_TEST_REQUIRE_SERVICES") == "1"


def service_unavailable(reason: str) -> None:
    """The service gate: skip a test whose service (PostgreSQL, Redis, Chromium) this machine lacks,
    or fail it under CARNET_TEST_REQUIRE_SERVICES=1 (CI), where a skipped service test is a failure."""
    if _require_services():
        pytest.fail(f"service test without its service: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, env in (("postgres", PG_ENV), ("redis", REDIS_ENV)):
        if item.get_closest_marker(marker) and not os.environ.get(env):
            service_unavailable(f"{env} is not set")
    if item.get_closest_marker("pdf"):
        from carnet_core.documents import pdf_unavailable_reason

        reason = pdf_unavailable_reason()
        if reason:
            service_unavailable(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test that renders a PDF on a machine without Pango (a fresh machine may lack it) is
    skipped with the fix named, like any service test, unless CI requires every service."""
    report = yield
    if call.excinfo is not None and not _require_services() and report.failed:
        from carnet_core.documents import PdfUnavailable

        if call.excinfo.errisinstance(PdfUnavailable):
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")
    return report


def test_database_url() -> str | None:
    return os.environ.get(PG_ENV) or None


test_database_url.__test__ = False  # type: ignore[attr-defined]


def test_redis_url() -> str | None:
    return os.environ.get(REDIS_ENV) or None


test_redis_url.__test__ = False  # type: ignore[attr-defined]


def make_settings(home: Path, database_url: str | None = None, **overrides: Any) -> Settings:
    """Settings for a test: everything under `home`, embedded defaults unless told otherwise."""
    # Tests start job threads explicitly (`jobs_worker`), not with every app, and make no
    # scheduled backups unless they set CARNET_BACKUP_EVERY_HOURS.
    # Password hashing at 1 MiB (CARNET_TESTING allows going under OWASP's floor): a login costs
    # milliseconds, not the 64 MiB of production; tests that measure timing set it back.
    env = {
        "CARNET_HOME": str(home), "CARNET_BASE_URL": "http://127.0.0.1:8000",
        "CARNET_IN_PROCESS_WORKER": "0", "CARNET_TESTING": "1", "CARNET_PASSWORD_HASH_MEMORY_KIB": "1024",
        # the hourly `core.backup` schedule does nothing unless a test turns backups on
        "CARNET_BACKUP_EVERY_HOURS": "0",
    }
    if database_url:
        env["CARNET_DATABASE_URL"] = database_url
    env.update(overrides.pop("env", {}))
    settings = load_settings(env, **overrides)
    # Like `carnet init`: the state folders, then the one master key (identity and encryption
    # both derive from it), unless the test gives one through the environment.
    for folder in (settings.home, settings.mail_dir, settings.sms_dir, settings.keys_dir):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.keys_dir, 0o700)
    from carnet_core.encryption.keyprovider import (
        create_master_key_file,
        default_master_key_path,
        master_key_configured,
    )

    if not master_key_configured(settings):
        create_master_key_file(default_master_key_path(settings))
    from carnet_core.audit.signing import ensure_signing_key

    ensure_signing_key(settings.keys_dir)  # the audit checkpoints' key, as `carnet init` makes it
    return settings


def wipe_postgres_schema(engine: sa.Engine) -> None:
    """Drop everything in the current schema (the test database only)."""
    with engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')


def reset_postgres(engine: sa.Engine) -> None:
    """Empty every table (triggers disabled for the cleanup only: audit rows are append-only)."""
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )


class InlinePlugins:
    """Plugins defined inside a test: `inline_plugins.add("example", module_or_object)`."""

    def __init__(self) -> None:
        self._items: list[tuple[str, Any]] = []
        self.built = False  # set once a plugin host has read the list

    @property
    def items(self) -> list[tuple[str, Any]]:
        """The registered plugins, read by whoever builds the host (`plugin_host`, or a test's own
        `build_plugin_host(..., extra=inline_plugins.items)`): from then on `add` refuses."""
        self.built = True
        return list(self._items)

    def add(self, name: str, plugin: Any) -> Any:
        if self.built:
            # Too late: the host and the app exist without it, and its routes would answer 404.
            raise PluginError(
                f"test plugin '{name}' is registered after the plugin host was already built (by the "
                "plugin_host, carnet_db, app or client fixture), so it would never be loaded; register "
                "it in a fixture that those depend on: override `inline_plugins` "
                "(def inline_plugins(inline_plugins): inline_plugins.add(...); return inline_plugins), "
                "or request your own fixture before `app`/`client` in the test's arguments"
            )
        if not hasattr(plugin, "CARNET_CORE_REQUIRES"):
            plugin.CARNET_CORE_REQUIRES = ">=0.1,<1"
        self._items.append((name, plugin))
        return plugin


@pytest.fixture
def inline_plugins() -> InlinePlugins:
    """Register test-only plugins before `plugin_host` / `app` are built."""
    return InlinePlugins()


@pytest.fixture
def carnet_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Extra CARNET_* variables for this test's settings: override the fixture, or parametrize
    it indirectly (`@pytest.mark.parametrize("carnet_env", [{...}], indirect=True)`)."""
    return dict(getattr(request, "param", {}))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Callable[[PluginHost], Path]:
    """One migrated SQLite file per set of loaded plugins, copied for each test."""
    cache: dict[tuple[str, ...], Path] = {}
    root = tmp_path_factory.mktemp("carnet-template")

    def get(host: PluginHost) -> Path:
        key = tuple(sorted(host.plugins))
        if key not in cache:
            shared = _shared_template(host)
            if shared is not None and shared.exists():
                cache[key] = shared
                return shared
            path = root / f"template-{len(cache)}.db"
            _migrate_template(path, host)
            if shared is not None and _may_share_template():
                tmp = shared.with_suffix(f".{os.getpid()}.tmp")
                shutil.copyfile(path, tmp)
                os.replace(tmp, shared)
            cache[key] = path
        return cache[key]

    return get


def _migrate_template(path: Path, host: PluginHost) -> None:
    from carnet_core.db.migrate import upgrade

    db = Database(f"sqlite:///{path}")
    upgrade(db, host)
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()


TEMPLATE_DIR_ENV = "CARNET_TEST_TEMPLATE_DIR"


def _shared_template(host: PluginHost) -> Path | None:
    """With CARNET_TEST_TEMPLATE_DIR (set by `make mutation`, whose every mutant is a new pytest
    process), the migrated template is kept across processes, named by the loaded plugins and the
    content of every migration that built it: a changed or added migration builds a new one."""
    folder = os.environ.get(TEMPLATE_DIR_ENV)
    if not folder:
        return None
    import hashlib

    from carnet_core.db.migrate import HERE, version_locations

    digest = hashlib.sha256("\0".join(sorted(host.plugins)).encode())
    for location in [str(HERE / "migrations"), *version_locations(host)]:
        for file in sorted(Path(location).glob("*.py")):
            digest.update(file.name.encode() + b"\0" + file.read_bytes())
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder) / f"template-{digest.hexdigest()[:24]}.db"


def _may_share_template() -> bool:
    """Only an unmutated run stores the shared template: a mutant (mutmut names it in
    MUTANT_UNDER_TEST) may break what it migrates through, and builds its own."""
    under_test = os.environ.get("MUTANT_UNDER_TEST", "")
    return "__mutmut_" not in under_test


@pytest.fixture(scope="session")
def _postgres_migrated() -> dict[tuple[str, ...], bool]:
    return {}


@pytest.fixture
def carnet_settings(tmp_path: Path, carnet_env: dict[str, str]) -> Settings:
    home = tmp_path / "home"
    return make_settings(home, test_database_url() or f"sqlite:///{home / 'carnet.db'}", env=carnet_env)


@pytest.fixture
def plugin_host(carnet_settings: Settings, inline_plugins: InlinePlugins) -> PluginHost:
    return build_plugin_host(carnet_settings, extra=inline_plugins.items)


@pytest.fixture
def patient_guard() -> bool:
    """Whether plugin code that loads patient rows itself fails (DirectPatientAccess): on by
    default, so a plugin's suite proves it reaches patients through `carnet_core.patients.access`.
    Override it with False only to test what core does when a plugin does not."""
    return True


@pytest.fixture
def carnet_db(
    plugin_host: PluginHost,
    carnet_settings: Settings,
    _sqlite_template: Callable[[PluginHost], Path],
    _postgres_migrated: dict[tuple[str, ...], bool],
    patient_guard: bool,
) -> Iterator[Database]:
    """A migrated, empty database for this test (plugins' direct patient loads refused, see
    `patient_guard`)."""
    from carnet_core.db.migrate import upgrade

    url = carnet_settings.database_url
    if url.startswith("sqlite"):
        target = Path(url.removeprefix("sqlite:///"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_sqlite_template(plugin_host), target)
        db = Database(url)
    else:
        db = Database(url)
        key = tuple(sorted(plugin_host.plugins))
        if not _postgres_migrated:
            # The test database is disposable: start each session from an empty schema, so a
            # schema left by an older checkout never meets this checkout's migrations.
            wipe_postgres_schema(db.engine)
        if not _postgres_migrated.get(key):
            upgrade(db, plugin_host)
            _postgres_migrated[key] = True
        reset_postgres(db.engine)
    from carnet_core.process import prepare_database

    prepare_database(db, carnet_settings, plugin_host)
    if patient_guard:
        from carnet_core.patients.guard import plugin_packages

        db.patient_guard = plugin_packages(plugin_host)
    yield db
    db.dispose()


@pytest.fixture
def app(carnet_settings: Settings, plugin_host: PluginHost, carnet_db: Database) -> Any:
    from carnet_core.web.app import create_app

    return create_app(plugin_host.settings, host=plugin_host, db=carnet_db)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    """An HTTP client on the app (base URL http://testserver.local)."""
    from litestar.testing import TestClient

    with TestClient(app=app, base_url="http://127.0.0.1:8000") as c:
        yield c


@pytest.fixture
def make_clinic(carnet_db: Database, plugin_host: PluginHost) -> Callable[..., Any]:
    """Create a clinic: `make_clinic("slug", plugins=[...])` (default: every loaded plugin)."""

    def make(slug: str | None = None, name: str | None = None, plugins: list[str] | None = None) -> Any:
        from carnet_core.clinics.services import create_clinic

        slug = slug or f"clinic-{uuid.uuid4().hex[:8]}"
        with carnet_db.session(unscoped=True) as db:
            return create_clinic(db, slug, name or slug.title(), plugin_host.names if plugins is None else plugins)

    return make


@pytest.fixture
def clinic(make_clinic: Callable[..., Any]) -> Any:
    return make_clinic("cabinet-test", "Cabinet Test")


@pytest.fixture
def empty_instance(tmp_path: Path, carnet_settings: Settings, plugin_host: PluginHost) -> Iterator[Database]:
    """A second instance's database, empty (SQLite, migrated with the same modules, its own keys):
    where a test imports a clinic archive (`carnet import clinic`) written from `carnet_db`."""
    from carnet_core.db.migrate import upgrade
    from carnet_core.encryption import install_keyring

    db = Database(f"sqlite:///{tmp_path / 'empty-instance.db'}")
    install_keyring(db, carnet_settings)
    upgrade(db, plugin_host)
    yield db
    db.dispose()


CHROMIUM = os.environ.get("CARNET_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port for the duration of the test."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@contextmanager
def chromium(*args: str) -> Iterator[Any]:
    """Debian's headless Chromium under Playwright (no browser download, no network), launched with
    core's flags and `args` (e.g. "--use-fake-device-for-media-stream"). Behind the service gate: a
    machine without playwright or Chromium skips the test, CI (CARNET_TEST_REQUIRE_SERVICES=1)
    fails it. For a plugin's test needing its own contexts (two browsers, a phone viewport)."""
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install playwright)"
    if reason is None and not Path(CHROMIUM).exists():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if reason:
        service_unavailable(reason)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", *args,
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A Playwright page in Debian's headless Chromium (`chromium()`), French, 1280 px wide."""
    with chromium() as browser:
        context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(30000)  # generous: a loaded 2-core CI machine is slow, not broken
        yield page
        context.close()


@pytest.fixture
def jobs(plugin_host: PluginHost, carnet_db: Database) -> Iterator[Any]:
    """Jobs runtime on the in-process broker (fast retries), actors declared, no threads yet.
    Add `jobs_worker` to run jobs; `wait_for_jobs(jobs)` publishes the outbox and waits."""
    from carnet_core.jobs.runtime import setup_jobs
    from carnet_core.jobs.testing import test_jobs_config

    runtime = setup_jobs(plugin_host.settings, plugin_host, carnet_db, redis_url="",
                         config=test_jobs_config(plugin_host.settings.env))
    yield runtime
    runtime.close()


@pytest.fixture
def jobs_worker(jobs: Any) -> Any:
    """Worker threads consuming `jobs`' broker for this test."""
    jobs.start_worker()
    return jobs


@pytest.fixture
def redis_jobs(plugin_host: PluginHost, carnet_db: Database) -> Iterator[Any]:
    """Jobs runtime on the real Redis at CARNET_TEST_REDIS_URL, in a namespace of its own
    (deleted afterwards). Mark the test `redis`."""
    from carnet_core.jobs.runtime import setup_jobs
    from carnet_core.jobs.testing import delete_namespace, test_jobs_config, unique_namespace

    url = test_redis_url()
    if not url:
        service_unavailable(f"{REDIS_ENV} is not set")
    namespace = unique_namespace()
    runtime = setup_jobs(plugin_host.settings, plugin_host, carnet_db, redis_url=url,
                         config=test_jobs_config(plugin_host.settings.env, namespace=namespace))
    yield runtime
    runtime.close()
    delete_namespace(runtime.broker.client, namespace)


from carnet_core.testing.identity import (  # noqa: E402  (fixtures re-exported for pytest)
    csrf_headers_fixture,
    login_as_fixture,
    staff,
)
from carnet_core.testing.matrix import authorization_matrix  # noqa: E402
from carnet_core.testing.team import make_team  # noqa: E402

__all__ = ["authorization_matrix", "csrf_headers_fixture", "login_as_fixture", "make_team", "staff"]
