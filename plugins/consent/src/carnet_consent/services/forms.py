"""The clinic's forms: drafts edited by owners, each publication an immutable version with the
SHA-256 of its canonical content. Editing never changes a version: publishing makes a new one,
and pending requests nobody has signed yet move to it (the signer is shown the new text)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from carnet_core.plugin_api import N_, CarnetSession, FieldError, InvalidInput, NotFound, record, text_problem, utcnow

from carnet_consent.models import SIGNERS, Request, Signature, Template, Version
from carnet_consent.starter import STARTER

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
CLAUSE_RE = re.compile(r"^([a-z][a-z0-9_]{1,39})\s*:\s*(.+)$")
BODY_LIMIT = 20000
TITLE_LIMIT = 200
CLAUSE_LIMIT = 500
MAX_CLAUSES = 12


@dataclass(frozen=True)
class Clause:
    key: str
    text: str


def clauses_of(raw: str) -> list[Clause]:
    return [Clause(c["key"], c["text"]) for c in json.loads(raw or "[]")]


def clauses_text(raw: str) -> str:
    """The clauses as the owner edits them: one per line, `key: text`."""
    return "\n".join(f"{c.key}: {c.text}" for c in clauses_of(raw))


def parse_clauses(value: str) -> list[dict[str, str]]:
    """`key: text` lines -> [{"key", "text"}]; InvalidInput naming the first bad line."""
    found: list[dict[str, str]] = []
    for number, line in enumerate((value or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = CLAUSE_RE.match(line)
        if match is None or len(match.group(2)) > CLAUSE_LIMIT:
            raise InvalidInput({"clauses": FieldError(
                "invalid", N_("line %(line)s: write a short code in lowercase letters, a colon, then the clause's "
                              "text (e.g. telesoin: I agree to video sessions)"), line=number)})
        if any(c["key"] == match.group(1) for c in found):
            raise InvalidInput({"clauses": FieldError("duplicate", N_("line %(line)s: this code is already used"),
                                                      line=number)})
        found.append({"key": match.group(1), "text": match.group(2).strip()})
    if not found:
        raise InvalidInput({"clauses": FieldError("required", N_("give at least one clause to accept or refuse"))})
    if len(found) > MAX_CLAUSES:
        raise InvalidInput({"clauses": FieldError("too_many", N_("at most %(n)s clauses per form"), n=MAX_CLAUSES)})
    return found


def content_hash(title: str, body: str, clauses: str, signers: str) -> str:
    canonical = json.dumps({"title": title, "body": body, "clauses": json.loads(clauses), "signers": signers},
                           ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _check_text(field: str, value: str, limit: int, required: bool = True) -> str:
    value = (value or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise InvalidInput({field: FieldError("required", N_("This field is required."))})
    if len(value) > limit:
        raise InvalidInput({field: FieldError("too_long", N_("at most %(n)s characters"), n=limit)})
    problem = text_problem(value, required=required) if value else None
    if problem:
        raise InvalidInput({field: FieldError(problem.code, problem.message)})
    return value


def templates(db: CarnetSession, include_archived: bool = False) -> list[Template]:
    stmt = select(Template).order_by(Template.title)
    if not include_archived:
        stmt = stmt.where(col(Template.archived).is_(False))
    return list(db.exec(stmt))


def get_template(db: CarnetSession, template_id: int) -> Template:
    found = db.exec(select(Template).where(Template.id == template_id)).first()
    if found is None:
        raise NotFound("consent form")
    return found


def get_version(db: CarnetSession, version_id: int) -> Version:
    found = db.exec(select(Version).where(Version.id == version_id)).first()
    if found is None:
        raise NotFound("consent version")
    return found


def versions(db: CarnetSession, template_id: int) -> list[Version]:
    return list(db.exec(select(Version).where(Version.template_id == template_id).order_by(col(Version.number).desc())))


def clean_values(values: dict[str, Any]) -> dict[str, str]:
    title = _check_text("title", str(values.get("title") or ""), TITLE_LIMIT)
    body = _check_text("body", str(values.get("body") or ""), BODY_LIMIT)
    signers = str(values.get("signers") or "one")
    if signers not in SIGNERS:
        raise InvalidInput({"signers": FieldError("invalid", N_("choose one or both holders of parental authority"))})
    raw = values.get("clauses")
    clauses = raw if isinstance(raw, list) else parse_clauses(str(raw or ""))
    return {"title": title, "body": body, "signers": signers, "clauses": json.dumps(clauses, ensure_ascii=False)}


def create_template(db: CarnetSession, key: str, values: dict[str, Any]) -> Template:
    if not KEY_RE.match(key or ""):
        raise InvalidInput({"key": FieldError("invalid", N_("a short code in lowercase letters, digits and _"))})
    if db.exec(select(Template.id).where(Template.key == key)).first() is not None:
        raise InvalidInput({"key": FieldError("duplicate", N_("a form with this code already exists"))})
    clean = clean_values(values)
    template = Template(key=key, **clean)
    db.add(template)
    db.flush()
    record(db, action="create", resource_type="consent_template", resource_id=template.id)
    return template


def save_draft(db: CarnetSession, template_id: int, values: dict[str, Any]) -> Template:
    template = get_template(db, template_id)
    clean = clean_values(values)
    for name, value in clean.items():
        setattr(template, name, value)
    template.updated_at = utcnow()
    db.add(template)
    db.flush()
    record(db, action="update", resource_type="consent_template", resource_id=template.id)
    return template


def draft_changed(db: CarnetSession, template: Template) -> bool:
    if template.current_version_id is None:
        return True
    current = get_version(db, template.current_version_id)
    return current.content_hash != content_hash(template.title, template.body, template.clauses, template.signers)


def publish(db: CarnetSession, template_id: int, user_id: int | None) -> Version:
    """Publish the draft as a new immutable version (refused when it equals the current one)."""
    template = get_template(db, template_id)
    digest = content_hash(template.title, template.body, template.clauses, template.signers)
    if template.current_version_id is not None and not draft_changed(db, template):
        raise InvalidInput({"body": FieldError("unchanged", N_("this text is already the published version"))})
    last = db.exec(select(Version.number).where(Version.template_id == template.id)
                   .order_by(col(Version.number).desc())).first()
    version = Version(template_id=template.id, number=(last or 0) + 1, title=template.title, body=template.body,
                      clauses=template.clauses, signers=template.signers, content_hash=digest, published_by=user_id)
    db.add(version)
    db.flush()
    template.current_version_id = version.id
    db.add(template)
    moved = 0
    for request in db.exec(select(Request).where(Request.template_id == template.id, Request.status == "pending")):
        signed = db.exec(select(Signature.id).where(Signature.request_id == request.id)).first()
        if signed is None:  # nobody signed yet: the signers see the new text
            request.version_id = version.id  # type: ignore[assignment]
            db.add(request)
            moved += 1
    db.flush()
    record(db, action="publish", resource_type="consent_version", resource_id=version.id,
           details={"template": template.id, "number": version.number, "moved_requests": moved})
    return version


def ensure_starter(db: CarnetSession, user_id: int | None = None) -> int:
    """Create and publish the French starter forms the clinic does not have yet. Returns how many."""
    existing = set(db.exec(select(Template.key)))
    count = 0
    for form in STARTER:
        if form["key"] in existing:
            continue
        template = create_template(db, form["key"], form)
        publish(db, template.id, user_id)  # type: ignore[arg-type]
        count += 1
    return count
