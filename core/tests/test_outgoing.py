"""Outgoing mail and SMS: a message sent twice under one idempotency key is one message; SMS go
through the first `send_sms` transport, else to CARNET_HOME/sms/."""

from __future__ import annotations

from carnet_core import hookimpl
from carnet_core.mail import Mail, send_mail
from carnet_core.sms import send_sms


def test_a_mail_sent_twice_under_one_key_is_one_file(carnet_settings):
    mail = Mail(to="patient@example.org", subject="Rappel", text="Lien : https://x")
    first = send_mail(carnet_settings, mail, key="scheduling.reminder:1:2026-01-01")
    second = send_mail(carnet_settings, mail, key="scheduling.reminder:1:2026-01-01")
    assert first == second
    assert len(list(carnet_settings.mail_dir.glob("*.eml"))) == 1
    send_mail(carnet_settings, mail, key="scheduling.reminder:2:2026-01-01")
    send_mail(carnet_settings, mail)
    assert len(list(carnet_settings.mail_dir.glob("*.eml"))) == 3
    assert not list(carnet_settings.mail_dir.glob(".*"))  # no temporary file left behind


def test_sms_are_written_to_the_sms_folder_without_a_transport(carnet_settings, plugin_host):
    send_sms(plugin_host, carnet_settings, "+33612345678", "Rappel RDV", key="k1")
    send_sms(plugin_host, carnet_settings, "+33612345678", "Rappel RDV", key="k1")
    files = list(carnet_settings.sms_dir.glob("*.sms"))
    assert len(files) == 1 and "Rappel RDV" in files[0].read_text()


class Gateway:
    CARNET_CORE_REQUIRES = ">=0.1,<1"

    def __init__(self):
        self.sent = []

    @hookimpl
    def send_sms(self, to, body, settings):
        self.sent.append((to, body))
        return "gw-1"


def test_hook_send_sms_a_transport_plugin_takes_the_sms(carnet_settings, inline_plugins):
    from carnet_core.plugins import build_plugin_host

    gateway = Gateway()
    inline_plugins.add("gateway", gateway)
    host = build_plugin_host(carnet_settings, extra=inline_plugins.items)
    assert send_sms(host, carnet_settings, "+33612345678", "Rappel") == "gw-1"
    assert gateway.sent == [("+33612345678", "Rappel")]
    assert not list(carnet_settings.sms_dir.glob("*.sms"))
