"""No page asks the browser to contact a host other than our own (rendered HTML and CSP)."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from carnet_core.web.middleware import CSP

URL_ATTRS = {"src", "href", "action", "formaction", "poster", "data", "srcset", "hx-get", "hx-post",
             "hx-put", "hx-patch", "hx-delete", "manifest", "background", "content"}


class UrlCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.style_attrs = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self._in_script = True
        if "style" in attrs:
            self.style_attrs += 1
        if any(name.startswith("on") for name in attrs):
            self.inline_scripts += 1
        for name, value in attrs.items():
            if value and name in URL_ATTRS:
                if name == "content" and not re.match(r"^\w+://", value.strip()):
                    continue
                for part in value.split(","):
                    self.urls.append(part.strip().split(" ")[0])

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def foreign_urls(html: str, own_host: str) -> tuple[list[str], UrlCollector]:
    parser = UrlCollector()
    parser.feed(html)
    foreign = []
    for url in parser.urls:
        parts = urlsplit(url)
        external = parts.scheme in ("", "http", "https") and parts.netloc and parts.hostname != own_host
        if external or url.startswith("//"):
            foreign.append(url)
    return foreign, parser


def get_pages(app):
    """GET routes without path parameters, HTML only (not the API or static files)."""
    for route in app.routes:
        if "{" in route.path or route.path.startswith(("/api/", "/static/", "/schema")):
            continue
        if "GET" in getattr(route, "methods", set()):
            yield route.path


def test_csp_allows_only_our_own_origin():
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    for name, value in directives.items():
        sources = value.split()
        assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources, name
        assert all(s.startswith("'") or s in ("data:",) for s in sources), (name, value)


def test_every_anonymous_page_references_only_our_origin(app, client):
    seen = 0
    for path in get_pages(app):
        response = client.get(path, follow_redirects=True)
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        seen += 1
        foreign, parsed = foreign_urls(response.text, "127.0.0.1")
        assert foreign == [], (path, foreign)
        assert parsed.inline_scripts == 0, f"inline script on {path}"
        assert parsed.style_attrs == 0, f"inline style on {path}"
        assert "content-security-policy" in response.headers
    assert seen > 0


def test_htmx_is_served_from_our_origin_and_configured_strictly(client):
    page = client.get("/").text
    assert '<script src="/static/vendor/htmx.min.js"' in page
    assert '"selfRequestsOnly": true' in page and '"allowEval": false' in page and '"allowScriptTags": false' in page
    asset = client.get("/static/vendor/htmx.min.js")
    assert asset.status_code == 200
    assert "htmx" in asset.text[:2000]


def test_security_headers_on_every_kind_of_answer(client):
    answers = (("/", 200), ("/no/such/page", 404), ("/static/core/carnet.css", 200), ("/schema/openapi.json", 200))
    for path, status in answers:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == status, path
        h = response.headers
        assert h["content-security-policy"] == CSP
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        if not path.startswith("/static/"):
            assert h["cache-control"] == "no-store"


def test_hsts_is_sent_when_served_over_https(tmp_path, carnet_db, plugin_host):
    from litestar.testing import TestClient

    from carnet_core.testing.plugin import make_settings
    from carnet_core.web.app import create_app

    settings = make_settings(tmp_path / "h", carnet_db.url, env={"CARNET_BASE_URL": "https://carnet.example.fr"})
    app = create_app(settings, host=plugin_host, db=carnet_db)
    with TestClient(app=app) as c:
        assert c.get("/").headers["strict-transport-security"].startswith("max-age=")


def test_every_page_a_logged_in_owner_sees_references_only_our_origin(app, client, staff, login_as):
    login_as(client, staff("owner,practitioner"))
    seen = []
    for path in get_pages(app):
        if path in ("/logout",):
            continue
        response = client.get(path, follow_redirects=True)
        if "text/html" not in response.headers.get("content-type", "") or response.status_code >= 400:
            continue
        seen.append(path)
        foreign, parsed = foreign_urls(response.text, "127.0.0.1")
        assert foreign == [], (path, foreign)
        assert parsed.inline_scripts == 0, f"inline script on {path}"
        assert parsed.style_attrs == 0, f"inline style on {path}"
        assert response.headers["cache-control"] == "no-store"
    assert {"/", "/patients", "/audit", "/settings/modules", "/settings/users"} <= set(seen), seen
    assert len(seen) >= 10, seen
