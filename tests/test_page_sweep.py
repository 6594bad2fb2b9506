"""Every page reachable by the owner, a practitioner, the secretary and a patient, with the demo data,
looked at in Debian's Chromium (issue 13, acceptance 2).

The pages come from the app's route table (every GET route outside /api, /static and the schema),
so a page that core or any installed plugin adds tomorrow is swept without touching this file. The
demo clinic's real ids fill the path parameters (as in test_form_routes); a token that names
nothing gives the link's refusal page, which is a patient page too, and the patient also opens the
token pages with valid links of the demo data (tests/patient_links.py: manage and confirm an
appointment, a waiting-list offer, a consent form to sign, a conversation's thread), past their
refusal page. Each role opens every page; a
page it may not open (403, or a redirect to the login) is left out of its sweep, and the patient
sweeps the public pages (no login). Each page opened must be:

- an HTML answer (`text/html`) below 500 (files meant to be downloaded, such as calendar feeds and
  exports, are named in DOWNLOADS and must say they are attachments);
- French only: no message of any catalog left in English (a msgid of two words or more whose
  French differs), no English word of the interface, no untranslated code such as
  `contact_refused` or `scheduling.view`;
- without horizontal overflow at 375 px and at 1366 px (the document's scroll width fits the
  window; tables scroll inside their `.table-wrap`);
- with every input, select and text area labelled (a <label>, aria-label or aria-labelledby).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po
from litestar.routes import HTTPRoute

from carnet_core.demo import DEMO_PASSWORD, DEMO_SLUG, DEMO_STAFF, load_demo
from carnet_core.testing.identity import StaffUser

pytestmark = pytest.mark.browser

WIDTHS = (375, 1366)
SKIPPED_PREFIXES = ("/api/", "/static/", "/schema")
# Machine endpoints, not pages: answered with JSON or plain text on purpose.
MACHINE = {"/healthz", "/readyz", "/metrics"}
# Routes that answer a file to download (an attachment), not a page.
DOWNLOAD_TYPES = ("text/css", "text/calendar", "text/csv", "application/pdf", "application/zip", "application/json",
                  "application/octet-stream")
# Leaving the session is not a page to look at.
NOT_VISITED = {"/logout"}
# Words of the interface that are English and never French (whole words, case-sensitive).
ENGLISH = re.compile(
    r"\b(the|and|with|your|this|from|Save|Cancel|Delete|Edit|Search|Submit|None|True|False|Monday|Tuesday|"
    r"Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|June|July|August|"
    r"September|October|November|December|booked|cancelled|honoured|excused|offered|accepted|declined|"
    r"pending|archived|Patient file|Settings|Log in|Sign in|Logout|Back|Next|Previous|Close|Loading)\b"
)
# A code shown as is: snake_case or a dotted permission name.
CODE = re.compile(r"(?<![\w@./-])([a-z]+(?:_[a-z]+)+|[a-z]+\.[a-z]+(?:\.[a-z_]+)*)(?![\w@/-])")
URLISH = re.compile(r"\S+@\S+|https?://\S+|\b[\w-]+\.(?:fr|org|com|net|ics|csv|pdf)\b")


def _catalog_phrases(host: Any) -> set[str]:
    """English msgids of two words or more that every catalog translates differently."""
    phrases: set[str] = set()
    for info in host.plugins.values():
        folder = info.resource("translations")
        if folder is None:
            continue
        for po in Path(str(folder)).rglob("*.po"):
            with po.open("rb") as handle:
                catalog = read_po(handle)
            for message in catalog:
                msgid = message.id if isinstance(message.id, str) else message.id[0]
                msgstr = message.string if isinstance(message.string, str) else message.string[0]
                if not msgid or "%(" in msgid or " " not in msgid.strip() or len(msgid) < 10:
                    continue
                if msgstr and msgstr != msgid:
                    phrases.add(msgid)
    return phrases


def get_routes(app: Any) -> list[tuple[str, bool]]:
    """(path template, public) of every page route."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith(SKIPPED_PREFIXES):
            continue
        if route.path in MACHINE or route.path in NOT_VISITED:
            continue
        for method, (handler, *_rest) in route.route_handler_map.items():
            if method == "GET":
                found.append((route.path, handler.opt.get("permission") == "public"))
    return sorted(set(found))


@pytest.fixture
def demo(carnet_db, carnet_settings, plugin_host) -> dict[str, StaffUser]:
    for _ in load_demo(carnet_settings, plugin_host, carnet_db):
        pass
    people = {}
    with carnet_db.engine.connect() as conn:
        clinic_id = conn.execute(sa.text("SELECT id FROM core_clinic WHERE slug = :s"), {"s": DEMO_SLUG}).scalar()
        for (email, _name, roles, _rpps, secret), role in zip(DEMO_STAFF, ("owner", "practitioner", "secretary"),
                                                             strict=True):
            user_id = conn.execute(sa.text("SELECT id FROM core_user WHERE email = :e"), {"e": email}).scalar()
            people[role] = StaffUser(user_id, email, DEMO_PASSWORD, secret, clinic_id, roles)
    return people


def _log_in(page: Any, base: str, user: StaffUser) -> None:
    page.goto(f"{base}/login")
    page.locator("#email").fill(user.email)
    page.locator("#password").fill(user.password)
    page.get_by_role("button", name="Continuer").click()
    page.locator("#code").fill(user.totp().now())
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(lambda url: "/login" not in url)


