"""JSON documents: merge patch (RFC 7396), JSON Patch (RFC 6902) and a readable diff.

The diff matches list items by their identity (``key``, ``stage``, ``model``) where a list has
one, so a change reads ``stages[use].inputs[service_life].default.value: 10 → 12`` rather than a
shifted index.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

IDENTITY_KEYS = ("key", "stage", "model", "code")


class PatchError(ValueError):
    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


# ============================================================================ pointers
def split_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"'{pointer}' is not a JSON pointer (it must start with /)")
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]


def join_pointer(parts: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for p in parts[:-1]:
        node = _child(node, p)
    return node, parts[-1]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        if token not in node:
            raise KeyError(token)
        return node[token]
    if isinstance(node, list):
        idx = _index(node, token, allow_end=False)
        return node[idx]
    raise KeyError(token)


def _index(node: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(node)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise KeyError(token)
    idx = int(token)
    if idx > len(node) or (idx == len(node) and not allow_end):
        raise KeyError(token)
    return idx


def get_at(doc: Any, pointer: str) -> Any:
    node = doc
    for p in split_pointer(pointer):
        node = _child(node, p)
    return node


# ============================================================================ patches
def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge, ``null`` removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def json_patch(doc: Any, ops: list[Any]) -> Any:
    """RFC 6902 (add, remove, replace, move, copy, test) on a copy of ``doc``."""
    out = copy.deepcopy(doc)
    for i, op in enumerate(ops):
        if not isinstance(op, Mapping):
            raise PatchError(i, "", "each operation is an object")
        name = op.get("op")
        if name not in ("add", "remove", "replace", "move", "copy", "test"):
            raise PatchError(i, "op", "op must be add, remove, replace, move, copy or test")
        path = op.get("path")
        if not isinstance(path, str):
            raise PatchError(i, "path", "path must be a JSON pointer")
        try:
            parts = split_pointer(path)
            if name in ("add", "replace", "test") and "value" not in op:
                raise PatchError(i, "value", f"{name} needs a value")
            if name == "test":
                if get_at(out, path) != op["value"]:
                    raise PatchError(i, "value", f"test failed at {path}")
            elif name == "remove":
                out = _remove(out, parts)
            elif name == "replace":
                get_at(out, path)
                out = _remove(out, parts)
                out = _add(out, parts, copy.deepcopy(op["value"]))
            elif name == "add":
                out = _add(out, parts, copy.deepcopy(op["value"]))
            else:
                source = op.get("from")
                if not isinstance(source, str):
                    raise PatchError(i, "from", f"{name} needs from")
                value = copy.deepcopy(get_at(out, source))
                if name == "move":
                    if path.startswith(source + "/"):
                        raise PatchError(i, "path", "cannot move a value into itself")
                    out = _remove(out, split_pointer(source))
                out = _add(out, parts, value)
        except (KeyError, IndexError, ValueError) as exc:
            if isinstance(exc, PatchError):
                raise
            raise PatchError(i, "path", f"{path}: no such location ({exc})") from None
    return out


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise KeyError(last)
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise KeyError("the whole document cannot be removed")
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        if last not in parent:
            raise KeyError(last)
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, allow_end=False)]
    else:
        raise KeyError(last)
    return doc


# ============================================================================ diff
@dataclass(frozen=True)
class Change:
    path: str  # readable: stages[use].inputs[service_life].default.value
    pointer: str  # JSON pointer into the newer document (the older one for removals)
    change: str  # added | removed | changed
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "pointer": self.pointer, "change": self.change}
        if self.change != "added":
            out["before"] = self.before
        if self.change != "removed":
            out["after"] = self.after
        return out

    def text(self) -> str:
        if self.change == "added":
            return f"{self.path}: added {_short(self.after)}"
        if self.change == "removed":
            return f"{self.path}: removed (was {_short(self.before)})"
        return f"{self.path}: {_short(self.before)} → {_short(self.after)}"


def _short(v: Any, limit: int = 120) -> str:
    import json

    text = json.dumps(v, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _identity(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, Mapping) for i in items):
        return None
    for k in IDENTITY_KEYS:
        values = [i.get(k) for i in items]
        if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return k
    return None


def diff(a: Any, b: Any) -> list[Change]:
    """Field-by-field differences from ``a`` to ``b``."""
    out: list[Change] = []
    _diff(a, b, "", [], [], out)
    return out


def _label(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _diff(
    a: Any,
    b: Any,
    path: str,
    ptr_a: list[str | int],
    ptr_b: list[str | int],
    out: list[Change],
) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for k in list(a) + [k for k in b if k not in a]:
            p = _label(path, str(k))
            if k not in b:
                out.append(Change(p, join_pointer([*ptr_a, k]), "removed", before=a[k]))
            elif k not in a:
                out.append(Change(p, join_pointer([*ptr_b, k]), "added", after=b[k]))
            else:
                _diff(a[k], b[k], p, [*ptr_a, k], [*ptr_b, k], out)
        return
    if isinstance(a, list) and isinstance(b, list):
        ident = _identity(a) if a else _identity(b)
        if ident and (not b or _identity(b) == ident) and (not a or _identity(a) == ident):
            ia = {item[ident]: n for n, item in enumerate(a)}
            ib = {item[ident]: n for n, item in enumerate(b)}
            for name, n in ia.items():
                p = f"{path}[{name}]"
                if name not in ib:
                    out.append(Change(p, join_pointer([*ptr_a, n]), "removed", before=a[n]))
                else:
                    m = ib[name]
                    _diff(a[n], b[m], p, [*ptr_a, n], [*ptr_b, m], out)
            for name, m in ib.items():
                if name not in ia:
                    out.append(
                        Change(f"{path}[{name}]", join_pointer([*ptr_b, m]), "added", after=b[m])
                    )
            return
        if a != b:
            out.append(Change(path, join_pointer(ptr_b), "changed", before=a, after=b))
        return
    if a != b or type(a) is not type(b):
        if a == b and isinstance(a, int | float) and isinstance(b, int | float):
            return  # 10 and 10.0 are the same value
        out.append(Change(path, join_pointer(ptr_b), "changed", before=a, after=b))
