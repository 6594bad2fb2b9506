"""The forms service on its own (services/forms.py): the content hash a signature refers to, pinned
byte for byte; the owner's input checked field by field, each refusal with its code and line; a
publication copying the draft into a numbered immutable version, refused when nothing changed,
moving only the pending requests nobody has signed, and audited with what it did; the starter set
published once."""

from __future__ import annotations

import hashlib
import json

import pytest
from consent_world import owner_principal
from sqlmodel import select

from carnet_core.plugin_api import InvalidInput, NotFound, links, patient_access
from carnet_core.testing import AuditRecord

from carnet_consent.models import Request, Template, Version
from carnet_consent.services import forms, signing
from carnet_consent.starter import STARTER

CLAUSES = json.dumps([{"key": "telesoin", "text": "J’accepte"}], ensure_ascii=False)


def _refusal(call, *args) -> tuple[str, str, str, dict]:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    ((field, error),) = caught.value.errors.items()
    return field, error.code, error.message, error.params


# The content hash ------------------------------------------------------------------------------


def test_the_content_hash_is_the_sha256_of_the_pinned_canonical_json():
    # sorted keys, no spaces, UTF-8 (not \\u escapes), the clauses as JSON: a signature's hash must
    # stay the same across versions of Carnet, so the bytes are pinned here
    canonical = (
        '{"body":"Texte\\n","clauses":[{"key":"telesoin","text":"J’accepte"}],"signers":"both","title":"Télésoin"}'
    )
    digest = forms.content_hash("Télésoin", "Texte\n", CLAUSES, "both")
    assert digest == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert digest == "624fa59b81869000fe5a9f76d17a6b30a0d264ade1d69a0ef8c76c2d0d34ba6e"
    # the clauses' own spacing does not matter, only their content
    assert forms.content_hash("Télésoin", "Texte\n", json.dumps(json.loads(CLAUSES), indent=2), "both") == digest


@pytest.mark.parametrize("field", ["title", "body", "clauses", "signers"])
def test_each_of_the_four_fields_changes_the_hash(field):
    values = {"title": "Télésoin", "body": "Texte\n", "clauses": CLAUSES, "signers": "both"}
    changed = {
        **values,
        field: {
            "title": "Télésoin.",
            "body": "Texte",
            "signers": "one",
            "clauses": CLAUSES.replace("J’accepte", "J'accepte"),
        }[field],
    }
    assert forms.content_hash(**changed) != forms.content_hash(**values)


# Clauses ---------------------------------------------------------------------------------------


def test_clauses_are_parsed_one_per_line_and_shown_back_the_same_way():
    parsed = forms.parse_clauses("\n  telesoin :  J'accepte la vidéo.  \n\nsms_2: Rappels\r\n")
    assert parsed == [{"key": "telesoin", "text": "J'accepte la vidéo."}, {"key": "sms_2", "text": "Rappels"}]
    raw = json.dumps(parsed)
    assert forms.clauses_of(raw) == [forms.Clause("telesoin", "J'accepte la vidéo."), forms.Clause("sms_2", "Rappels")]
    assert forms.clauses_text(raw) == "telesoin: J'accepte la vidéo.\nsms_2: Rappels"
    assert forms.clauses_of("") == [] and forms.clauses_text("") == ""


@pytest.mark.parametrize(
    "line",
    [
        "pas de code",
        "Telesoin: majuscule",
        "t: code d'une lettre",
        "1sms: commence par un chiffre",
        "telesoin:",
        "telesoin :   ",
        f"{'a' * 41}: code trop long",
        "tele-soin: tiret",
    ],
)
def test_a_bad_clause_line_is_refused_naming_its_line(line):
    field, code, message, params = _refusal(forms.parse_clauses, f"ok: premier\n\n{line}")
    assert (field, code, params) == ("clauses", "invalid", {"line": 3})
    assert message.startswith("line %(line)s: write a short code in lowercase letters, a colon")


def test_a_clause_text_may_be_500_characters_not_501():
    assert forms.parse_clauses(f"{'a' * 40}: {'x' * 500}") == [{"key": "a" * 40, "text": "x" * 500}]
    assert _refusal(forms.parse_clauses, f"ok: {'x' * 501}")[:2] == ("clauses", "invalid")


def test_a_clause_code_used_twice_is_refused_naming_the_second_line():
    assert _refusal(forms.parse_clauses, "a1: un\nb2: deux\na1: trois") == (
        "clauses",
        "duplicate",
        "line %(line)s: this code is already used",
        {"line": 3},
    )


def test_at_least_one_and_at_most_twelve_clauses():
    assert _refusal(forms.parse_clauses, " \n\n") == (
        "clauses",
        "required",
        "give at least one clause to accept or refuse",
        {},
    )
    assert _refusal(forms.parse_clauses, None)[1] == "required"
    twelve = "\n".join(f"c{i:02}: clause {i}" for i in range(12))
    assert len(forms.parse_clauses(twelve)) == 12
    assert _refusal(forms.parse_clauses, twelve + "\nc99: une de trop") == (
        "clauses",
        "too_many",
        "at most %(n)s clauses per form",
        {"n": 12},
    )


