"""Merge patch, JSON Patch and the readable diff used by the draft workflow."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.rules.jsondoc import PatchError, diff, json_patch, merge_patch

DOC: dict[str, Any] = {
    "name": "Beer",
    "stages": [
        {"stage": "raw_materials", "inputs": []},
        {"stage": "use", "inputs": [{"key": "days", "default": {"value": 5}}]},
    ],
    "notes": ["a"],
}


def test_merge_patch() -> None:
    out = merge_patch(DOC, {"name": "Lager", "notes": None, "gwp": {"default": "AR6"}})
    assert out["name"] == "Lager" and "notes" not in out and out["gwp"] == {"default": "AR6"}
    assert DOC["name"] == "Beer"  # the original is untouched


def test_json_patch_operations() -> None:
    out = json_patch(
        DOC,
        [
            {"op": "test", "path": "/stages/1/stage", "value": "use"},
            {"op": "replace", "path": "/stages/1/inputs/0/default/value", "value": 7},
            {"op": "add", "path": "/notes/-", "value": "b"},
            {"op": "copy", "from": "/name", "path": "/title"},
            {"op": "move", "from": "/title", "path": "/label"},
            {"op": "remove", "path": "/notes/0"},
        ],
    )
    assert out["stages"][1]["inputs"][0]["default"]["value"] == 7
    assert out["notes"] == ["b"] and out["label"] == "Beer" and "title" not in out
    with pytest.raises(PatchError) as exc:
        json_patch(
            DOC, [{"op": "add", "path": "/notes/-", "value": 1}, {"op": "remove", "path": "/x"}]
        )
    assert exc.value.index == 1
    with pytest.raises(PatchError):
        json_patch(DOC, [{"op": "test", "path": "/name", "value": "Wine"}])
    with pytest.raises(PatchError):
        json_patch(DOC, [{"op": "frobnicate", "path": "/name"}])


def test_diff_matches_list_items_by_identity() -> None:
    new = json_patch(
        DOC,
        [
            {"op": "remove", "path": "/stages/0"},  # shifts the use stage to index 0
            {"op": "replace", "path": "/stages/0/inputs/0/default/value", "value": 7},
            {"op": "add", "path": "/stages/0/inputs/-", "value": {"key": "litres"}},
        ],
    )
    changes = {c.path: c for c in diff(DOC, new)}
    assert set(changes) == {
        "stages[raw_materials]",
        "stages[use].inputs[days].default.value",
        "stages[use].inputs[litres]",
    }
    assert changes["stages[use].inputs[days].default.value"].pointer == (
        "/stages/0/inputs/0/default/value"
    )
    assert changes["stages[raw_materials]"].change == "removed"
    assert changes["stages[use].inputs[days].default.value"].text() == (
        "stages[use].inputs[days].default.value: 5 → 7"
    )
    assert diff({"v": 10}, {"v": 10.0}) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(min_size=1, max_size=3), children, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(min_size=1, max_size=3), json_values, max_size=4))
def test_diff_is_empty_only_for_equal_documents(doc: dict[str, Any]) -> None:
    assert diff(doc, doc) == []
    changed = {**doc, "__extra__": 1}
    assert [c.change for c in diff(doc, changed)] == ["added"]
