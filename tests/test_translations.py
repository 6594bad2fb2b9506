"""French first: every UI message has a French translation; English is available."""

import re
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


def test_each_plugin_translates_in_its_own_gettext_domain(plugin_host):
    """Issue 13: one English msgid, two meanings ("done": core's audit outcome "effectué",
    scheduling's sessions "faites"); each template and handler reads its own plugin's catalog
    first, then core's, so the accesses page no longer says "Résultat : faites"."""
    from carnet_core.i18n import domain_of_module, domain_of_template, load_catalogs

    catalogs = load_catalogs(plugin_host)
    assert catalogs.gettext("fr", "done", domain_of_template("core/patients/_accesses.html")) == "effectué"
    assert catalogs.gettext("fr", "done", domain_of_template("scheduling/series.html")) == "faites"
    assert catalogs.gettext("fr", "done", domain_of_module("carnet_core.patients.accesses")) == "effectué"
    assert catalogs.gettext("fr", "done", domain_of_module("carnet_scheduling.controllers.pages")) == "faites"
    # a message only core translates is still found from a plugin's template, and the reverse
    assert catalogs.gettext("fr", "Save", "scheduling") == catalogs.gettext("fr", "Save", "core")
    assert catalogs.gettext("fr", "Waiting list", "core") == "Liste d’attente"


def test_the_accesses_page_says_done_in_core_words(client, clinic, staff, login_as, carnet_db):
    from carnet_core.patients.patient_access import access
    from carnet_core.web.principal import Principal

    owner = staff("owner,practitioner")
    login_as(client, owner)
    with carnet_db.session(clinic_id=clinic.id) as db:
        registrar = Principal(kind="user", user_id=owner.id, clinic_id=clinic.id, roles=("owner", "practitioner"))
        patient_id = access(db, registrar).register({"last_name": "Durand", "first_name": "Zoé",
                                                     "practitioner_id": owner.id})
    page = client.get(f"/patients/{patient_id}/accesses")
    assert page.status_code == 200
    assert "effectué" in page.text and "faites" not in page.text


def test_a_job_writes_in_its_own_plugins_words(plugin_host, carnet_db):
    """A job's messages are translated in its plugin's domain (the actor's prefix), rendered from
    its plain-text templates, and link to its own public pages: consent and telecare once looked
    their subjects up in the merged catalog, where another plugin's translation could win."""
    from carnet_core.jobs.context import JobContext

    def job(actor: str) -> JobContext:
        return JobContext(message_id="m-1", actor=actor, retries=0, clinic_id=None, outbox_id=None,
                          settings=plugin_host.settings, host=plugin_host, db=carnet_db)

    assert job("scheduling.send_reminder").translate("done") == "faites"
    assert job("core.export_clinic").translate("done") == "effectué"
    consent = job("consent.send_code")
    assert consent.translate("%(clinic)s: your signature code", clinic="Cabinet") == "Cabinet : votre code de signature"
    body = consent.render("consent/messages/access_code.txt", clinic_name="Cabinet des Tilleuls", code="123456")
    assert "123456" in body and "Cabinet des Tilleuls" in body and body.endswith("\n") and not body.endswith("\n\n")
    base = plugin_host.settings.base_url.rstrip("/")
    assert consent.patient_url("tilleuls", "/s/abc") == f"{base}/p/tilleuls/consent/s/abc"


def test_a_nav_label_is_the_same_word_on_every_page(client, clinic, staff, login_as):
    """A navigation label is translated in the words of the plugin that gave it, not of the page
    drawing the shell: telecare's "Messages" was "Messagerie" on core's pages and "Messages" on
    scheduling's (which translates the same msgid for its reminders table)."""
    import re

    login_as(client, staff("owner,practitioner"))
    for path in ("/", "/patients", "/scheduling/"):
        page = client.get(path)
        assert page.status_code == 200, path
        nav = re.search(r'<nav aria-label="[^"]*">(.*?)</nav>', page.text, re.S).group(1)
        assert ">Messagerie</a>" in nav and ">Messages</a>" not in nav, path


def _french_catalogs() -> list[Path]:
    return [ROOT / "core/src/carnet_core/translations/fr/LC_MESSAGES/core.po",
            *sorted(ROOT.glob("plugins/*/src/*/translations/fr/LC_MESSAGES/*.po"))]


def test_counts_are_plurals_not_a_parenthesised_s():
    """Issue 13: '1 dossier(s)' reads badly; a count goes through ngettext (0 and 1 singular in French)."""
    from babel.messages.pofile import read_po

    for path in _french_catalogs():
        with path.open("rb") as f:
            for message in read_po(f):
                texts = [*(message.id if isinstance(message.id, tuple) else (message.id,)),
                         *(message.string if isinstance(message.string, tuple) else (message.string,))]
                assert not any("(s)" in t for t in texts if t), (path.name, message.id)


def test_counts_are_singular_for_one_and_plural_for_two(plugin_host):
    """The series preview ('1 séance prévue', '2 séances prévues') and consent's RGPD warnings,
    rendered from their templates with the French catalogs."""
    from datetime import datetime

    from carnet_core.plugin_api import message_environment

    env = message_environment(plugin_host)

    def preview(planned: int, missing: int) -> str:
        shown = {"planned": [datetime(2026, 12, 1, 10)] * planned, "skipped": [], "conflicts": [], "missing": missing}
        return " ".join(env.get_template("scheduling/_series_preview.html").render(
            locale="fr", preview=shown, errors=None, reason_labels={}).split())

    one, two = preview(1, 1), preview(2, 2)
    assert "1 séance prévue" in one and "1 séance n’a pas pu être placée" in one
    assert "2 séances prévues" in two and "2 séances n’ont pas pu être placées" in two

    def warning(n: int) -> str:
        return " ".join(env.get_template("consent/_rights_warning.html").render(
            locale="fr", warnings={"overdue": n, "due_soon": n}).split())

    assert "1 demande RGPD a dépassé le délai légal." in warning(1) and "1 demande RGPD à rendre" in warning(1)
    assert "2 demandes RGPD ont dépassé le délai légal." in warning(2) and "2 demandes RGPD à rendre" in warning(2)


def test_french_translations_use_the_typographic_apostrophe():
    """Issue 13: French text writes ’ (l’agenda), never the typewriter ' (the catalogues' msgstr carry
    no HTML, so every apostrophe there is visible text)."""
    from babel.messages.pofile import read_po

    for path in _french_catalogs():
        with path.open("rb") as f:
            for message in read_po(f):
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                for text in strings:
                    assert "'" not in (text or ""), (path.name, message.id, text)
                    assert not re.search(r"<\w+[^>]*=", text or ""), (path.name, text)  # no attribute to spare
