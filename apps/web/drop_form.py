"""The console's create-drop form read into a drop config: numbers, local times, the geo
fence and the size rows, each refused with the field's label."""

from __future__ import annotations

import math
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from drop.contracts import is_id
from drop.domain.lottery import MAX_VARIANTS

# getTimezoneOffset() spans -840 (UTC+14) to +720 (UTC-12) minutes.
MAX_TZ_OFFSET_MIN = 24 * 60
# A size row of the create form: variant-<n>-id, variant-<n>-label, variant-<n>-inventory.
SIZE_FIELD = re.compile(r"variant-(\d{1,3})-(id|label|inventory)")


def _number(form: dict[str, str], name: str, label: str, kind: type = int) -> Any:
    return _parse(form.get(name, "").strip(), label, kind)


def _parse(raw: str, label: str, kind: type) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{label} must be a number") from None
    # float() reads "1e400" and "nan" too, and neither can be sent as JSON.
    if not math.isfinite(value):
        raise ValueError(f"{label} must be a finite number")
    return value


def _when(value: str, tz_offset_min: int, fallback: int) -> int:
    """A datetime-local value in the admin's time zone, as ms since the epoch."""
    if not value.strip():
        return fallback
    try:
        naive = datetime.fromisoformat(value.strip())
        # getTimezoneOffset() is UTC minus local time, in minutes.
        utc = naive + timedelta(minutes=tz_offset_min)
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time") from None
    except OverflowError:
        raise ValueError(f"{value!r} is out of range") from None
    return int((utc - datetime(1970, 1, 1)).total_seconds() * 1000)


def _fence(form: dict[str, str]) -> dict[str, Any] | None:
    kind = form.get("geoFenceType", "none")
    name = form.get("geoFenceName", "").strip() or None
    if kind == "radius":
        return {
            "type": "radius",
            "center": {
                "lat": _number(form, "geoLat", "Latitude", float),
                "lng": _number(form, "geoLng", "Longitude", float),
            },
            "radiusMeters": _number(form, "geoRadius", "Radius", float),
            "name": name,
        }
    if kind == "polygon":
        vertices = []
        for line in form.get("geoPolygon", "").splitlines():
            if not line.strip():
                continue
            lat, _, lng = line.partition(",")
            label = f"Polygon vertex {line.strip()!r}"
            vertices.append({"lat": _parse(lat, label, float), "lng": _parse(lng, label, float)})
        return {"type": "polygon", "vertices": vertices, "name": name}
    return None


def drop_config(form: dict[str, str], now_ms: int) -> dict[str, Any]:
    """Turn the create-drop form into the API's DropConfig body (ValueError if unreadable)."""
    tz = _parse(form.get("tzOffset", "").strip() or "0", "Time zone offset", int)
    if abs(tz) > MAX_TZ_OFFSET_MIN:
        raise ValueError(f"Time zone offset must be within ±{MAX_TZ_OFFSET_MIN} minutes")
    start = _when(form.get("registrationStart", ""), tz, now_ms)
    end = _when(form.get("registrationEnd", ""), tz, start + 3_600_000)
    name = form.get("productName", "").strip()
    drop_id = form.get("dropId", "").strip() or _slug(name)
    sizes = _sizes(form)
    body: dict[str, Any] = {
        "dropId": drop_id,
        "productName": name or "Limited drop",
        "productDescription": form.get("productDescription", "").strip(),
        "imageUrl": form.get("imageUrl", "").strip(),
        "registrationStart": start,
        "registrationEnd": end,
        "purchaseWindow": _number(form, "purchaseWindow", "Purchase window"),
        "ticketPriceUnit": _number(form, "ticketPriceUnit", "Ticket price unit", float),
        "maxTicketsPerUser": _number(form, "maxTicketsPerUser", "Max tickets"),
        "backupMultiplier": _number(form, "backupMultiplier", "Backup multiplier", float),
    }
    # With sizes the drop's inventory is their sum, which the API works out.
    if sizes:
        body["variants"] = sizes
    else:
        body["inventory"] = _number(form, "inventory", "Inventory")
    fence = _fence(form)
    if fence is not None:
        body["geoFence"] = fence
        body["geoFenceMode"] = form.get("geoFenceMode", "bonus")
        body["geoFenceBonusMultiplier"] = _number(
            form, "geoFenceBonusMultiplier", "Bonus multiplier", float
        )
    return body


def size_rows(form: dict[str, str]) -> list[dict[str, str]]:
    """The size rows the form holds, in their order, leaving out rows left wholly empty."""
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        if (match := SIZE_FIELD.fullmatch(key)) is not None:
            row = rows.setdefault(int(match[1]), {"id": "", "label": "", "inventory": ""})
            row[match[2]] = value.strip()
    return [row for _, row in sorted(rows.items()) if any(row.values())]


def _sizes(form: dict[str, str]) -> list[dict[str, Any]]:
    """The drop's variants from the form's size rows (none: a drop without sizes)."""
    rows = size_rows(form)
    if len(rows) > MAX_VARIANTS:
        raise ValueError(f"A drop has at most {MAX_VARIANTS} sizes, not {len(rows)}")
    sizes: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=1):
        if not is_id(row["id"]):
            given = f" ({row['id']!r})" if row["id"] else ""
            raise ValueError(f"Size {n}: its id{given} must be 1-100 letters, digits, - or _")
        stock = _parse(row["inventory"], f"Size {row['id']}: inventory", int)
        sizes.append({"id": row["id"], "label": row["label"] or row["id"], "inventory": stock})
    return sizes


def _slug(name: str) -> str:
    base = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part)[:60] or "drop"
    return f"{base}-{secrets.token_hex(3)}"
