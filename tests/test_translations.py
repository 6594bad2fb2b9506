"""French first: every UI message has a French translation; English is available."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_message_of_core_and_plugins_is_translated_to_french():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "i18n.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, "run `make messages` and translate:\n" + result.stdout


def test_pages_are_french_by_default_and_english_on_request(client):
    french = client.get("/")
    assert 'lang="fr"' in french.text
    assert "Se connecter" in french.text
    english = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert 'lang="en"' in english.text
    assert "Log in" in english.text


def test_language_choice_is_remembered_in_a_cookie(client, csrf_headers):
    response = client.post(
        "/lang", data={"locale": "en", "next": "/"}, headers=csrf_headers(client), follow_redirects=False
    )
    assert response.status_code == 303
    assert client.get("/").text.count('lang="en"') == 1
