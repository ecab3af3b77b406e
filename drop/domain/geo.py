"""Geo-fences (circles and polygons) and the registration decision they imply."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from drop.domain.errors import Forbidden, ValidationFailed

EARTH_RADIUS_METERS = 6_371_008.8
MIN_RADIUS_METERS = 100.0
MAX_RADIUS_METERS = 50_000.0


@dataclass(frozen=True)
class LatLng:
    """A point in degrees."""

    lat: float
    lng: float


@dataclass(frozen=True)
class RadiusFence:
    """A circle around ``center``."""

    center: LatLng
    radius_meters: float
    name: str | None = None


@dataclass(frozen=True)
class PolygonFence:
    """A simple polygon; vertices in order, the closing edge is implicit."""

    vertices: tuple[LatLng, ...]
    name: str | None = None


GeoFence = RadiusFence | PolygonFence


@dataclass(frozen=True)
class GeoDecision:
    """Whether the user is inside the fence and the ticket bonus that earns."""

    in_zone: bool
    bonus: float


def haversine_meters(a: LatLng, b: LatLng) -> float:
    """Great-circle distance in meters between two points."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlng = math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    # min() guards asin against 1.0000000002 from float rounding at antipodes.
    return 2 * EARTH_RADIUS_METERS * math.asin(min(1.0, math.sqrt(h)))


def point_in_polygon(p: LatLng, vertices: Sequence[LatLng]) -> bool:
    """Ray casting with lng as x and lat as y (fine for city-sized, non-antimeridian fences)."""
    inside = False
    n = len(vertices)
    if n < 3:
        return False
    j = n - 1
    for i in range(n):
        vi, vj = vertices[i], vertices[j]
        if (vi.lat > p.lat) != (vj.lat > p.lat):
            crossing_lng = vi.lng + (p.lat - vi.lat) * (vj.lng - vi.lng) / (vj.lat - vi.lat)
            if p.lng < crossing_lng:
                inside = not inside
        j = i
    return inside


def contains(fence: GeoFence, p: LatLng) -> bool:
    """True when ``p`` lies inside the fence (a circle's edge counts as inside)."""
    if isinstance(fence, RadiusFence):
        return haversine_meters(fence.center, p) <= fence.radius_meters
    return point_in_polygon(p, fence.vertices)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed("invalid_geofence", f"{field} must be a number")
    try:
        number = float(value)
    except OverflowError:
        raise ValidationFailed("invalid_geofence", f"{field} is out of range") from None
    if not math.isfinite(number):
        raise ValidationFailed("invalid_geofence", f"{field} must be finite")
    return number


def latlng_from_wire(data: object, field: str = "location") -> LatLng:
    """Parse ``{lat, lng}`` with lat in [-90, 90] and lng in [-180, 180]."""
    if not isinstance(data, Mapping):
        raise ValidationFailed("invalid_geofence", f"{field} must be an object with lat and lng")
    lat = _number(data.get("lat"), f"{field}.lat")
    lng = _number(data.get("lng"), f"{field}.lng")
    if not -90.0 <= lat <= 90.0:
        raise ValidationFailed("invalid_geofence", f"{field}.lat must be in [-90, 90], got {lat}")
    if not -180.0 <= lng <= 180.0:
        raise ValidationFailed("invalid_geofence", f"{field}.lng must be in [-180, 180], got {lng}")
    return LatLng(lat, lng)


def _name(data: Mapping[str, object]) -> str | None:
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise ValidationFailed("invalid_geofence", "geofence name must be a string")
    return name


def fence_from_wire(data: Mapping[str, object]) -> GeoFence:
    """Parse the wire shape (docs/contract.md, Drops) of a radius or polygon fence; 400
    ``invalid_geofence``."""
    if not isinstance(data, Mapping):
        raise ValidationFailed("invalid_geofence", "geofence must be an object")
    kind = data.get("type")
    if kind == "radius":
        center = latlng_from_wire(data.get("center"), "center")
        radius = _number(data.get("radiusMeters"), "radiusMeters")
        if not MIN_RADIUS_METERS <= radius <= MAX_RADIUS_METERS:
            raise ValidationFailed(
                "invalid_geofence",
                f"radiusMeters must be between {MIN_RADIUS_METERS:g} and "
                f"{MAX_RADIUS_METERS:g}, got {radius:g}",
            )
        return RadiusFence(center=center, radius_meters=radius, name=_name(data))
    if kind == "polygon":
        raw = data.get("vertices")
        if not isinstance(raw, list | tuple) or len(raw) < 3:
            raise ValidationFailed(
                "invalid_geofence", "a polygon geofence needs a list of at least 3 vertices"
            )
        vertices = tuple(latlng_from_wire(v, f"vertices[{i}]") for i, v in enumerate(raw))
        return PolygonFence(vertices=vertices, name=_name(data))
    raise ValidationFailed("invalid_geofence", 'geofence type must be "radius" or "polygon"')


def _point_to_wire(p: LatLng) -> dict[str, float]:
    return {"lat": p.lat, "lng": p.lng}


def fence_to_wire(f: GeoFence) -> dict[str, object]:
    """The wire shape of a fence (``name`` only when set)."""
    wire: dict[str, object]
    if isinstance(f, RadiusFence):
        wire = {
            "type": "radius",
            "center": _point_to_wire(f.center),
            "radiusMeters": f.radius_meters,
        }
    else:
        wire = {"type": "polygon", "vertices": [_point_to_wire(v) for v in f.vertices]}
    if f.name is not None:
        wire["name"] = f.name
    return wire


def decide(
    fence: GeoFence | None,
    mode: str | None,
    bonus_multiplier: float,
    location: LatLng | None,
) -> GeoDecision:
    """Apply a drop's fence to a registration.

    No fence (or no mode): not in zone, bonus 1.0. ``exclusive``: a location is required
    (400 ``location_required``) and must be inside (403 ``outside_geofence``). ``bonus``:
    inside earns ``bonus_multiplier``, outside or unknown earns 1.0.
    """
    if fence is None or mode is None:
        return GeoDecision(in_zone=False, bonus=1.0)
    inside = location is not None and contains(fence, location)
    if mode == "exclusive":
        if location is None:
            raise ValidationFailed(
                "location_required", "this drop is geo-restricted: a location is required"
            )
        if not inside:
            raise Forbidden("outside_geofence", "your location is outside this drop's area")
        return GeoDecision(in_zone=True, bonus=1.0)
    if mode == "bonus":
        return (
            GeoDecision(in_zone=True, bonus=bonus_multiplier)
            if inside
            else GeoDecision(in_zone=False, bonus=1.0)
        )
    raise ValidationFailed("invalid_geofence_mode", f"unknown geofence mode {mode!r}")
