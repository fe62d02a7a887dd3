"""An association's rule edited at random never breaks the service.

Hypothesis edits a draft of the beer rule with JSON Patch operations (values replaced by wrong
types, negative, empty or huge ones; parts removed, copied or moved), publishes it when the
service accepts it, and then calculates the beer example under the new version. Every answer on
the way must be a success or a 4xx problem with a ``code``: a rule document the schema accepts
must never make a calculation fail with a server error, and a rejected edit changes nothing.
Bounded by ``PCF_FUZZ_MAX_EXAMPLES`` (default 100), derandomized.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from app.accounts.principal import OrgKind, Role
from app.background.loader import BackgroundData
from app.core.settings import DEFAULT_SECRET
from app.rules.seed import seed_rules
from tests.accounts.accounts_helpers import bearer, make_org_and_client, mint
from tests.footprints.conftest import example
from tests.footprints.test_input_fuzz import BAD_VALUES, FUZZ, _paths

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
GLASS = "beer-lager-640ml-returnable-glass.json"


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@st.composite
def rule_edits(draw: Any, document: dict[str, Any]) -> list[dict[str, Any]]:
    paths = [p for p in _paths(document) if p[0] not in ("code", "schema_version")]
    ops: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        path = _pointer(draw(st.sampled_from(paths)))
        kind = draw(st.sampled_from(["replace", "remove", "copy", "move", "add"]))
        if kind in ("replace", "add"):
            value = draw(st.sampled_from([*BAD_VALUES, 0.5, 1, "A", ["x"], {"x": 1}]))
            ops.append({"op": kind, "path": path, "value": value})
        elif kind == "remove":
            ops.append({"op": "remove", "path": path})
        else:
            other = _pointer(draw(st.sampled_from(paths)))
            ops.append({"op": kind, "from": other, "path": path})
    return ops


@pytest.mark.slow
def test_edited_rules_publish_or_4xx_and_never_break_a_calculation(
    db_url: str,
    data_dir: Path,
    background: BackgroundData,
    client_factory: Callable[..., TestClient],
) -> None:
    seed_rules(db_url)
    client = client_factory(data_dir, rate_limit_per_minute=0)
    client.app.state.background = background  # type: ignore[attr-defined]
    assoc = make_org_and_client(db_url, "Brewers", OrgKind.association, Role.association, ("beer",))
    maker = make_org_and_client(db_url, "Acme", OrgKind.manufacturer, Role.manufacturer)
    a, m = bearer(mint(assoc, key=DEFAULT_SECRET)), bearer(mint(maker, key=DEFAULT_SECRET))
    body = example(GLASS)
    body["product"].pop("pcr_version", None)  # the latest published version
    document = client.get("/v1/pcrs/beer/versions/1.0.0", headers=m).json()["document"]
    seen: dict[str, set[int]] = {"patch": set(), "publish": set(), "footprint": set()}

    def ok_or_problem(step: str, r: Any) -> bool:
        seen[step].add(r.status_code)
        assert r.status_code < 500, (step, r.status_code, r.text[:3000])
        if r.status_code >= 400:
            assert isinstance(r.json().get("code"), str), (step, r.text[:2000])
            return False
        return True

    @FUZZ
    @given(ops=rule_edits(document))
    def check(ops: list[dict[str, Any]]) -> None:
        d = client.post("/v1/pcrs/beer/drafts", headers=a, json={})
        assert d.status_code == 201, d.text
        draft = d.json()["id"]
        r = client.patch(f"/v1/pcrs/beer/drafts/{draft}", headers={**a, **JSON_PATCH}, json=ops)
        if ok_or_problem("patch", r):
            p = client.post(f"/v1/pcrs/beer/drafts/{draft}/publish", headers=a, json={})
            if ok_or_problem("publish", p):
                ok_or_problem("footprint", client.post("/v1/footprints", headers=m, json=body))
                return
        else:  # a refused edit changed nothing
            assert (
                client.get(f"/v1/pcrs/beer/drafts/{draft}", headers=a).json()["document"]
                == client.get(f"/v1/pcrs/beer/versions/{d.json()['based_on']}", headers=m).json()[
                    "document"
                ]
            )
        assert client.delete(f"/v1/pcrs/beer/drafts/{draft}", headers=a).status_code == 204

    check()
    assert seen["patch"] & {200} and any(s >= 400 for s in seen["patch"]), seen
    assert seen["footprint"], seen  # some edits were published and calculated with
