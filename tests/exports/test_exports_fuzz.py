"""Mutated export inputs never get a 5xx: CBAM supplier data (then its data pack and XLSX),
PACT events and PACT list filters. Each answer is a success or a 4xx with an error body (PACT:
``{code, message}``; the rest: a problem with ``code``). Bounded by ``PCF_FUZZ_MAX_EXAMPLES``
(default 100), derandomized."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.exports.pact.events import FILTER_KEYS
from tests.exports.conftest import CAN, REFRIGERATOR, ExportApi
from tests.exports.test_cbam import _fridge_with_parts, _supplier_data
from tests.footprints.test_input_fuzz import BAD_VALUES, FUZZ, _mutate

CE = {"Content-Type": "application/cloudevents+json"}


def _coded(r: Any, key: str = "code") -> None:
    assert r.status_code < 500, (r.status_code, r.text[:2000])
    if r.status_code >= 400:
        assert isinstance(r.json().get(key), str), r.text[:2000]


@pytest.mark.slow
def test_mutated_cbam_supplier_data(exp: ExportApi) -> None:
    fid = exp.footprint(REFRIGERATOR, body=_fridge_with_parts())
    path = f"/v1/footprints/{fid}/cbam/supplier-data"
    valid = _supplier_data()

    @FUZZ
    @given(data=st.data())
    def check(data: Any) -> None:
        body = _mutate(copy.deepcopy(valid), data.draw)
        r = exp.put("maker", path, json=body)
        _coded(r)
        if r.status_code == 200:  # stored: the pack and the workbook are built from it
            _coded(exp.get("viewer", f"/v1/footprints/{fid}/cbam"))
            _coded(exp.get("viewer", f"/v1/footprints/{fid}/cbam.xlsx"))

    check()


def _event() -> dict[str, Any]:
    return {
        "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
        "specversion": "1.0",
        "id": str(uuid.UUID(int=7)),
        "source": "//buyer.example/3/events",
        "time": "2025-03-05T17:31:00Z",
        "data": {"productId": ["urn:gtin:4712345060507"], "geography": ["CN"]},
    }


@pytest.mark.slow
def test_mutated_pact_events_and_filters(exp: ExportApi) -> None:
    fp = exp.footprint(CAN)
    exp.share(fp)
    buyer = exp.creds["buyer"].client_id
    exp.put(
        "maker", f"/v1/pact/recipients/{buyer}", json={"events_url": "http://127.0.0.1:9/3/events"}
    )
    keys = [*FILTER_KEYS, "limit", "offset", "x-pcf-asof", "bogus"]

    @FUZZ
    @given(data=st.data())
    def check(data: Any) -> None:
        event = _mutate(_event(), data.draw)
        _coded(exp.post("buyer", "/3/events", json=event, headers=CE))
        params = [
            (data.draw(st.sampled_from(keys)), str(data.draw(st.sampled_from([*BAD_VALUES, "CN"]))))
            for _ in range(data.draw(st.integers(1, 4)))
        ]
        _coded(exp.get("buyer", "/3/footprints", params=params))

    check()
