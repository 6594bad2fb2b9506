"""The page shell: error pages keep the navigation of whoever is logged in."""


def test_a_404_page_still_shows_the_logged_in_shell(client, staff, login_as):
    owner = staff("owner,practitioner", name="Claire Martin")
    login_as(client, owner)
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Cette page n’existe pas" in response.text
    assert "Claire Martin" in response.text and 'action="/logout"' in response.text


def test_a_404_page_for_anonymous_visitors_offers_to_log_in(client):
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert 'href="/login"' in response.text
