"""The online-bookings page (issue 13): each booking with its patient, practitioner, type, time and
a link to the appointment; for owners, the public booking and waiting-list addresses with a copy
button (a static script from our origin, the button hidden without it) and a QR code to print,
made on the server (segno, inline SVG)."""

from __future__ import annotations

import re

import segno
from test_online_booking import _book, _first_slot, online  # noqa: F401  (the online world's fixture)

from carnet_scheduling.services.booking import public_address, qr_svg


def _booked(client, world) -> None:
    _href, start = _first_slot(client, world)
    assert _book(client, world, start).status_code in (200, 303)


def test_staff_see_who_booked_with_whom_what_and_when_with_a_link(client, online, login_as, staff):  # noqa: F811
    _booked(client, online)
    client.cookies.clear()
    login_as(client, staff("secretary", clinic=online.clinic))
    page = client.get("/scheduling/online")
    assert page.status_code == 200
    [row] = re.findall(r"<tbody>(.*?)</tbody>", page.text, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert re.match(r'<a href="/scheduling/appointments/\d+">\w+ \d', cells[0])  # the time, linked
    assert "DUPONT Léa" in cells[1] and 'href="/patients/' in cells[1]
    assert cells[2] == "Claire Martin" and cells[3] == online.other["type_name"]
    assert "attente de confirmation" in cells[4]
    # a secretary does not hand out the practice's addresses
    assert "Vos adresses publiques" not in page.text and "/online/poster/" not in page.text
    assert client.get("/scheduling/online/poster/book").status_code == 403


def test_owners_get_the_public_addresses_with_a_copy_button_and_a_qr_code(
        client, online, login_as, staff, carnet_settings):  # noqa: F811
    login_as(client, staff("owner,practitioner", clinic=online.clinic))
    page = client.get("/scheduling/online")
    book = f"{carnet_settings.base_url}/p/{online.clinic.slug}/scheduling/book"
    wait = f"{carnet_settings.base_url}/p/{online.clinic.slug}/scheduling/waitlist"
    assert public_address(carnet_settings.base_url, online.clinic.slug, "book") == book
    assert f'value="{book}" readonly' in page.text and f'value="{wait}" readonly' in page.text
    # the copy buttons work through a script of our origin, and stay hidden without it
    assert '<script src="/static/scheduling/share.js" defer></script>' in page.text
    assert re.search(r'<button type="button" class="secondary" data-copy="addr-book"[^>]*hidden>Copier</button>',
                     page.text)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)  # no inline script (CSP)
    script = client.get("/static/scheduling/share.js")
    assert script.status_code == 200 and "navigator.clipboard" in script.text
    # each address is printable as a QR code made here, holding exactly that address
    poster = client.get("/scheduling/online/poster/waitlist")
    assert poster.status_code == 200 and poster.headers["content-type"].startswith("text/html")
    svg = re.search(r'<svg viewBox="[^"]+" class="qr">.*?</svg>', poster.text, re.S)
    expected = segno.make(wait, error="m").svg_inline(scale=8, border=4, dark="#000", light="#fff",
                                                      title="Formulaire de liste d’attente", svgclass="qr",
                                                      omitsize=True)
    assert svg and svg.group(0) == expected == qr_svg(wait, "Formulaire de liste d’attente", scale=8)
    assert wait in poster.text and online.clinic.name in poster.text
    assert client.get("/scheduling/online/poster/elsewhere").status_code == 404
