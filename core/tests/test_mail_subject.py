"""Mail subjects in French arrive as written: folding a long subject with accents never loses a
space (Python 3.11's default policy dropped the one between two encoded words)."""

from email import message_from_bytes, policy

import pytest

from carnet_core.mail import Mail, build_message

SUBJECTS = [
    "Cabinet des Tilleuls — Votre rendez-vous du mardi 1er décembre à 14:30 avec Claire Martin",
    "Cabinet des Tilleuls — Un message vous attend dans votre messagerie sécurisée du cabinet",
    "Rappel : votre rendez-vous de demain",
    "Cabinet des Tilleuls — " + "très " * 40 + "long",
    "Plain ASCII subject that is long enough to be folded by the generator at least once or twice here",
]


@pytest.mark.parametrize("subject", SUBJECTS)
@pytest.mark.parametrize("linesep", ["\n", "\r\n"])
def test_a_long_french_subject_is_read_back_exactly_as_written(carnet_settings, subject, linesep):
    message = build_message(carnet_settings, Mail(to="patient@example.org", subject=subject, text="Bonjour"))
    raw = message.as_bytes(policy=message.policy.clone(linesep=linesep))
    head = raw.split((linesep * 2).encode())[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.split(linesep))
    assert str(message_from_bytes(raw, policy=policy.default)["Subject"]) == subject
    assert str(message["Subject"]) == subject
