"""An example plugin defined in the tests registers routes, navigation, a panel, an actor and a
schedule — and is invisible to a clinic that has not enabled it."""

import pytest
from example_plugin import plugin as example
from jinja2 import TemplateNotFound


@pytest.fixture
def inline_plugins(inline_plugins):
    inline_plugins.add("example", example)
    for seen in example.SEEN.values():
        seen.clear()
    return inline_plugins


def test_routes_are_mounted_under_the_plugin_prefixes(app):
    paths = {route.path for route in app.routes}
    assert "/example" in paths or "/example/" in paths
    assert "/api/v1/example/ping" in paths
    assert "/p/{clinic_slug:str}/example/hello" in paths


def test_api_routes_are_in_the_openapi_schema_and_pages_are_not(client):
    schema = client.get("/schema/openapi.json").json()
    assert "/api/v1/example/ping" in schema["paths"]
    assert not [p for p in schema["paths"] if not p.startswith("/api/")]


def test_anonymous_callers_are_sent_to_login_or_refused(client):
    page = client.get("/example/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    api = client.get("/api/v1/example/ping")
    assert api.status_code == 401
    assert api.json()["status_code"] == 401


def test_public_route_answers_only_for_clinics_that_enabled_the_plugin(client, make_clinic):
    make_clinic("avec", plugins=["example"])
    make_clinic("sans", plugins=[])
    assert client.get("/p/avec/example/hello").json() == {"clinic": "avec"}
    assert client.get("/p/sans/example/hello").status_code == 404
    assert client.get("/p/inconnue/example/hello").status_code == 404


def test_templates_of_a_plugin_are_namespaced(app):
    from carnet_core.web.state import carnet_state

    env = carnet_state(app).templates
    assert env.get_template("example/index.html") is not None
    # a plugin's folder serves only its own namespace: no reaching into core or other plugins
    for name in ("core/nope.html", "missing/x.html", "example/../core/base.html"):
        with pytest.raises(TemplateNotFound):
            env.get_template(name)


