"""`idempotency.Scope.of`: a request without an `Idempotency-Key` has nothing to look up or
keep, so its body and caller are not hashed; one with a key is scoped to both."""

from __future__ import annotations

from starlette.requests import Request

from apps.api import idempotency
from drop.domain import claims


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "POST", "path": "/", "headers": raw})


def test_without_a_key_neither_the_body_nor_the_caller_is_hashed() -> None:
    asked: list[str] = []

    def caller() -> str:
        asked.append("caller")
        return "someone"

    scope = idempotency.Scope.of(_request({}), "join:d", {"dropId": "d"}, caller)
    assert scope.key is None
    assert asked == []


def test_with_a_key_the_scope_names_the_route_the_body_and_the_caller() -> None:
    request = _request({"Idempotency-Key": "key-1"})
    scope = idempotency.Scope.of(request, "join:d", {"dropId": "d"}, lambda: "someone")
    assert scope.key == idempotency.scoped_key(request, "join:d")
    assert scope.key != idempotency.scoped_key(request, "join:e")
    assert scope.body == claims.body_fingerprint({"dropId": "d"})
    assert scope.caller == "someone"
