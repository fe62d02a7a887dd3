"""Export services: PACT sharing (which footprint, to which client), the PACT view of a footprint
(with its version chain), CBAM supplier data and data pack. Functions take the session; they never
commit (the request does)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.accounts import audit
from app.accounts.models import ApiClient, Organisation
from app.accounts.principal import Principal
from app.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from app.core.secretbox import seal
from app.exports.cbam import datapack
from app.exports.models import CbamSupplierData, PactRecipient, PactShare
from app.exports.pact.mapping import Catalogue, NotMappable, PactSource, to_product_footprint
from app.exports.pact.mapping_v2 import to_product_footprint_v2
from app.exports.pact.outbound import TargetRefused, check_public
from app.exports.schemas import CbamInput, RecipientIn
from app.footprints.models import Footprint
from app.rules.models import PcrRule


def get_footprint(session: Session, principal: Principal, footprint_id: uuid.UUID) -> Footprint:
    fp = session.get(Footprint, footprint_id)
    if fp is None or fp.org_id != principal.org_id:
        raise NotFound(f"No footprint {footprint_id}.")
    return fp


def _as_utc(v: datetime) -> datetime:
    return v if v.tzinfo else v.replace(tzinfo=UTC)


# ============================================================================ version chain
def chain_info(
    session: Session, fps: Sequence[Footprint]
) -> tuple[dict[uuid.UUID, list[uuid.UUID]], set[uuid.UUID]]:
    """For each footprint: its predecessors (nearest first), and which ones have a successor
    (a recalculation deprecates the footprint it recalculates)."""
    preceding: dict[uuid.UUID, list[uuid.UUID]] = {}
    cache: dict[uuid.UUID, uuid.UUID | None] = {f.id: f.recalculated_from for f in fps}
    for f in fps:
        out: list[uuid.UUID] = []
        cur = f.recalculated_from
        while cur is not None and cur not in out and len(out) < 1000:
            out.append(cur)
            if cur not in cache:
                row = session.get(Footprint, cur)
                cache[cur] = row.recalculated_from if row is not None else None
            cur = cache[cur]
        preceding[f.id] = out
    ids = [f.id for f in fps]
    deprecated: set[uuid.UUID] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = session.exec(
            select(Footprint.recalculated_from).where(col(Footprint.recalculated_from).in_(chunk))
        ).all()
        deprecated |= {r for r in rows if r is not None}
    return preceding, deprecated


def _rule_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.exec(select(PcrRule).where(col(PcrRule.code).in_(wanted))).all()
    return {r.code: r.name for r in rows}


def _product_cn(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.exec(
        select(CbamSupplierData).where(col(CbamSupplierData.footprint_id).in_(list(ids)))
    ).all()
    return {
        r.footprint_id: r.data["product_cn_code"] for r in rows if r.data.get("product_cn_code")
    }


def pact_documents(
    session: Session,
    fps: Sequence[Footprint],
    org_names: dict[uuid.UUID, str],
    catalogue: Catalogue | None,
) -> list[dict[str, Any]]:
    """The PACT ProductFootprints of ``fps`` (same order); raises ``NotMappable``."""
    preceding, deprecated = chain_info(session, fps)
    names = _rule_names(session, {f.pcr_code for f in fps})
    cns = _product_cn(session, [f.id for f in fps])
    return [
        to_product_footprint(
            PactSource(
                id=f.id,
                created_at=_as_utc(f.created_at),
                company_name=org_names.get(f.org_id, str(f.org_id)),
                org_id=f.org_id,
                pcr_code=f.pcr_code,
                product_name=f.product_name,
                normalised_input=f.normalised_input,
                result=f.result,
                preceding_ids=preceding.get(f.id, []),
                deprecated=f.id in deprecated,
                rule_name=names.get(f.pcr_code),
                cn_code=cns.get(f.id),
                catalogue=catalogue,
            )
        )
        for f in fps
    ]


def not_exportable(exc: NotMappable | ValueError) -> ValidationFailed:
    return ValidationFailed(
        f"This footprint cannot be exported as a PACT footprint: {exc}",
        code="not_exportable",
        errors=[FieldError("", "not_exportable", str(exc))],
    )


def pact_preview(
    session: Session,
    principal: Principal,
    footprint_id: uuid.UUID,
    catalogue: Catalogue | None,
    spec: str = "3.0",
) -> dict[str, Any]:
    """The footprint as a PACT ProductFootprint: v3 (``spec="3.0"``) or, for legacy recipients,
    v2.3 (``spec="2.3"``, derived from the v3 document)."""
    fp = get_footprint(session, principal, footprint_id)
    try:
        doc = pact_documents(session, [fp], {principal.org_id: principal.org_name}, catalogue)[0]
        return to_product_footprint_v2(doc, fp.result) if spec == "2.3" else doc
    except (NotMappable, ValueError) as exc:
        raise not_exportable(exc) from exc


# ============================================================================ shares
def _client_exists(session: Session, client_id: str) -> bool:
    row = session.exec(
        select(ApiClient.id).where(
            ApiClient.client_id == client_id, col(ApiClient.revoked_at).is_(None)
        )
    ).first()
    return row is not None


def share(
    session: Session,
    principal: Principal,
    footprint_id: uuid.UUID,
    client_id: str,
    catalogue: Catalogue | None,
) -> PactShare:
    fp = get_footprint(session, principal, footprint_id)
    if not _client_exists(session, client_id):
        raise ValidationFailed(
            f"No active API client {client_id}.",
            code="client_not_found",
            errors=[
                FieldError("/client_id", "client_not_found", "no active API client with this id")
            ],
        )
    try:  # a footprint PACT cannot represent is refused now, not when a recipient asks
        pact_documents(session, [fp], {principal.org_id: principal.org_name}, catalogue)
    except (NotMappable, ValueError) as exc:
        raise not_exportable(exc) from exc
    existing = session.exec(
        select(PactShare).where(
            PactShare.footprint_id == footprint_id, PactShare.client_id == client_id
        )
    ).first()
    if existing is not None:
        raise Conflict(
            f"Footprint {footprint_id} is already shared with {client_id}.", code="already_shared"
        )
    row = PactShare(
        org_id=principal.org_id,
        footprint_id=footprint_id,
        client_id=client_id,
        created_by=principal.client_id,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("Shared concurrently; try again.", code="already_shared") from exc
    audit.record(
        session,
        principal,
        resource="pact_share",
        resource_id=f"{footprint_id}:{client_id}",
        action="create",
        before=None,
        after={"footprint_id": str(footprint_id), "client_id": client_id},
    )
    return row


def list_shares(session: Session, principal: Principal, footprint_id: uuid.UUID) -> list[PactShare]:
    get_footprint(session, principal, footprint_id)
    return list(
        session.exec(
            select(PactShare)
            .where(PactShare.footprint_id == footprint_id)
            .order_by(col(PactShare.created_at), col(PactShare.client_id))
        ).all()
    )


def unshare(
    session: Session, principal: Principal, footprint_id: uuid.UUID, client_id: str
) -> None:
    get_footprint(session, principal, footprint_id)
    row = session.exec(
        select(PactShare).where(
            PactShare.footprint_id == footprint_id, PactShare.client_id == client_id
        )
    ).first()
    if row is None:
        raise NotFound(f"Footprint {footprint_id} is not shared with {client_id}.")
    session.delete(row)
    audit.record(
        session,
        principal,
        resource="pact_share",
        resource_id=f"{footprint_id}:{client_id}",
        action="delete",
        before={"footprint_id": str(footprint_id), "client_id": client_id},
        after=None,
    )


# ============================================================================ recipients
def _recipient_state(row: PactRecipient) -> dict[str, Any]:
    """What the audit trail records of a registration: never the secret itself."""
    return {
        "events_url": row.events_url,
        "auth": None
        if row.auth_client_id is None
        else {"client_id": row.auth_client_id, "auth_url": row.auth_url, "client_secret": "set"},
    }


def put_recipient(
    session: Session,
    principal: Principal,
    client_id: str,
    body: RecipientIn,
    secret_key: str,
    private_targets: bool = False,
) -> PactRecipient:
    """Register (or replace) where and how events for ``client_id`` are delivered; a body
    without ``auth`` leaves no stored credentials. Unless ``private_targets``, the URLs must
    resolve to public addresses (checked again at every delivery)."""
    if not _client_exists(session, client_id):
        raise NotFound(f"No active API client {client_id}.", code="client_not_found")
    if not private_targets:
        urls = {"/events_url": body.events_url}
        if body.auth is not None and body.auth.auth_url:
            urls["/auth/auth_url"] = body.auth.auth_url
        refused = []
        for pointer, url in urls.items():
            try:
                check_public(url)
            except TargetRefused as exc:
                refused.append(FieldError(pointer, "target_not_public", str(exc)))
        if refused:
            raise ValidationFailed(
                "The URL must reach a public address.", code="target_not_public", errors=refused
            )
    row = session.exec(select(PactRecipient).where(PactRecipient.client_id == client_id)).first()
    before = _recipient_state(row) if row else None
    if row is None:
        row = PactRecipient(
            org_id=principal.org_id,
            client_id=client_id,
            events_url=body.events_url,
            created_by=principal.client_id,
        )
    row.events_url = body.events_url
    auth = body.auth
    row.auth_url = auth.auth_url if auth else None
    row.auth_client_id = auth.client_id if auth else None
    row.auth_secret_sealed = seal(secret_key, auth.client_secret) if auth else None
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        resource="pact_recipient",
        resource_id=client_id,
        action="update" if before else "create",
        before=before,
        after=_recipient_state(row),
    )
    return row


def list_recipients(session: Session, principal: Principal) -> list[PactRecipient]:
    return list(
        session.exec(
            select(PactRecipient)
            .where(PactRecipient.org_id == principal.org_id)
            .order_by(col(PactRecipient.client_id))
        ).all()
    )


def delete_recipient(session: Session, principal: Principal, client_id: str) -> None:
    row = session.exec(select(PactRecipient).where(PactRecipient.client_id == client_id)).first()
    if row is None:
        raise NotFound(f"No events endpoint registered for {client_id}.")
    session.delete(row)
    audit.record(
        session,
        principal,
        resource="pact_recipient",
        resource_id=client_id,
        action="delete",
        before=_recipient_state(row),
        after=None,
    )


# ============================================================================ PACT host (cross-org)
def shared_with(
    session: Session, client_id: str, as_of: datetime | None = None
) -> list[tuple[Footprint, str]]:
    """Footprints shared with ``client_id`` (with their organisation's name), oldest share first.
    ``session`` must be unscoped: a recipient reads other organisations' footprints."""
    stmt = (
        select(Footprint, Organisation.name, PactShare.created_at)
        .join(PactShare, col(PactShare.footprint_id) == col(Footprint.id))
        .join(Organisation, col(Organisation.id) == col(Footprint.org_id))
        .where(PactShare.client_id == client_id)
    )
    if as_of is not None:
        stmt = stmt.where(col(PactShare.created_at) <= as_of)
    rows = session.exec(stmt.order_by(col(PactShare.created_at), col(Footprint.id))).all()
    seen: set[uuid.UUID] = set()
    out = []
    for fp, name, _ in rows:
        if fp.id not in seen:
            seen.add(fp.id)
            out.append((fp, name))
    return out


# ============================================================================ CBAM
def _cbam_row(session: Session, footprint_id: uuid.UUID) -> CbamSupplierData | None:
    return session.exec(
        select(CbamSupplierData).where(CbamSupplierData.footprint_id == footprint_id)
    ).first()


def put_cbam(
    session: Session, principal: Principal, footprint_id: uuid.UUID, body: CbamInput
) -> CbamSupplierData:
    fp = get_footprint(session, principal, footprint_id)
    data = body.model_dump(mode="json", exclude_none=True)
    unknown = datapack.unknown_lines(fp.normalised_input, data)
    if unknown:
        raise ValidationFailed(
            f"{len(unknown)} precursor line(s) are not lines of the footprint's bill of materials.",
            errors=[
                FieldError(
                    f"/precursors/{i}/line",
                    "line_not_found",
                    f"{line!r} is neither a JSON pointer (/lines/0) nor a ref of a BOM line",
                )
                for i, line in unknown
            ],
        )
    row = _cbam_row(session, footprint_id)
    before = row.data if row else None
    if row is None:
        row = CbamSupplierData(
            org_id=principal.org_id,
            footprint_id=footprint_id,
            data=data,
            updated_by=principal.client_id,
        )
    else:
        row.data = data
        row.updated_by = principal.client_id
        row.updated_at = datetime.now(UTC)
    session.add(row)
    session.flush()
    audit.record(
        session,
        principal,
        resource="cbam_supplier_data",
        resource_id=str(footprint_id),
        action="update" if before else "create",
        before=before,
        after=data,
    )
    return row


def get_cbam(session: Session, principal: Principal, footprint_id: uuid.UUID) -> CbamSupplierData:
    get_footprint(session, principal, footprint_id)
    row = _cbam_row(session, footprint_id)
    if row is None:
        raise NotFound(f"No CBAM supplier data for footprint {footprint_id}.")
    return row


def cbam_pack(session: Session, principal: Principal, footprint_id: uuid.UUID) -> dict[str, Any]:
    fp = get_footprint(session, principal, footprint_id)
    row = _cbam_row(session, footprint_id)
    return datapack.build(
        footprint_id=str(fp.id),
        product=fp.normalised_input.get("product") or {},
        pcr_code=fp.pcr_code,
        normalised_input=fp.normalised_input,
        cbam=row.data if row else None,
    )
