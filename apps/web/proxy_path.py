"""The upstream path of a proxied request, built from the path's segments as the client
sent them, each checked: the proxy reaches `/api/...` and `/events/...` upstream and
nothing else.

Routing matches the decoded path, where `%2e%2e` is already `..` and `%2F` a separator, so
the upstream URL is never built from it: an HTTP client resolves the dot segments and
`/api/%2e%2e/metrics` would leave the prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

# RFC 3986 pchar minus percent: these pass through a segment unencoded.
SEGMENT_SAFE = "!$&'()*+,;=:@-._~"
DOT_SEGMENTS = frozenset({".", ".."})


class BadPath(ValueError):
    """The path cannot be forwarded; the message says why."""


def _segment(raw: str) -> str:
    data = unquote_to_bytes(raw)
    if any(b < 0x20 or b == 0x7F for b in data):
        raise BadPath("control characters are not allowed in the path")
    if b"/" in data or b"\\" in data:
        raise BadPath("encoded slashes are not allowed in the path")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadPath("the path is not UTF-8") from None
    if text in DOT_SEGMENTS:
        raise BadPath("'.' and '..' segments are not allowed in the path")
    return quote(text, safe=SEGMENT_SAFE)


def upstream_path(scope: Mapping[str, Any], prefix: str) -> str:
    """The path to request upstream: `/<prefix>/...` with every segment re-encoded."""
    raw = scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else quote(scope["path"])
    segments = [_segment(s) for s in text.split("?", 1)[0].split("/")[1:]]
    if not segments or segments[0] != prefix:
        raise BadPath(f"the path must start with /{prefix}/")
    return "/" + "/".join(segments)