# The draft's other fields ------------------------------------------------------------------------


def _values(**changes):
    return {"title": "Télésoin", "body": "Texte", "signers": "both", "clauses": "telesoin: J'accepte", **changes}


def test_clean_values_normalises_the_text_and_stores_the_clauses_as_json():
    clean = forms.clean_values(_values(title="  Télésoin ", body="\r\nLigne 1\r\nLigne 2\r\n"))
    assert clean == {
        "title": "Télésoin",
        "body": "Ligne 1\nLigne 2",
        "signers": "both",
        "clauses": '[{"key": "telesoin", "text": "J\'accepte"}]',
    }
    # clauses given as a list (the API) are kept as they are; signers default to one
    listed = forms.clean_values({"title": "T", "body": "B", "clauses": [{"key": "a1", "text": "é"}]})
    assert listed["signers"] == "one" and listed["clauses"] == '[{"key": "a1", "text": "é"}]'


@pytest.mark.parametrize(
    ("field", "value", "code", "message", "params"),
    [
        ("title", "", "required", "This field is required.", {}),
        ("title", "   \r\n ", "required", "This field is required.", {}),
        ("body", None, "required", "This field is required.", {}),
        ("title", "t" * 201, "too_long", "at most %(n)s characters", {"n": 200}),
        ("body", "b" * 20001, "too_long", "at most %(n)s characters", {"n": 20000}),
        ("title", "Télé\u202esoin", "bidi_control", "Contains a character that reverses the writing direction.", {}),
        ("body", "\u200b", "no_visible_character", "Write at least one visible character.", {}),
        ("signers", "three", "invalid", "choose one or both holders of parental authority", {}),
        ("clauses", "", "required", "give at least one clause to accept or refuse", {}),
        ("clauses", None, "required", "give at least one clause to accept or refuse", {}),
    ],
)
def test_each_bad_field_is_refused_with_its_code(field, value, code, message, params):
    assert _refusal(forms.clean_values, _values(**{field: value})) == (field, code, message, params)


def test_the_longest_title_and_body_are_accepted():
    clean = forms.clean_values(_values(title="t" * 200, body="b" * 20000))
    assert (len(clean["title"]), len(clean["body"])) == (200, 20000)


# Templates, versions, publication ---------------------------------------------------------------


