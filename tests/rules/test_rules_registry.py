"""The rule registry over HTTP, on SQLite and PostgreSQL: reading, the association workflow,
immutability (API 409 and database triggers), diff, validate and the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.accounts.models import AuditEntry
from app.core.database import Database
from app.core.tenancy import unscoped
from app.rules.seed import seed_rules
from tests.rules.conftest import RulesApi

SIX = [
    "beer",
    "passenger-car-tyre",
    "refrigerator",
    "room-air-conditioner",
    "truck-bus-tyre",
    "washing-machine",
]


def _new_draft(api: RulesApi, who: str = "beer_assoc", code: str = "beer") -> dict[str, Any]:
    r = api.post(who, f"/v1/pcrs/{code}/drafts")
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _edit(api: RulesApi, draft: dict[str, Any], body: Any, **kw: Any) -> Any:
    return api.patch(
        "beer_assoc", f"/v1/pcrs/{draft['code']}/drafts/{draft['id']}", json=body, **kw
    )


def _audit(db_url: str, resource: str) -> list[AuditEntry]:
    db = Database(db_url)
    try:
        with db.session() as s:
            unscoped(s)
            return list(
                s.query(AuditEntry).filter(AuditEntry.resource == resource).order_by(AuditEntry.id)
            )
    finally:
        db.dispose()


def test_seeded_rules_are_readable_by_everyone(rules_api: RulesApi) -> None:
    for who in ("maker", "viewer", "admin", "beer_assoc"):
        r = rules_api.get(who, "/v1/pcrs")
        assert r.status_code == 200
        body = r.json()
        assert [d["code"] for d in body["data"]] == SIX and body["count"] == 6
        assert all(d["latest_version"] == "1.0.0" for d in body["data"])
    r = rules_api.get("viewer", "/v1/pcrs/refrigerator")
    assert r.status_code == 200
    v = r.json()
    assert (v["version"], v["status"]) == ("1.0.0", "published")
    assert v["document"]["functional_unit"]["unit"] == "item"
    assert rules_api.get("anonymous", "/v1/pcrs").status_code == 401
    assert rules_api.get("maker", "/v1/pcrs/no-such-rule").status_code == 404
    assert rules_api.get("maker", "/v1/pcrs/beer/versions/9.9.9").status_code == 404
    assert rules_api.get("maker", "/v1/pcrs/beer/versions/latest").status_code == 422
    # seeding again changes nothing
    assert seed_rules(rules_api.db_url) == []
    assert len(_audit(rules_api.db_url, "pcr_version")) == 6


def test_draft_edit_publish_diff_and_audit(rules_api: RulesApi) -> None:
    draft = _new_draft(rules_api)
    assert draft["based_on"] == "1.0.0" and draft["status"] == "draft"

    # an invalid edit: every problem at once, pointers into the rule document
    bad = _edit(
        rules_api,
        draft,
        {
            "code": "lager",
            "cut_off": {"per_item_max": 5},
            "gwp": {"default": "AR4"},
            "functional_unit": {"unit": "parsecs"},
        },
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    pointers = {e["pointer"] for e in bad.json()["errors"]}
    assert {"/code", "/cut_off/per_item_max", "/gwp/default"} <= pointers
    assert bad.json()["code"] == "rule_invalid"

    # a valid merge patch and a JSON Patch
    r = _edit(rules_api, draft, {"cut_off": {"min_coverage": 0.98}})
    assert r.status_code == 200, r.text
    assert r.json()["document"]["cut_off"]["min_coverage"] == 0.98
    r = _edit(
        rules_api,
        draft,
        [
            {"op": "test", "path": "/stages/1/stage", "value": "manufacturing"},
            {"op": "replace", "path": "/stages/1/primary_data_required", "value": False},
            {"op": "add", "path": "/notes/-", "value": "Reviewed by the technical committee"},
        ],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 200, r.text
    failed = _edit(
        rules_api,
        draft,
        [{"op": "replace", "path": "/no/such/place", "value": 1}],
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert failed.status_code == 422 and failed.json()["errors"][0]["pointer"] == "/0/path"

    # publish: a new minor version by default
    r = rules_api.post(
        "beer_assoc",
        f"/v1/pcrs/beer/drafts/{draft['id']}/publish",
        json={"note": "stricter coverage"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["based_on"]) == ("1.1.0", "1.0.0")
    assert rules_api.get("maker", "/v1/pcrs/beer").json()["version"] == "1.1.0"
    versions = rules_api.get("maker", "/v1/pcrs/beer/versions").json()
    assert [v["version"] for v in versions["data"]] == ["1.1.0", "1.0.0"]

    # the diff, field by field
    d = rules_api.get("viewer", "/v1/pcrs/beer/diff", params={"from": "1.0.0", "to": "1.1.0"})
    assert d.status_code == 200
    changes = {c["path"]: c for c in d.json()["changes"]}
    assert changes["cut_off.min_coverage"]["before"] == 0.97
    assert changes["cut_off.min_coverage"]["after"] == 0.98
    assert changes["stages[manufacturing].primary_data_required"]["after"] is False
    assert "cut_off.min_coverage: 0.97 → 0.98" in d.json()["text"]
    assert d.json()["count"] == 3

    # the published draft is now a published version: it never changes
    again = _edit(rules_api, draft, {"name": "changed"})
    assert again.status_code == 409 and again.json()["code"] == "version_immutable"

    actions = [(e.action, e.resource_id) for e in _audit(rules_api.db_url, "pcr_draft")]
    assert actions == [("create", draft["id"]), ("update", draft["id"]), ("update", draft["id"])]
    published = _audit(rules_api.db_url, "pcr_version")[-1]
    assert (published.action, published.resource_id) == ("publish", "beer@1.1.0")
    assert published.before_hash != published.after_hash


@pytest.mark.parametrize(("bump", "expected"), [("major", "2.0.0"), ("patch", "1.0.1")])
def test_publish_bumps(rules_api: RulesApi, bump: str, expected: str) -> None:
    draft = _new_draft(rules_api, code="refrigerator")
    assert _edit(rules_api, draft, {"name": "Refrigerator (rev)"}).status_code == 200
    r = rules_api.post(
        "beer_assoc", f"/v1/pcrs/refrigerator/drafts/{draft['id']}/publish", json={"bump": bump}
    )
    assert r.status_code == 201 and r.json()["version"] == expected
    listed = {d["code"]: d for d in rules_api.get("maker", "/v1/pcrs").json()["data"]}
    assert listed["refrigerator"]["name"] == "Refrigerator (rev)"


def test_publishing_needs_a_change_and_a_fresh_base(rules_api: RulesApi) -> None:
    unchanged = _new_draft(rules_api)
    r = rules_api.post("beer_assoc", f"/v1/pcrs/beer/drafts/{unchanged['id']}/publish")
    assert r.status_code == 409 and r.json()["code"] == "no_changes"
    first, second = _new_draft(rules_api), _new_draft(rules_api)
    assert _edit(rules_api, first, {"name": "Beer A"}).status_code == 200
    assert _edit(rules_api, second, {"name": "Beer B"}).status_code == 200
    ok = rules_api.post("beer_assoc", f"/v1/pcrs/beer/drafts/{first['id']}/publish")
    assert ok.status_code == 201
    stale = rules_api.post("beer_assoc", f"/v1/pcrs/beer/drafts/{second['id']}/publish")
    assert stale.status_code == 409 and stale.json()["code"] == "stale_draft"
    # discard it
    assert rules_api.delete("beer_assoc", f"/v1/pcrs/beer/drafts/{second['id']}").status_code == 204
    assert rules_api.get("beer_assoc", f"/v1/pcrs/beer/drafts/{second['id']}").status_code == 404


def test_drafts_belong_to_the_owning_association(rules_api: RulesApi) -> None:
    draft = _new_draft(rules_api)
    path = f"/v1/pcrs/beer/drafts/{draft['id']}"
    assert rules_api.get("beer_assoc", path).status_code == 200
    assert rules_api.get("beer_assoc", "/v1/pcrs/beer/drafts").json()["count"] == 1
    # another association: the draft does not exist for it; nor may it start one for beer
    assert rules_api.get("tyre_assoc", path).status_code == 404
    assert rules_api.get("tyre_assoc", "/v1/pcrs/beer/drafts").json()["count"] == 0
    r = rules_api.post("tyre_assoc", "/v1/pcrs/beer/drafts")
    assert r.status_code == 403 and r.json()["code"] == "not_family_owner"
    # manufacturers, viewers, admins: no drafts at all
    for who in ("maker", "viewer", "admin"):
        assert rules_api.get(who, path).status_code == 403
        assert rules_api.post(who, "/v1/pcrs/beer/drafts").status_code == 403
    # a draft is not a version: not listed, not readable as latest, diff only for its owner
    assert [
        v["version"] for v in rules_api.get("maker", "/v1/pcrs/beer/versions").json()["data"]
    ] == ["1.0.0"]
    q = {"from": "1.0.0", "to": draft["id"]}
    assert rules_api.get("beer_assoc", "/v1/pcrs/beer/diff", params=q).status_code == 200
    assert rules_api.get("maker", "/v1/pcrs/beer/diff", params=q).status_code == 404


def test_published_versions_never_change(rules_api: RulesApi) -> None:
    path = "/v1/pcrs/beer/versions/1.0.0"
    for method in ("patch", "delete"):
        r = getattr(rules_api, method)(
            "beer_assoc", path, **({"json": {}} if method == "patch" else {})
        )
        assert r.status_code == 409 and r.json()["code"] == "version_immutable"
    assert rules_api.patch("admin", path, json={}).status_code == 409
    assert rules_api.patch("maker", path, json={}).status_code == 403

    # the database refuses it too, whoever asks
    db = Database(rules_api.db_url)
    try:
        for sql in (
            "UPDATE pcr_version SET document = '{}' WHERE version = '1.0.0'",
            "UPDATE pcr_version SET status = 'draft', version = NULL WHERE version = '1.0.0'",
            "DELETE FROM pcr_version WHERE version = '1.0.0'",
        ):
            with pytest.raises((DBAPIError, IntegrityError)), db.engine.begin() as c:
                c.execute(text(sql))
        # deprecating is the one change allowed
        with db.engine.begin() as c:
            c.execute(
                text(
                    "UPDATE pcr_version SET status = 'deprecated', deprecation_reason = 'x' "
                    "WHERE rule_code = 'washing-machine'"
                )
            )
        with pytest.raises((DBAPIError, IntegrityError)), db.engine.begin() as c:
            c.execute(
                text(
                    "UPDATE pcr_version SET status = 'published' WHERE rule_code = 'washing-machine'"
                )
            )
    finally:
        db.dispose()


def test_deprecated_versions_stay_readable_and_are_used_only_by_version(
    rules_api: RulesApi,
) -> None:
    draft = _new_draft(rules_api, code="refrigerator")
    assert _edit(rules_api, draft, {"name": "Refrigerator 1.1"}).status_code == 200
    rules_api.post("beer_assoc", f"/v1/pcrs/refrigerator/drafts/{draft['id']}/publish")
    r = rules_api.post(
        "beer_assoc",
        "/v1/pcrs/refrigerator/versions/1.1.0/deprecate",
        json={"reason": "label formula wrong"},
    )
    assert r.status_code == 200 and r.json()["status"] == "deprecated"
    again = rules_api.post(
        "beer_assoc", "/v1/pcrs/refrigerator/versions/1.1.0/deprecate", json={"reason": "x"}
    )
    assert again.status_code == 409
    assert (
        rules_api.post(
            "tyre_assoc", "/v1/pcrs/refrigerator/versions/1.0.0/deprecate", json={"reason": "x"}
        ).status_code
        == 403
    )
    # latest skips the deprecated version; it stays readable by version
    assert rules_api.get("maker", "/v1/pcrs/refrigerator").json()["version"] == "1.0.0"
    old = rules_api.get("maker", "/v1/pcrs/refrigerator/versions/1.1.0").json()
    assert old["status"] == "deprecated" and old["deprecation_reason"] == "label formula wrong"
    summary = {d["code"]: d for d in rules_api.get("maker", "/v1/pcrs").json()["data"]}
    assert summary["refrigerator"]["deprecated"] == ["1.1.0"]
    # validate (and, later, footprints): the latest published unless a version is asked for
    bom = {
        "boundary": "cradle_to_gate",
        "lines": [
            {
                "name": "steel",
                "stage": "raw_materials",
                "amount": 30,
                "unit": "kg",
                "dataset": "s",
                "material_group": "steel",
            },
            {
                "name": "power",
                "stage": "manufacturing",
                "category": "electricity",
                "amount": 40,
                "unit": "kWh",
                "dataset": "cn-elec:lca-national-2024",
            },
        ],
    }
    r = rules_api.post("maker", "/v1/pcrs/refrigerator/validate", json=bom)
    assert r.json()["rule"] == {"code": "refrigerator", "version": "1.0.0", "status": "published"}
    r = rules_api.post("maker", "/v1/pcrs/refrigerator/validate?version=1.1.0", json=bom)
    assert r.json()["rule"]["status"] == "deprecated" and r.json()["valid"] is True
    deprecations = [e for e in _audit(rules_api.db_url, "pcr_version") if e.action == "deprecate"]
    assert [e.resource_id for e in deprecations] == ["refrigerator@1.1.0"]


def test_validate_lists_every_problem(rules_api: RulesApi) -> None:
    bom = {
        "inputs": {"label_energy_per_day": {"value": 0.8, "unit": "kWh/year/m"}},
        "lines": [
            {
                "name": "steel",
                "stage": "raw_materials",
                "amount": 30,
                "unit": "kWh",
                "dataset": "s",
            },
            {
                "name": "bolts",
                "stage": "raw_materials",
                "amount": 0.1,
                "unit": "kg",
                "excluded": True,
                "estimated_share": 0.03,
            },
        ],
    }
    r = rules_api.post("maker", "/v1/pcrs/refrigerator/validate", json=bom)
    assert r.status_code == 200
    body = r.json()
    assert body["valid"] is False and body["boundary"] == "cradle_to_grave"
    got = {(e["pointer"], e["code"]) for e in body["errors"]}
    assert {
        ("/inputs/label_energy_per_day/unit", "unit_mismatch"),
        ("/inputs/refrigerant", "missing_input"),
        ("/lines/0/unit", "unit_mismatch"),
        ("/lines/0/material_group", "missing_field"),
        ("/lines/1/estimated_share", "cutoff_item_exceeds"),
        ("/lines", "stage_missing_lines"),
    } <= got
    assert body["inputs"]["service_life"] == {
        "stage": "use",
        "origin": "default",
        "value": 10.0,
        "unit": "year",
        "source": body["inputs"]["service_life"]["source"],
        "confidence": "source",
    }
    assert body["cut_off"]["excluded_share"] == 0.03
    # a body that does not fit the BOM schema is a 422 problem with pointers
    r = rules_api.post("maker", "/v1/pcrs/refrigerator/validate", json={"lines": [{"name": "x"}]})
    assert r.status_code == 422
    assert {"/lines/0/stage", "/lines/0/amount", "/lines/0/unit"} <= {
        e["pointer"] for e in r.json()["errors"]
    }


def test_named_models_are_listed(rules_api: RulesApi) -> None:
    r = rules_api.get("viewer", "/v1/pcr-models")
    assert r.status_code == 200
    names = {m["name"] for m in r.json()}
    assert {"appliance_label_energy", "tyre_rolling_resistance", "eol_route_shares"} <= names


def test_validate_applies_the_bom_limits(
    db_url: str, client_factory: Any, empty_data_dir: Any
) -> None:
    from app.accounts.principal import OrgKind, Role
    from tests.accounts.accounts_helpers import bearer, make_org_and_client, mint

    seed_rules(db_url)
    client = client_factory(empty_data_dir, max_bom_lines=2, rate_limit_per_minute=0)
    maker = make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.manufacturer)
    line = {"name": "malt", "stage": "raw_materials", "amount": 1, "unit": "kg", "dataset": "m"}
    r = client.post(
        "/v1/pcrs/beer/validate", json={"lines": [line] * 3}, headers=bearer(mint(maker))
    )
    assert r.status_code == 422 and r.json()["code"] == "limit_bom_lines"


def test_creating_and_publishing_are_idempotent(rules_api: RulesApi) -> None:
    key = {"Idempotency-Key": "draft-1"}
    first = rules_api.client.post(
        "/v1/pcrs/beer/drafts", headers={**rules_api.headers["beer_assoc"], **key}
    )
    again = rules_api.client.post(
        "/v1/pcrs/beer/drafts", headers={**rules_api.headers["beer_assoc"], **key}
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotency-Replayed"] == "true"
    assert rules_api.get("beer_assoc", "/v1/pcrs/beer/drafts").json()["count"] == 1
    assert _edit(rules_api, first.json(), {"name": "Beer (rev)"}).status_code == 200
    path = f"/v1/pcrs/beer/drafts/{first.json()['id']}/publish"
    key = {**rules_api.headers["beer_assoc"], "Idempotency-Key": "publish-1"}
    one = rules_api.client.post(path, headers=key, json={"bump": "patch"})
    two = rules_api.client.post(path, headers=key, json={"bump": "patch"})
    assert one.status_code == two.status_code == 201
    assert one.json()["version"] == two.json()["version"] == "1.0.1"


def test_startup_hook_seeds_the_rules(tmp_path: Any) -> None:
    from app.cli import startup_hooks
    from app.core.migrate import upgrade_to_head
    from tests.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    upgrade_to_head(url)
    startup_hooks(make_settings(url, tmp_path))
    startup_hooks(make_settings(url, tmp_path))  # the second start seeds nothing more
    db = Database(url)
    try:
        with db.engine.connect() as c:
            rows = c.execute(text("SELECT rule_code, version, status FROM pcr_version")).all()
    finally:
        db.dispose()
    assert sorted(rows) == [(code, "1.0.0", "published") for code in SIX]
