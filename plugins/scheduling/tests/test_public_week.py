"""The public booking page shows one week of free times grouped by day, with the previous and next
weeks (issue 13: "slots grouped by day with a week navigation, not a 60-line list"), phone first."""

from __future__ import annotations

import re
from datetime import date, timedelta

from test_online_booking import online  # noqa: F401  (the online world's fixture)

from carnet_core.plugin_api import utcnow
from carnet_scheduling.services.booking import week_asked
from carnet_scheduling.services.calendar import local_date


def _page(client, world, week: str | None = None):
    url = f"/p/{world.clinic.slug}/scheduling/book/{world.practitioner.id}/{world.other['type_id']}"
    return client.get(url, params={"week": week} if week else None)


def _days(html: str) -> list[str]:
    return re.findall(r'<h3 id="day-(\d{4}-\d{2}-\d{2})">', html)


def test_a_week_of_free_times_grouped_by_day_with_the_weeks_around(client, online):  # noqa: F811
    first = _page(client, online)
    assert first.status_code == 200
    days = _days(first.text)
    assert days, "no day shown"
    monday = date.fromisoformat(days[0]) - timedelta(days=date.fromisoformat(days[0]).weekday())
    # every day shown is in one week, in order, each with its times as HH:MM buttons
    assert days == sorted(days) and all(0 <= (date.fromisoformat(d) - monday).days < 7 for d in days)
    sections = re.findall(r'<section class="slot-day".*?</section>', first.text, re.S)
    for section in sections:
        times = re.findall(r'<a class="slot" href="[^"]+/form\?start=[^"]+" aria-label="[^"]+">(\d\d:\d\d)</a>', section)
        assert times and times == sorted(times)
    # Claire works 9:00-17:00 with a 30-minute type: a week is at most 5 days × 16 times, never a 60-line list
    assert len(re.findall(r'class="slot"', first.text)) <= 5 * 16
    # the next week is one click away, and comes back with the previous one
    nxt = re.search(r'<a class="button secondary" rel="next" href="([^"]+)\?week=(\d{4}-\d{2}-\d{2})">', first.text)
    assert nxt and date.fromisoformat(nxt.group(2)) == monday + timedelta(days=7)
    second = _page(client, online, nxt.group(2))
    later = _days(second.text)
    assert later and all(date.fromisoformat(d) >= monday + timedelta(days=7) for d in later)
    assert f'rel="prev" href="{nxt.group(1)}?week={monday.isoformat()}"' in second.text


def test_weeks_outside_the_horizon_or_not_dates_are_brought_back(client, online):  # noqa: F811
    today = local_date(utcnow(), "Europe/Paris")
    this_monday = today - timedelta(days=today.weekday())
    past = _page(client, online, "2001-01-01")
    assert past.status_code == 200 and 'rel="prev"' not in past.text  # no week before this one
    assert f"Semaine du {this_monday.day}" in past.text.replace("1er", "1")
    far = _page(client, online, "2999-01-01")
    assert far.status_code == 200 and 'rel="next"' not in far.text  # the horizon's last week
    assert _page(client, online, "not-a-date").status_code == 200
    assert week_asked("2026-12-09") == date(2026, 12, 9) and week_asked("x") is None and week_asked(None) is None


def test_the_public_booking_and_waiting_list_pages_offer_no_staff_login(client, online):  # noqa: F811
    """A family reaches these pages from a link, without an account: no staff "Se connecter"."""
    slug = online.clinic.slug
    for url in (f"/p/{slug}/scheduling/book/{online.practitioner.id}/{online.other['type_id']}",
                f"/p/{slug}/scheduling/waitlist"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert 'href="/login"' not in page.text and 'href="/"' not in page.text, url  # nor the logo's link
