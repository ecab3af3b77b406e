"""The sse service's own counters: events handed to clients and slow clients cut off.
Open streams are read from the gate when scraped (see `apps.sse.app`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

FANNED_OUT = Counter(
    "sse_events_fanned_out_total",
    "Events (or coalesced drop lists) handed to client streams, one per receiving stream",
    ["feed"],
)
SLOW_CLIENTS = Counter(
    "sse_slow_clients_dropped_total",
    "Streams cut off because their client fell behind and the buffer overflowed",
)
OPEN_STREAMS = Gauge("sse_open_streams", "Event streams open now")
