"""The connection caps: one for the process, one per client address, so no single client can
hold every slot. Past either, new streams are refused; open ones are untouched."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Admission = Literal["ok", "full", "client_full"]


@dataclass
class Gate:
    cap: int
    per_client: int
    open: int = 0
    by_client: dict[str, int] = field(default_factory=dict)

    def enter(self, client: str) -> Admission:
        if self.open >= self.cap:
            return "full"
        held = self.by_client.get(client, 0)
        if held >= self.per_client:
            return "client_full"
        self.open += 1
        self.by_client[client] = held + 1
        return "ok"

    def leave(self, client: str) -> None:
        self.open -= 1
        held = self.by_client.get(client, 0) - 1
        if held > 0:
            self.by_client[client] = held
        else:
            self.by_client.pop(client, None)
