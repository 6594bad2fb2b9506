"""Every page a patient sees (issue 13, "Patient-facing pages"): one layout and one set of components
for every plugin's public pages (core/public.html, core/_public.html), the practice's name and address
at the top of each, no staff login. Token pages are opened with valid links of the demo clinic
(tests/patient_links.py) as well as with a token that names nothing (their refusal page)."""

from __future__ import annotations

import re

import pytest
from patient_links import demo_patient_pages
from test_page_sweep import get_routes

from carnet_core.demo import DEMO_ADDRESS, DEMO_NAME, DEMO_SLUG, load_demo

HEADER = re.compile(r'<header class="public-header">.*?</header>', re.S)


@pytest.fixture
def demo(carnet_db, carnet_settings, plugin_host) -> None:
    for _ in load_demo(carnet_settings, plugin_host, carnet_db):
        pass


def _public_paths(app, carnet_db) -> list[str]:
    from test_form_routes import path_for

    return sorted({path_for(path, carnet_db) for path, public in get_routes(app)
                   if public and path.startswith("/p/")})


def test_every_patient_page_shows_the_practices_name_and_address_in_one_layout(app, client, carnet_db, demo):
    paths = _public_paths(app, carnet_db) + list(demo_patient_pages(carnet_db).values())
    street, postcode, city = DEMO_ADDRESS
    looked = 0
    for path in paths:
        answer = client.get(path)
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue  # a calendar feed, a document to download
        looked += 1
        header = HEADER.search(answer.text)
        assert header, f"{path}: not drawn with the patient pages' layout (core/public.html)"
        assert DEMO_NAME in header.group(0) and street in header.group(0), f"{path}: no practice name and address"
        assert f"{postcode} {city}" in header.group(0), path
        assert 'class="public-card"' in answer.text, path
        assert 'href="/login"' not in answer.text and 'class="topbar"' not in answer.text, path
    assert looked >= 20


def test_valid_links_reach_their_pages_not_the_refusal(client, carnet_db, demo):
    expected = {"manage": "Déplacer le rendez-vous", "confirm": 'name="code"', "confirm by mail": "Confirmer",
                "offer": "Je prends ce rendez-vous", "consent signing": 'name="full_name"',
                "telecare thread": "Votre message"}
    pages = demo_patient_pages(carnet_db)
    assert set(pages) == set(expected)
    for name, path in pages.items():
        answer = client.get(path)
        assert answer.status_code == 200, f"{name}: {answer.status_code}"
        assert "Ce lien n’est pas valide" not in answer.text and expected[name] in answer.text, name


@pytest.mark.browser
def test_secondary_actions_look_secondary_whether_links_or_buttons(app, live_server, browser_page, carnet_db, demo):
    # a.button.secondary was painted like a primary button: only button.secondary had the white style
    page = browser_page
    page.goto(f"{live_server}{demo_patient_pages(carnet_db)['offer']}")
    colour = "el => getComputedStyle(el).backgroundColor"
    primary = page.locator("button.primary").first.evaluate(colour)
    assert page.locator("button.secondary").first.evaluate(colour) == "rgb(255, 255, 255)" != primary
    page.goto(f"{live_server}/p/{DEMO_SLUG}/scheduling/book/1/1")
    link = page.locator("a.button.secondary").first
    assert link.evaluate(colour) == "rgb(255, 255, 255)"
    # and the keyboard focus shows on it
    link.focus()
    assert link.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
