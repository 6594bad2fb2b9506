"""The shell in a real browser: the home page renders with our assets and no CSP violation."""

import pytest

pytestmark = pytest.mark.browser


def test_home_page_loads_assets_from_our_origin_without_csp_violations(live_server, browser_page):
    # given a browser that records every request and console error
    requests, errors = [], []
    browser_page.on("request", lambda r: requests.append(r.url))
    browser_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # when the home page is opened
    browser_page.goto(live_server + "/")
    browser_page.wait_for_load_state("networkidle")
    # then htmx is loaded from our origin, nothing else is contacted and CSP is not violated
    assert browser_page.evaluate("typeof window.htmx") == "object"
    assert all(url.startswith(live_server) for url in requests), requests
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert browser_page.locator("html").get_attribute("lang") == "fr"
