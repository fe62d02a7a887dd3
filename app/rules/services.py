"""The rule registry: seeding, reading, the association workflow (draft → publish → deprecate),
diffs and bill-of-materials checks. Every write is audited.

Functions take the session and the acting principal; they never commit (the request's unit of
work does) but flush where a database constraint must answer inside the request.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts import audit
from app.accounts.principal import Principal
from app.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from app.rules.bom import BomInput
from app.rules.interpreter import (
    PROJECT_RULES_DIR,
    CheckReport,
    Rule,
    load_reference_rules,
    parse_rule,
)
from app.rules.jsondoc import Change, PatchError, diff, json_patch, merge_patch
from app.rules.models import PcrRule, PcrVersion, VersionStatus, utcnow
from app.rules.schema import RuleDocument

SEMVER = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
FIRST_VERSION = "1.0.0"
SEED_ACTOR = "seed"
Bump = Literal["major", "minor", "patch"]


# ============================================================================ helpers
def document_of(doc: RuleDocument) -> dict[str, Any]:
    """The stored form of a rule document (JSON, no nulls)."""
    return doc.model_dump(mode="json", exclude_none=True)


def content_hash(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def parse_semver(text: str) -> tuple[int, int, int] | None:
    m = SEMVER.match(text)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def bump_version(current: tuple[int, int, int], bump: Bump) -> tuple[int, int, int]:
    major, minor, patch = current
    if bump == "major":
        return (major + 1, 0, 0)
    if bump == "minor":
        return (major, minor + 1, 0)
    return (major, minor, patch + 1)


def version_state(v: PcrVersion) -> dict[str, Any]:
    return {
        "code": v.rule_code,
        "id": str(v.id),
        "version": v.version,
        "status": v.status,
        "based_on": v.based_on,
        "content_hash": v.content_hash,
        "deprecation_reason": v.deprecation_reason,
    }


_RULE_CACHE: OrderedDict[str, Rule] = OrderedDict()
_RULE_CACHE_SIZE = 64


def compiled(v: PcrVersion) -> Rule:
    """The interpreter for a stored version (cached by content hash: versions never change)."""
    rule = _RULE_CACHE.get(v.content_hash)
    if rule is None:
        rule = Rule.from_data(v.document)
        _RULE_CACHE[v.content_hash] = rule
        if len(_RULE_CACHE) > _RULE_CACHE_SIZE:
            _RULE_CACHE.popitem(last=False)
    else:
        _RULE_CACHE.move_to_end(v.content_hash)
    return rule


# ============================================================================ seeding
def seed_reference_rules(session: Session, directory: Path = PROJECT_RULES_DIR) -> list[str]:
    """Version 1.0.0 of every rule file whose code is not in the database yet (idempotent)."""
    docs = load_reference_rules(directory)
    existing = set(session.exec(select(PcrRule.code)).all())
    seeded: list[str] = []
    now = utcnow()
    for code, doc in docs.items():
        if code in existing:
            continue
        document = document_of(doc)
        session.add(PcrRule(code=code, name=doc.name, product_group=doc.product_group))
        session.flush()  # the rule row first: the version refers to it
        v = PcrVersion(
            rule_code=code,
            status=VersionStatus.published.value,
            version=FIRST_VERSION,
            major=1,
            minor=0,
            patch=0,
            document=document,
            content_hash=content_hash(document),
            created_by=SEED_ACTOR,
            created_at=now,
            updated_at=now,
            published_at=now,
            published_by=SEED_ACTOR,
            note=f"Reference rule, seeded from product_rules/{code}.yaml",
        )
        session.add(v)
        _forget_latest(code)
        audit.record(
            session,
            None,
            resource="pcr_version",
            resource_id=f"{code}@{FIRST_VERSION}",
            action="seed",
            before=None,
            after=version_state(v),
            actor=SEED_ACTOR,
        )
        seeded.append(code)
    session.flush()
    return seeded


# ============================================================================ reading
def get_rule(session: Session, code: str) -> PcrRule:
    rule = session.get(PcrRule, code)
    if rule is None:
        raise NotFound(f"No product category rule {code}.")
    return rule


def _released(session: Session, code: str) -> list[PcrVersion]:
    """Published and deprecated versions, newest first."""
    stmt = (
        select(PcrVersion)
        .where(PcrVersion.rule_code == code)
        .where(col(PcrVersion.status) != VersionStatus.draft.value)
        .order_by(
            col(PcrVersion.major).desc(), col(PcrVersion.minor).desc(), col(PcrVersion.patch).desc()
        )
    )
    return list(session.exec(stmt).all())


def list_rules(session: Session) -> list[tuple[PcrRule, list[PcrVersion]]]:
    rules = session.exec(select(PcrRule).order_by(col(PcrRule.code))).all()
    return [(r, _released(session, r.code)) for r in rules]


def latest(versions: list[PcrVersion]) -> PcrVersion | None:
    """The newest published (not deprecated) version of a newest-first list."""
    return next((v for v in versions if v.status == VersionStatus.published.value), None)


def latest_published(session: Session, code: str) -> PcrVersion:
    get_rule(session, code)
    v = latest(_released(session, code))
    if v is None:
        raise NotFound(
            f"Rule {code} has no published version that is not deprecated; ask for a version.",
            code="no_published_version",
        )
    return v


def list_versions(session: Session, code: str) -> list[PcrVersion]:
    get_rule(session, code)
    return _released(session, code)


def get_version(session: Session, code: str, version: str) -> PcrVersion:
    get_rule(session, code)
    v = session.exec(
        select(PcrVersion).where(PcrVersion.rule_code == code).where(PcrVersion.version == version)
    ).first()
    if v is None:
        raise NotFound(f"Rule {code} has no version {version}.")
    return v


def resolve_for_footprint(session: Session, code: str, version: str | None = None) -> PcrVersion:
    """The version a new footprint uses: the one asked for (even deprecated), else the latest
    published one."""
    return get_version(session, code, version) if version else latest_published(session, code)


@dataclass(frozen=True)
class VersionRef:
    """What a footprint needs of a rule version: its identity, not its document."""

    id: uuid.UUID
    rule_code: str
    version: str
    content_hash: str


def _ref_queries() -> tuple[Any, Any]:
    """(by version, newest published) as prebuilt statements with bound parameters."""
    t = PcrVersion.__table__  # type: ignore[attr-defined]
    base = sa_select(t.c.id, t.c.rule_code, t.c.version, t.c.content_hash).where(
        t.c.rule_code == bindparam("code")
    )
    by_version = base.where(t.c.version == bindparam("version"))
    # The newest published version: the first published one of ``_released``'s order.
    newest = (
        base.where(t.c.status == VersionStatus.published.value)
        .order_by(t.c.major.desc(), t.c.minor.desc(), t.c.patch.desc())
        .limit(1)
    )
    return by_version, newest


_BY_VERSION, _NEWEST = _ref_queries()

# Version references a footprint resolved, per database (keyed by its URL):
# * (code, version) → the reference, kept: a released version never changes;
# * (code, None) → the newest published version, kept LATEST_TTL_SECONDS and dropped at once in
#   this process when a version of the rule is published or deprecated here. Another worker
#   process picks up a newly published version within LATEST_TTL_SECONDS; every footprint
#   names the version it used either way.
LATEST_TTL_SECONDS = 2.0
_REF_CACHE: dict[tuple[str, str, str | None], tuple[VersionRef, float]] = {}
_REF_CACHE_SIZE = 1024


def forget_cached_versions() -> None:
    """Empty ``_REF_CACHE`` (for tests that purge the database; released versions are never
    deleted by the service)."""
    _REF_CACHE.clear()


def _forget_latest(code: str) -> None:
    for key in [k for k in _REF_CACHE if k[1] == code and k[2] is None]:
        _REF_CACHE.pop(key, None)


def resolve_ref_for_footprint(
    session: Session, code: str, version: str | None = None
) -> VersionRef:
    """``resolve_for_footprint`` in one small query (no rule document, no ORM objects), or none
    when the reference is cached (see ``_REF_CACHE``).

    Not found: ``resolve_for_footprint`` answers, with its own errors."""
    key = (str(session.get_bind().engine.url), code, version or None)
    hit = _REF_CACHE.get(key)
    now = time.monotonic()
    if hit is not None and (version or now - hit[1] < LATEST_TTL_SECONDS):
        return hit[0]
    stmt, params = (
        (_BY_VERSION, {"code": code, "version": version})
        if version
        else (
            _NEWEST,
            {"code": code},
        )
    )
    row = session.connection().execute(stmt, params).first()
    if row is None:
        v = resolve_for_footprint(session, code, version)  # raises NotFound as it always did
        return VersionRef(v.id, v.rule_code, v.version or "", v.content_hash)
    ref = VersionRef(row.id, row.rule_code, row.version or "", row.content_hash)
    if len(_REF_CACHE) >= _REF_CACHE_SIZE:
        _REF_CACHE.clear()
    _REF_CACHE[key] = (ref, now)
    return ref


def compiled_ref(session: Session, ref: VersionRef) -> Rule:
    """``compiled`` for a ``VersionRef``: the document is read only when the cache misses."""
    rule = _RULE_CACHE.get(ref.content_hash)
    if rule is not None:
        _RULE_CACHE.move_to_end(ref.content_hash)
        return rule
    v = session.get(PcrVersion, ref.id)
    if v is None:  # pragma: no cover - versions are never deleted
        raise NotFound(f"Rule {ref.rule_code} has no version {ref.version}.")
    return compiled(v)


# ============================================================================ drafts
def _require_owner(principal: Principal, code: str) -> None:
    if not principal.owns_family(code):
        raise Forbidden(
            f"Only the association that owns the product family {code} can change its rule.",
            code="not_family_owner",
        )


def _draft_row(
    session: Session, principal: Principal, code: str, draft_id: uuid.UUID
) -> PcrVersion:
    v = session.get(PcrVersion, draft_id)
    # Another association's draft answers exactly like a missing one.
    if v is None or v.rule_code != code or v.owner_org_id != principal.org_id:
        raise NotFound(f"No draft {draft_id} of rule {code}.")
    return v


def _editable(v: PcrVersion) -> PcrVersion:
    if v.status != VersionStatus.draft.value:
        raise Conflict(
            f"This draft was published as version {v.version}: a published version never "
            "changes. Create a new draft.",
            code="version_immutable",
        )
    return v


def create_draft(
    session: Session, principal: Principal, code: str, from_version: str | None = None
) -> PcrVersion:
    get_rule(session, code)
    _require_owner(principal, code)
    base = get_version(session, code, from_version) if from_version else None
    if base is None:
        versions = _released(session, code)
        base = latest(versions) or (versions[0] if versions else None)
    if base is None:
        raise NotFound(f"Rule {code} has no version to start a draft from.")
    now = utcnow()
    draft = PcrVersion(
        rule_code=code,
        status=VersionStatus.draft.value,
        based_on=base.version,
        document=json.loads(json.dumps(base.document)),
        content_hash=base.content_hash,
        owner_org_id=principal.org_id,
        created_by=principal.client_id,
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    session.flush()
    audit.record(
        session,
        principal,
        resource="pcr_draft",
        resource_id=str(draft.id),
        action="create",
        before=None,
        after=version_state(draft),
    )
    return draft


def list_drafts(session: Session, principal: Principal, code: str) -> list[PcrVersion]:
    get_rule(session, code)
    stmt = (
        select(PcrVersion)
        .where(PcrVersion.rule_code == code)
        .where(PcrVersion.status == VersionStatus.draft.value)
        .where(PcrVersion.owner_org_id == principal.org_id)
        .order_by(col(PcrVersion.created_at))
    )
    return list(session.exec(stmt).all())


def get_draft(session: Session, principal: Principal, code: str, draft_id: uuid.UUID) -> PcrVersion:
    get_rule(session, code)
    return _draft_row(session, principal, code, draft_id)


PatchKind = Literal["merge", "json_patch"]


def apply_patch(document: dict[str, Any], body: Any, kind: PatchKind) -> dict[str, Any]:
    """The patched document, or 422 naming the operation that failed."""
    if kind == "json_patch":
        if not isinstance(body, list):
            raise ValidationFailed(
                "A JSON Patch body is an array of operations.",
                errors=[FieldError("", "json_patch_expected", "expected an array")],
            )
        try:
            result = json_patch(document, body)
        except PatchError as exc:
            pointer = f"/{exc.index}" + (f"/{exc.field}" if exc.field else "")
            raise ValidationFailed(
                f"Operation {exc.index} of the patch cannot be applied.",
                errors=[FieldError(pointer, "patch_failed", str(exc))],
            ) from None
    else:
        if not isinstance(body, dict):
            raise ValidationFailed(
                "A merge patch body is a JSON object.",
                errors=[FieldError("", "object_expected", "expected an object")],
            )
        result = merge_patch(document, body)
    if not isinstance(result, dict):
        raise ValidationFailed(
            "The patched rule is not an object.",
            errors=[FieldError("", "object_expected", "expected an object")],
        )
    return result


def check_document(code: str, document: dict[str, Any]) -> RuleDocument:
    """A complete rule document, or 422 listing every problem (pointers into the document)."""
    problems: list[FieldError] = []
    if document.get("code") != code:
        problems.append(FieldError("/code", "code_immutable", f"the code of this rule is {code}"))
    doc, found = parse_rule(document)
    problems.extend(p for p in found if p.pointer != "/code")
    if problems or doc is None:
        n = len(problems)
        raise ValidationFailed(
            f"The rule has {n} problem{'s' if n != 1 else ''}; see errors[] (pointers into the "
            "rule document).",
            code="rule_invalid",
            errors=problems,
        )
    return doc


def update_draft(
    session: Session,
    principal: Principal,
    code: str,
    draft_id: uuid.UUID,
    body: Any,
    kind: PatchKind,
) -> PcrVersion:
    get_rule(session, code)
    draft = _editable(_draft_row(session, principal, code, draft_id))
    _require_owner(principal, code)
    before = version_state(draft)
    patched = apply_patch(draft.document, body, kind)
    doc = check_document(code, patched)
    document = document_of(doc)
    draft.document = document
    draft.content_hash = content_hash(document)
    draft.updated_at = utcnow()
    session.add(draft)
    session.flush()
    audit.record(
        session,
        principal,
        resource="pcr_draft",
        resource_id=str(draft.id),
        action="update",
        before=before,
        after=version_state(draft),
    )
    return draft


def delete_draft(session: Session, principal: Principal, code: str, draft_id: uuid.UUID) -> None:
    get_rule(session, code)
    draft = _editable(_draft_row(session, principal, code, draft_id))
    _require_owner(principal, code)
    before = version_state(draft)
    session.delete(draft)
    session.flush()
    audit.record(
        session,
        principal,
        resource="pcr_draft",
        resource_id=str(draft_id),
        action="delete",
        before=before,
        after=None,
    )


def publish(
    session: Session,
    principal: Principal,
    code: str,
    draft_id: uuid.UUID,
    bump: Bump = "minor",
    note: str | None = None,
) -> PcrVersion:
    rule = get_rule(session, code)
    draft = _editable(_draft_row(session, principal, code, draft_id))
    _require_owner(principal, code)
    doc = check_document(code, draft.document)
    released = _released(session, code)
    created = _aware(draft.created_at)
    newer = [v for v in released if v.published_at and _aware(v.published_at) > created]
    if newer:
        raise Conflict(
            f"Version {newer[0].version} was published after this draft was made from "
            f"{draft.based_on}: create a new draft from it and apply your changes there.",
            code="stale_draft",
        )
    current = latest(released)
    if current is not None and current.content_hash == draft.content_hash:
        raise Conflict(
            f"The draft is identical to version {current.version}: nothing to publish.",
            code="no_changes",
        )
    head = max((v.semver for v in released), default=(0, 0, 0))
    new = bump_version(head, bump) if released else (1, 0, 0)
    before = version_state(draft)
    now = utcnow()
    draft.status = VersionStatus.published.value
    _forget_latest(code)
    draft.major, draft.minor, draft.patch = new
    draft.version = "{}.{}.{}".format(*new)
    draft.published_at = now
    draft.published_by = principal.client_id
    draft.updated_at = now
    draft.note = note
    rule.name = doc.name
    rule.product_group = doc.product_group
    session.add(draft)
    session.add(rule)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"Version {draft.version} of {code} was published at the same time; retry.",
            code="version_exists",
        ) from None
    audit.record(
        session,
        principal,
        resource="pcr_version",
        resource_id=f"{code}@{draft.version}",
        action="publish",
        before=before,
        after=version_state(draft),
    )
    return draft


def _aware(dt: Any) -> Any:
    # SQLite returns naive datetimes (stored in UTC).
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


def deprecate(
    session: Session, principal: Principal, code: str, version: str, reason: str
) -> PcrVersion:
    get_rule(session, code)
    _require_owner(principal, code)
    v = get_version(session, code, version)
    if v.status == VersionStatus.deprecated.value:
        raise Conflict(
            f"Version {version} of {code} is already deprecated.", code="already_deprecated"
        )
    before = version_state(v)
    v.status = VersionStatus.deprecated.value
    _forget_latest(code)
    v.deprecated_at = utcnow()
    v.deprecation_reason = reason
    session.add(v)
    session.flush()
    audit.record(
        session,
        principal,
        resource="pcr_version",
        resource_id=f"{code}@{version}",
        action="deprecate",
        before=before,
        after=version_state(v),
    )
    return v


def refuse_change(session: Session, code: str, version: str) -> None:
    """Any attempt to change or delete a published version: 409 (404 if there is none)."""
    v = get_version(session, code, version)
    raise Conflict(
        f"Version {v.version} of {code} is {v.status}: a published version never changes. "
        f"Create a draft (POST /v1/pcrs/{code}/drafts) and publish a new version.",
        code="version_immutable",
    )


# ============================================================================ diff
@dataclass(frozen=True)
class Diff:
    code: str
    from_ref: str
    to_ref: str
    changes: list[Change]


def _readable(session: Session, principal: Principal, code: str, ref: str) -> PcrVersion:
    if parse_semver(ref):
        return get_version(session, code, ref)
    try:
        draft_id = uuid.UUID(ref)
    except ValueError:
        raise ValidationFailed(
            "A version is MAJOR.MINOR.PATCH or a draft id.",
            errors=[FieldError("", "version_expected", f"'{ref}' is not a version or draft id")],
        ) from None
    return _draft_row(session, principal, code, draft_id)


def diff_versions(
    session: Session, principal: Principal, code: str, from_ref: str, to_ref: str
) -> Diff:
    get_rule(session, code)
    errors: list[FieldError] = []
    found: dict[str, PcrVersion] = {}
    for name, ref in (("from", from_ref), ("to", to_ref)):
        try:
            found[name] = _readable(session, principal, code, ref)
        except ValidationFailed as exc:
            errors.extend(FieldError(f"query:{name}", e.code, e.message) for e in exc.errors)
        except NotFound as exc:
            errors.append(FieldError(f"query:{name}", exc.code, exc.detail))
    if errors:
        if all(e.code == "not_found" for e in errors):
            raise NotFound("; ".join(e.message for e in errors), errors=errors)
        raise ValidationFailed("from and to must name versions of the rule.", errors=errors)
    return Diff(code, from_ref, to_ref, diff(found["from"].document, found["to"].document))


# ============================================================================ validate
def validate_bom(
    session: Session, code: str, version: str | None, bom: BomInput
) -> tuple[PcrVersion, CheckReport]:
    v = resolve_for_footprint(session, code, version)
    return v, compiled(v).check_bom(bom)
