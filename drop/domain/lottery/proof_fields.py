"""Reading and writing the fields of a published proof: each reader takes the wire
mapping and a camelCase key and raises a ValueError naming the bad field."""

from __future__ import annotations

from collections.abc import Mapping

from drop.domain.beacon import BeaconRecord
from drop.domain.lottery.allocation import Variant
from drop.domain.lottery.drawing import Participant
from drop.domain.receipts import ReceiptKey


def wire_str(d: Mapping[str, object], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"proof field {key!r} must be a string")
    return value


def wire_int(d: Mapping[str, object], key: str) -> int:
    value = d.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"proof field {key!r} must be an integer")
    return value


def wire_opt_int(d: Mapping[str, object], key: str) -> int | None:
    return None if d.get(key) is None else wire_int(d, key)


def wire_opt_number(d: Mapping[str, object], key: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"proof field {key!r} must be a number")
    return float(value)


def wire_str_list(d: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = d.get(key)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"proof field {key!r} must be a list of strings")
    return tuple(value)


def participants_from_wire(d: Mapping[str, object]) -> tuple[Participant, ...]:
    value = d.get("participants")
    if not isinstance(value, list | tuple):
        raise ValueError("proof field 'participants' must be a list")
    out: list[Participant] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ValueError("each participant must be an object {userId, effectiveTickets}")
        ranking = wire_str_list(item, "variants") if "variants" in item else ()
        out.append(
            Participant(wire_str(item, "userId"), wire_int(item, "effectiveTickets"), ranking)
        )
    return tuple(out)


def participant_wire(p: Participant) -> dict[str, object]:
    wire: dict[str, object] = {"userId": p.user_id, "effectiveTickets": p.effective_tickets}
    if p.ranking:
        wire["variants"] = list(p.ranking)
    return wire


def variants_from_wire(d: Mapping[str, object]) -> tuple[Variant, ...] | None:
    value = d.get("variants")
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ValueError("proof field 'variants' must be a list")
    out: list[Variant] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise ValueError("each variant must be an object {id, label, inventory}")
        label = item.get("label", "")
        out.append(Variant(wire_str(item, "id"), str(label), wire_int(item, "inventory")))
    return tuple(out)


def allocation_from_wire(d: Mapping[str, object]) -> dict[str, str]:
    value = d.get("allocation")
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("proof field 'allocation' must map user ids to variant ids")
    return dict(value)


def receipt_key_from_wire(d: Mapping[str, object]) -> ReceiptKey | None:
    value = d.get("receiptKey")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("proof field 'receiptKey' must be an object")
    return ReceiptKey.from_wire(value)


def beacon_from_wire(d: Mapping[str, object]) -> BeaconRecord | None:
    value = d.get("beacon")
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError("proof field 'beacon' must be an object")
    return BeaconRecord.from_wire(value)