def test_a_new_form_needs_a_fresh_well_formed_code_and_is_audited(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        for key in ("", "A_form", "x", "9lives", "a" * 41, "tele-soin"):
            assert _refusal(forms.create_template, db, key, _values()) == (
                "key",
                "invalid",
                "a short code in lowercase letters, digits and _",
                {},
            )
        assert _refusal(forms.create_template, db, "telesoin", _values()) == (
            "key",
            "duplicate",
            "a form with this code already exists",
            {},
        )
        template = forms.create_template(db, "bilan_2", _values(title="Bilan"))
        assert (template.key, template.title, template.current_version_id) == ("bilan_2", "Bilan", None)
        assert forms.draft_changed(db, template)  # never published
        audited = db.exec(
            select(AuditRecord).where(
                AuditRecord.resource_type == "consent_template", AuditRecord.resource_id == str(template.id)
            )
        ).all()
        assert [a.action for a in audited] == ["create"]


def test_lists_and_lookups(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        titles = [t.title for t in forms.templates(db)]
        assert titles == sorted(titles) and len(titles) == len(STARTER)
        archived = forms.get_template(db, world.forms["photos"])
        archived.archived = True
        db.add(archived)
        db.flush()
        assert archived.id not in {t.id for t in forms.templates(db)}
        assert archived.id in {t.id for t in forms.templates(db, include_archived=True)}
        # the refusal (a 404 for the controllers) names what was not found, for the logs
        with pytest.raises(NotFound, match="^consent form$"):
            forms.get_template(db, 999999)
        with pytest.raises(NotFound, match="^consent version$"):
            forms.get_version(db, 999999)
        version = forms.get_version(db, archived.current_version_id)
        assert (version.template_id, version.number) == (archived.id, 1)


def _sign_first(db, request_id: int) -> None:
    """The first signer of the request signs (their link, a code, each clause accepted)."""
    request = signing.get_request(db, request_id)
    version = forms.get_version(db, request.version_id)
    signer = signing.signers_of(db, request_id)[0]
    issued = links.issue(
        db,
        purpose=signing.SIGN,
        subject_type="consent_signer",
        subject_id=signer.id,
        patient_id=request.patient_id,
        expires_in=signing.SIGN_VALID,
        code_required=True,
    )
    signer.link_id = issued.link.id
    db.add(signer)
    code = links.issue_code(db, issued.link)
    signing.sign(
        db,
        issued.link,
        version_id=version.id,
        full_name="Camille Garnier",
        code=code,
        answers_form={f"clause_{c.key}": "accept" for c in forms.clauses_of(version.clauses)},
        address="192.0.2.1",
        user_agent="tests",
    )


def test_publishing_copies_the_draft_and_moves_only_pending_requests_nobody_signed(carnet_db, world):
    telesoin, recording = world.forms["telesoin"], world.forms["recording"]
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        who = owner_principal(world.clinic.id, world.owner.id)
        first = forms.get_template(db, telesoin).current_version_id
        # the minor's request, signed by one parent of two: pending, but its text was signed
        half_signed = signing.send(db, who, telesoin, world.minor).id
        _sign_first(db, half_signed)
        # the adult's first request cancelled, a second one sent, nobody signed it
        cancelled = signing.send(db, who, telesoin, world.adult).id
        signing.cancel(db, cancelled)
        unsigned = signing.send(db, who, telesoin, world.adult).id
        # another patient's request nobody signed either
        other = patient_access(db, who).register(
            {
                "last_name": "Roux",
                "first_name": "Bruno",
                "email": "bruno@example.org",
                "practitioner_id": world.owner.id,
            }
        )
        also_unsigned = signing.send(db, who, telesoin, other).id
        other_form = signing.send(db, who, recording, world.adult).id
        forms.save_draft(db, telesoin, _values(title="Télésoin (revu)", body="Nouveau texte", signers="one"))
        version = forms.publish(db, telesoin, world.owner.id)
        assert (version.number, version.title, version.body, version.signers, version.published_by) == (
            2,
            "Télésoin (revu)",
            "Nouveau texte",
            "one",
            world.owner.id,
        )
        assert version.clauses == '[{"key": "telesoin", "text": "J\'accepte"}]'
        assert version.content_hash == forms.content_hash("Télésoin (revu)", "Nouveau texte", version.clauses, "one")
        assert forms.get_template(db, telesoin).current_version_id == version.id != first
        placed = {r.id: (r.status, r.version_id) for r in db.exec(select(Request))}
        assert placed[unsigned] == placed[also_unsigned] == ("pending", version.id)
        assert placed[half_signed] == ("pending", first)
        assert placed[cancelled] == ("cancelled", first)
        assert placed[other_form][1] == forms.get_template(db, recording).current_version_id
        audited = db.exec(
            select(AuditRecord).where(
                AuditRecord.resource_type == "consent_version", AuditRecord.resource_id == str(version.id)
            )
        ).one()
        assert (audited.action, json.loads(audited.details)) == (
            "publish",
            {"template": telesoin, "number": 2, "moved_requests": 2},
        )
        # the first version is untouched: the text the parent signed
        kept = forms.get_version(db, first)
        assert (kept.number, kept.signers) == (1, "both")
        assert [v.number for v in forms.versions(db, telesoin)] == [2, 1]


def test_publishing_an_unchanged_draft_is_refused_and_any_edit_makes_it_publishable(carnet_db, world):
    with carnet_db.session(clinic_id=world.clinic.id) as db:
        db.info["principal"] = f"user:{world.owner.id}"
        template = forms.get_template(db, world.forms["care"])
        assert not forms.draft_changed(db, template)
        assert _refusal(forms.publish, db, template.id, world.owner.id) == (
            "body",
            "unchanged",
            "this text is already the published version",
            {},
        )
        assert len(db.exec(select(Version).where(Version.template_id == template.id)).all()) == 1
        saved = forms.save_draft(
            db,
            template.id,
            {
                **_values(),
                "title": template.title,
                "body": template.body,
                "signers": template.signers,
                "clauses": forms.clauses_text(template.clauses) + "\nphotos: Oui",
            },
        )
        assert forms.draft_changed(db, saved)
        assert [
            a.action
            for a in db.exec(
                select(AuditRecord).where(
                    AuditRecord.resource_type == "consent_template", AuditRecord.resource_id == str(template.id)
                )
            )
        ] == ["create", "update"]
        assert forms.publish(db, template.id, None).number == 2
        assert not forms.draft_changed(db, forms.get_template(db, template.id))
        # each publication numbers after the highest one, never after the first
        forms.save_draft(db, template.id, {**_values(), "title": "Soins, troisième version"})
        assert forms.publish(db, template.id, None).number == 3
        assert [v.number for v in forms.versions(db, template.id)] == [3, 2, 1]


def test_the_starter_forms_are_created_and_published_once(carnet_db, make_clinic, staff):
    clinic = make_clinic("cabinet-starter")
    owner = staff(("owner", "practitioner"), clinic=clinic)
    with carnet_db.session(clinic_id=clinic.id) as db:
        db.info["principal"] = f"user:{owner.id}"
        # the clinic already wrote its own "information" form (the first of the set): kept as it is
        own = forms.create_template(db, "information", _values(title="Notre notice"))
        assert forms.ensure_starter(db, owner.id) == len(STARTER) - 1
        assert forms.ensure_starter(db, owner.id) == 0
        made = {t.key: t for t in db.exec(select(Template))}
        assert set(made) == {f["key"] for f in STARTER}
        assert (made["information"].id, made["information"].title) == (own.id, "Notre notice")
        for form in STARTER[1:]:
            version = forms.get_version(db, made[form["key"]].current_version_id)
            assert (version.number, version.title, version.published_by) == (1, form["title"], owner.id)
