"""The PACT v3 host, walking the conformance cases of exports.md §2.5: authentication with good and
bad credentials (1–2), GetFootprint (3), ListFootprints (4), pagination (5), invalid token on list
and get (6–7), unknown id (8), asynchronous RequestCreated → RequestFulfilled (12–13) and →
RequestRejected (14), PublishedEvent (15), events with an invalid token (16), filters (20–39),
malformed PublishedEvent (40). Events go to a local receiver on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.exports.conftest import CAN, GLASS, REFRIGERATOR, TYRE, ExportApi
from tests.exports.pact_helpers import fast_delivery, outbound, wait_for
from tests.exports.pact_schema import assert_valid

CE = {"Content-Type": "application/cloudevents+json"}


class Receiver:
    """A PACT events endpoint on 127.0.0.1 that records what it gets; it can fail on purpose."""

    def __init__(self, fail_first: int = 0, always_fail: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls = 0
        self.fail_first = fail_first
        self.always_fail = always_fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.calls += 1
                if receiver.always_fail or receiver.calls <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.events.append(
                    {"content_type": self.headers.get("Content-Type"), "body": json.loads(body)}
                )
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/3/events"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[..., Receiver]]:
    made: list[Receiver] = []

    def make(**kw: Any) -> Receiver:
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def _event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": f"org.wbcsd.pact.ProductFootprint.{event_type}.3",
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "//buyer.example/3/events",
        "time": "2025-03-05T17:31:00Z",
        "data": data,
    }


def _shared(exp: ExportApi, *names: str) -> list[str]:
    ids = [exp.footprint(n) for n in names]
    for i in ids:
        exp.share(i)
    return ids


# ---------------------------------------------------------------------------- 1–2
def test_1_2_authenticate_with_good_and_bad_credentials(exp: ExportApi) -> None:
    buyer = exp.creds["buyer"]
    r = exp.client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=buyer.basic)
    assert r.status_code == 200, r.text
    token = r.json()
    assert token["token_type"].lower() == "bearer" and token["expires_in"] > 0
    ids = _shared(exp, CAN)
    got = exp.client.get(
        f"/3/footprints/{ids[0]}", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert got.status_code == 200
    bad = exp.client.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(buyer.client_id, "wrong-secret"),
    )
    assert bad.status_code in (400, 401)
    assert bad.json()["error"] == "invalid_client"


# ---------------------------------------------------------------------------- 3, 4, 8
def test_3_4_8_get_and_list_only_what_is_shared(exp: ExportApi) -> None:
    ids = _shared(exp, CAN, GLASS, REFRIGERATOR)
    not_shared = exp.footprint(TYRE)
    r = exp.get("buyer", "/3/footprints")
    assert r.status_code == 200
    data = r.json()["data"]
    assert [pf["id"] for pf in data] == ids  # at least 2 PCFs (conformance prerequisite)
    for pf in data:
        assert_valid(pf)
    one = exp.get("buyer", f"/3/footprints/{ids[0]}")
    assert one.status_code == 200
    assert one.json()["data"] == data[0]
    assert_valid(one.json()["data"])
    for missing in (str(uuid.uuid4()), not_shared):
        r = exp.get("buyer", f"/3/footprints/{missing}")
        assert r.status_code == 404
        assert r.json() == {
            "code": "NotFound",
            "message": "The requested footprint could not be found.",
        }
    # another client of the same customer organisation sees nothing: shares are per client
    assert exp.get("stranger", "/3/footprints").json() == {"data": []}
    assert exp.get("stranger", f"/3/footprints/{ids[0]}").status_code == 404
    # the owner's own clients are not recipients either
    assert exp.get("maker", "/3/footprints").json() == {"data": []}
    bad_id = exp.get("buyer", "/3/footprints/not-a-uuid")
    assert bad_id.status_code == 400 and bad_id.json()["code"] == "BadRequest"


def test_unsharing_hides_the_footprint(exp: ExportApi) -> None:
    (fid,) = _shared(exp, CAN)
    shares = exp.get("viewer", f"/v1/footprints/{fid}/pact/shares").json()
    assert [s["client_id"] for s in shares] == [exp.creds["buyer"].client_id]
    again = exp.post(
        "maker",
        f"/v1/footprints/{fid}/pact/shares",
        json={"client_id": exp.creds["buyer"].client_id},
    )
    assert again.status_code == 409
    r = exp.delete("maker", f"/v1/footprints/{fid}/pact/shares/{exp.creds['buyer'].client_id}")
    assert r.status_code == 204
    assert exp.get("buyer", f"/3/footprints/{fid}").status_code == 404
    unknown = exp.post(
        "maker", f"/v1/footprints/{fid}/pact/shares", json={"client_id": "pcf_nobody"}
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "client_not_found"
    # a rival cannot share Acme's footprint
    assert (
        exp.post(
            "rival", f"/v1/footprints/{fid}/pact/shares", json={"client_id": "pcf_x"}
        ).status_code
        == 404
    )


# ---------------------------------------------------------------------------- 5
def test_5_pagination_link(exp: ExportApi) -> None:
    ids = _shared(exp, CAN, GLASS, REFRIGERATOR)
    seen: list[str] = []
    url = "/3/footprints?limit=2"
    pages = 0
    while url:
        r = exp.get("buyer", url)
        assert r.status_code == 200
        data = r.json()["data"]
        assert len(data) <= 2
        seen += [pf["id"] for pf in data]
        pages += 1
        link = r.headers.get("link")
        if not link:
            break
        m = re.fullmatch(r'<(?P<url>[^>]+)>; rel="next"', link)
        assert m, link
        target = urlsplit(m["url"])
        assert target.scheme and target.netloc == "testserver"  # absolute, same host
        again = exp.get("buyer", f"{target.path}?{target.query}")
        assert [pf["id"] for pf in again.json()["data"]] == [
            pf["id"] for pf in exp.get("buyer", f"{target.path}?{target.query}").json()["data"]
        ]
        # a footprint shared after the first page does not shift the pages
        if pages == 1:
            _shared(exp, TYRE)
        url = f"{target.path}?{target.query}"
    assert seen == ids and pages == 2
    for bad in ("limit=0", "limit=x", "limit=-1"):
        r = exp.get("buyer", f"/3/footprints?{bad}")
        assert r.status_code == 400 and r.json()["code"] == "BadRequest"


# ---------------------------------------------------------------------------- 6, 7, 16
def test_6_7_16_invalid_token(exp: ExportApi) -> None:
    (fid,) = _shared(exp, CAN)
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic eDp5"}):
        for method, path, body in (
            ("GET", "/3/footprints", None),
            ("GET", f"/3/footprints/{fid}", None),
            ("POST", "/3/events", _event("PublishedEvent", {"pfIds": [fid]})),
        ):
            r = exp.client.request(method, path, headers={**headers, **CE}, json=body)
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["code"] == "TokenExpired"
            assert set(r.json()) == {"code", "message"}


# ---------------------------------------------------------------------------- filters
def test_filters(exp: ExportApi) -> None:
    can, glass, fridge = _shared(exp, CAN, GLASS, REFRIGERATOR)
    docs = {pf["id"]: pf for pf in exp.get("buyer", "/3/footprints").json()["data"]}

    def ids(query: str) -> set[str]:
        r = exp.get("buyer", f"/3/footprints?{query}")
        assert r.status_code == 200, r.text
        return {pf["id"] for pf in r.json()["data"]}

    pid = docs[can]["productIds"][0]
    assert ids(f"productId={pid}") == {can}
    assert ids(f"productid={pid.upper()}") == {can}  # case-insensitive
    assert ids(f"productId={pid}&productId={docs[fridge]['productIds'][0]}") == {can, fridge}
    assert ids("productId=urn:nothing") == set()
    company = docs[can]["companyIds"][0]
    assert ids(f"companyId={company}") == {can, glass, fridge}
    assert ids("companyId=urn:uuid:00000000-0000-0000-0000-000000000000") == set()
    assert ids("geography=CN") == {can, glass, fridge}
    assert ids("geography=cn&geography=DE") == {can, glass, fridge}
    assert ids("geography=DE") == set()
    beer_class = "urn:pact:productclassification:un-cpc:24310"
    assert ids(f"classification={beer_class}") == {can, glass}
    assert ids(f"classification={beer_class}&geography=DE") == set()  # AND across criteria
    assert ids("status=Active") == {can, glass, fridge}
    assert ids("status=deprecated") == set()
    start = docs[can]["validityPeriodStart"]
    assert ids(f"validOn={start}") == {can, glass, fridge}
    assert ids("validOn=2020-01-01T00:00:00Z") == set()
    assert ids("validAfter=2020-01-01T00:00:00Z") == {can, glass, fridge}
    assert ids("validAfter=2030-01-01T00:00:00Z") == set()
    assert ids("validBefore=2040-01-01T00:00:00Z") == {can, glass, fridge}
    assert ids("validBefore=2025-06-01T00:00:00Z") == set()
    assert exp.get("buyer", "/3/footprints?validOn=yesterday").status_code == 400
    assert exp.get("buyer", "/3/footprints?status=Retired").status_code == 400
    # a recalculation: the old one is Deprecated and still listed (with status=Deprecated)
    new = exp.post("maker", f"/v1/footprints/{can}/recalculate", json={}).json()["id"]
    exp.share(new)
    assert ids("status=Deprecated") == {can}
    got = exp.get("buyer", f"/3/footprints/{new}").json()["data"]
    assert got["precedingPfIds"] == [can] and got["status"] == "Active"


# ---------------------------------------------------------------------------- 12–15, 40
def test_12_13_request_created_is_fulfilled_asynchronously(
    exp: ExportApi, receiver: Callable[..., Receiver]
) -> None:
    fast_delivery(exp)
    rx = receiver()
    buyer = exp.creds["buyer"].client_id
    r = exp.put("maker", f"/v1/pact/recipients/{buyer}", json={"events_url": rx.url})
    assert r.status_code == 200, r.text
    can, _glass = _shared(exp, CAN, GLASS)
    wait_for(lambda: len(rx.events) == 2)  # a PublishedEvent per share
    assert {e["body"]["type"] for e in rx.events} == {
        "org.wbcsd.pact.ProductFootprint.PublishedEvent.3"
    }
    docs = {pf["id"]: pf for pf in exp.get("buyer", "/3/footprints").json()["data"]}
    request = _event("RequestCreatedEvent", {"productId": [docs[can]["productIds"][0]]})
    r = exp.post("buyer", "/3/events", json=request, headers=CE)
    assert r.status_code == 200 and r.content == b""
    wait_for(lambda: len(rx.events) == 3)
    reply = rx.events[-1]
    assert reply["content_type"].startswith("application/cloudevents+json")
    body = reply["body"]
    assert_valid(body, "RequestFulfilledEvent")
    assert body["type"] == "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
    assert body["data"]["requestEventId"] == request["id"]
    assert [pf["id"] for pf in body["data"]["pfs"]] == [can]
    for pf in body["data"]["pfs"]:
        assert_valid(pf)
    assert body["data"]["pfs"][0] == exp.get("buyer", f"/3/footprints/{can}").json()["data"]
    events = exp.get("viewer", "/v1/pact/events").json()
    assert {e["status"] for e in events} == {"delivered"} and len(events) == 3


def test_14_request_without_a_match_is_rejected(
    exp: ExportApi, receiver: Callable[..., Receiver]
) -> None:
    fast_delivery(exp)
    rx = receiver()
    exp.put(
        "maker", f"/v1/pact/recipients/{exp.creds['buyer'].client_id}", json={"events_url": rx.url}
    )
    _shared(exp, CAN)
    wait_for(lambda: len(rx.events) == 1)
    request = _event("RequestCreatedEvent", {"productId": ["urn:gtin:0000000000000"]})
    assert exp.post("buyer", "/3/events", json=request, headers=CE).status_code == 200
    wait_for(lambda: len(rx.events) == 2)
    body = rx.events[-1]["body"]
    assert_valid(body, "RequestRejectedEvent")
    assert body["type"] == "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
    assert body["data"]["requestEventId"] == request["id"]
    assert body["data"]["error"]["code"] == "NotFound"


def test_request_from_a_client_without_an_events_endpoint_is_refused(exp: ExportApi) -> None:
    _shared(exp, CAN)
    r = exp.post("buyer", "/3/events", json=_event("RequestCreatedEvent", {}), headers=CE)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"


def test_delivery_is_retried_with_backoff_and_bounded(
    exp: ExportApi, receiver: Callable[..., Receiver]
) -> None:
    fast_delivery(exp, max_attempts=4)
    flaky = receiver(fail_first=2)
    buyer = exp.creds["buyer"].client_id
    exp.put("maker", f"/v1/pact/recipients/{buyer}", json={"events_url": flaky.url})
    _shared(exp, CAN)
    wait_for(lambda: len(flaky.events) == 1)
    wait_for(lambda: [e.status for e in outbound(exp)] == ["delivered"])
    (row,) = outbound(exp)
    assert row.attempts == 3 and row.last_error is None
    # a receiver that never answers 2xx: given up after max_attempts, recorded as failed
    dead = receiver(always_fail=True)
    exp.put("maker", f"/v1/pact/recipients/{buyer}", json={"events_url": dead.url})
    _shared(exp, GLASS)
    wait_for(lambda: any(e.status == "failed" for e in outbound(exp)))
    failed = next(e for e in outbound(exp) if e.status == "failed")
    assert failed.attempts == 4 and failed.last_error == "HTTP 503"
    assert dead.calls == 4


def test_15_published_event_is_accepted_and_40_malformed_is_refused(exp: ExportApi) -> None:
    good = _event("PublishedEvent", {"pfIds": [str(uuid.uuid4())]})
    r = exp.post("buyer", "/3/events", json=good, headers=CE)
    assert r.status_code == 200 and r.content == b""
    malformed = [
        _event("PublishedEvent", {"pfIds": "not-a-list"}),
        _event("PublishedEvent", {"pfIds": ["not-a-uuid"]}),
        _event("PublishedEvent", {}),
        {k: v for k, v in good.items() if k != "specversion"},
        {**good, "specversion": "0.3"},
        {**good, "type": "org.wbcsd.pact.ProductFootprint.Unknown.3"},
        {**good, "time": "yesterday"},
        {**good, "data": []},
        _event("RequestCreatedEvent", {"validAfter": "soon"}),
        _event("RequestFulfilledEvent", {"requestEventId": "x", "pfs": []}),
        _event("RequestRejectedEvent", {"requestEventId": "x"}),
    ]
    for body in malformed:
        r = exp.post("buyer", "/3/events", json=body, headers=CE)
        assert r.status_code == 400, body
        assert r.json()["code"] == "BadRequest"
    r = exp.post("buyer", "/3/events", content=b"{not json", headers=CE)
    assert r.status_code == 400 and r.json()["code"] == "BadRequest"


def test_query_strings_keep_their_filters_in_the_next_link(exp: ExportApi) -> None:
    _shared(exp, CAN, GLASS)
    r = exp.get("buyer", "/3/footprints?geography=CN&limit=1")
    link = r.headers["link"]
    query = dict(parse_qsl(urlsplit(link[1 : link.index(">")]).query))
    assert query["geography"] == "CN" and query["limit"] == "1" and query["offset"] == "1"
    assert "x-pcf-asof" in query