PROBLEMS_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
    const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
      || el.getAttribute('aria-labelledby') || el.getAttribute('title');
    if (!labelled) out.push('unlabelled ' + el.tagName.toLowerCase() + ' name=' + el.getAttribute('name'));
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) {
    let widest = '';
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.right > window.innerWidth + 1 && !el.closest('.table-wrap')) {
        widest = el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : '')
          + (el.id ? '#' + el.id : '');
        break;
      }
    }
    out.push('overflow ' + doc.scrollWidth + 'px > ' + window.innerWidth + 'px (' + widest + ')');
  }
  return out;
}"""


# The page's visible text, less technical identifiers shown on purpose as code (<code>, <kbd>, <samp>).
TEXT_JS = """() => {
  let text = document.body.innerText;
  for (const el of document.body.querySelectorAll('code, kbd, samp')) text = text.split(el.innerText).join(' ');
  return text;
}"""


def _text_problems(text: str, phrases: set[str]) -> list[str]:
    problems = [f"untranslated: {p!r}" for p in sorted(phrases) if p in text]
    cleaned = URLISH.sub(" ", text)
    problems += [f"English word: {m.group(0)!r}" for m in ENGLISH.finditer(cleaned)][:3]
    problems += [f"code shown: {m.group(1)!r}" for m in CODE.finditer(cleaned)][:3]
    return problems


LINKS_JS = """() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"""


def _route_patterns(app: Any) -> list[tuple[re.Pattern[str], str]]:
    patterns = []
    for path, _public in get_routes(app):
        regex = re.sub(r"\\\{(\w+):(\w+)\\\}", lambda m: r"\d+" if m.group(2) == "int" else r"[^/]+", re.escape(path))
        patterns.append((re.compile(f"^{regex}/?$"), path))
    return patterns


def sweep(page: Any, base: str, paths: list[str], phrases: set[str], patterns: list[tuple[re.Pattern[str], str]],
          inside: str = "/", per_route: int = 2) -> tuple[list[str], int]:
    """Open each path, then the pages its links lead to (same origin, under `inside`, at most
    `per_route` addresses of one route): a page reached with real ids and tokens is swept too."""
    failures, looked = [], 0
    queue, seen, by_route = list(paths), set(paths), {}
    while queue:
        path = queue.pop(0)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            try:
                answer = page.goto(base + path, wait_until="load")
            except Exception as exc:  # an attachment: Chromium downloads it instead of showing a page
                if "Download is starting" not in str(exc):
                    raise
                break
            if answer is None:
                failures.append(f"{path}: no answer")
                break
            final = page.url.removeprefix(base)
            kind = answer.headers.get("content-type", "")
            if answer.status in (401, 403) or final.startswith("/login") and not path.startswith("/login"):
                break  # not this role's page
            if answer.status >= 500:
                failures.append(f"{path}: {answer.status}")
                break
            if not kind.startswith("text/html"):
                if not kind.startswith(DOWNLOAD_TYPES):
                    failures.append(f"{path}: answered {kind}, not a page")
                break
            looked += 1
            problems = page.evaluate(PROBLEMS_JS)
            if width == WIDTHS[0]:
                problems += _text_problems(page.evaluate(TEXT_JS), phrases)
                for href in page.evaluate(LINKS_JS):
                    target = href.split("#", 1)[0].removeprefix(base)
                    if not target.startswith(inside) or target in seen or target.startswith(tuple(NOT_VISITED)):
                        continue
                    route = next((r for rx, r in patterns if rx.match(target.split("?", 1)[0])), None)
                    if route is None or by_route.get(route, 0) >= per_route:
                        continue
                    by_route[route] = by_route.get(route, 0) + 1
                    seen.add(target)
                    queue.append(target)
            failures += [f"{path} @{width}px: {p}" for p in problems]
    return failures, looked


def _paths(app: Any, db: Any, public_only: bool) -> list[str]:
    from test_form_routes import path_for

    return sorted({path_for(path, db) for path, public in get_routes(app) if public or not public_only})


@pytest.mark.parametrize("role", ["owner", "practitioner", "secretary", "patient"])
def test_every_page_of_each_role_is_french_labelled_and_fits_phone_and_desktop(
        role, app, live_server, browser_page, carnet_db, plugin_host, demo):
    page = browser_page
    if role != "patient":
        _log_in(page, live_server, demo[role])
    paths = _paths(app, carnet_db, public_only=role == "patient")
    valid_links: list[str] = []
    if role == "patient":
        from patient_links import demo_patient_pages

        valid_links = list(demo_patient_pages(carnet_db).values())
        # the valid links first: the refused tokens after them get the address throttled
        paths = valid_links + [p for p in paths if p.startswith(f"/p/{DEMO_SLUG}/")]
    # each valid link opens its own page, not the link's refusal (before the refused tokens of the sweep
    # have the address throttled)
    for path in valid_links:  # each valid link's own page, not the link's refusal
        answer = page.goto(live_server + path)
        assert answer.status == 200 and not page.locator("section.link-refused").count(), path
    inside = f"/p/{DEMO_SLUG}/" if role == "patient" else "/"
    failures, looked = sweep(page, live_server, paths, _catalog_phrases(plugin_host), _route_patterns(app), inside)
    print(f"{role}: {looked} page views")
    assert looked >= 5, f"only {looked} pages looked at for {role}"
    assert not failures, f"{len(failures)} problems on {role}'s pages:\n" + "\n".join(failures)
