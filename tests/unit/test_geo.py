import pytest
from hypothesis import given
from hypothesis import strategies as st

from drop.domain.errors import DomainError
from drop.domain.geo import (
    GeoDecision,
    LatLng,
    PolygonFence,
    RadiusFence,
    contains,
    decide,
    fence_from_wire,
    fence_to_wire,
    haversine_meters,
    point_in_polygon,
)

PARIS = LatLng(48.8566, 2.3522)
LONDON = LatLng(51.5074, -0.1278)
SQUARE = (LatLng(0, 0), LatLng(0, 1), LatLng(1, 1), LatLng(1, 0))


def test_haversine_known_distance() -> None:
    assert haversine_meters(PARIS, LONDON) == pytest.approx(343_500, rel=0.01)
    assert haversine_meters(PARIS, PARIS) == 0.0


def test_haversine_antipodes_is_half_circumference() -> None:
    assert haversine_meters(LatLng(0, 0), LatLng(0, 180)) == pytest.approx(20_015_115, rel=1e-3)


@given(st.floats(-89, 89), st.floats(-179, 179), st.floats(-89, 89), st.floats(-179, 179))
def test_haversine_is_symmetric(a_lat: float, a_lng: float, b_lat: float, b_lng: float) -> None:
    a, b = LatLng(a_lat, a_lng), LatLng(b_lat, b_lng)
    assert haversine_meters(a, b) == pytest.approx(haversine_meters(b, a), abs=1e-6)


def test_point_in_polygon() -> None:
    assert point_in_polygon(LatLng(0.5, 0.5), SQUARE)
    assert not point_in_polygon(LatLng(1.5, 0.5), SQUARE)
    assert not point_in_polygon(LatLng(0.5, -0.1), SQUARE)
    assert not point_in_polygon(LatLng(0.5, 0.5), SQUARE[:2])


def test_point_in_concave_polygon() -> None:
    # A "U" shape: the notch between the arms is outside.
    u_shape = (
        LatLng(0, 0), LatLng(0, 3), LatLng(3, 3), LatLng(3, 2),
        LatLng(1, 2), LatLng(1, 1), LatLng(3, 1), LatLng(3, 0),
    )  # fmt: skip
    assert point_in_polygon(LatLng(2, 0.5), u_shape)
    assert not point_in_polygon(LatLng(2, 1.5), u_shape)


def test_contains_radius() -> None:
    fence = RadiusFence(center=PARIS, radius_meters=1000)
    assert contains(fence, LatLng(48.86, 2.35))
    assert not contains(fence, LONDON)


def test_wire_round_trip() -> None:
    radius = {"type": "radius", "center": {"lat": 1.0, "lng": 2.0}, "radiusMeters": 500.0}
    polygon = {
        "type": "polygon",
        "vertices": [{"lat": 0.0, "lng": 0.0}, {"lat": 0.0, "lng": 1.0}, {"lat": 1.0, "lng": 1.0}],
        "name": "Downtown",
    }
    assert fence_to_wire(fence_from_wire(radius)) == radius
    assert fence_to_wire(fence_from_wire(polygon)) == polygon
    parsed = fence_from_wire(polygon)
    assert isinstance(parsed, PolygonFence)
    assert parsed.name == "Downtown"


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "circle"},
        {"type": "radius", "center": {"lat": 91, "lng": 0}, "radiusMeters": 500},
        {"type": "radius", "center": {"lat": 0, "lng": 181}, "radiusMeters": 500},
        {"type": "radius", "center": {"lat": 0, "lng": 0}, "radiusMeters": 99},
        {"type": "radius", "center": {"lat": 0, "lng": 0}, "radiusMeters": 50_001},
        {"type": "radius", "center": {"lat": "0", "lng": 0}, "radiusMeters": 500},
        {"type": "radius", "center": None, "radiusMeters": 500},
        {"type": "polygon", "vertices": [{"lat": 0, "lng": 0}, {"lat": 1, "lng": 1}]},
        {"type": "polygon", "vertices": "nope"},
        {"type": "radius", "center": {"lat": 0, "lng": 0}, "radiusMeters": 500, "name": 3},
    ],
)
def test_fence_from_wire_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(DomainError) as exc:
        fence_from_wire(bad)
    assert exc.value.status == 400


def test_decide_without_fence() -> None:
    assert decide(None, None, 1.5, None) == GeoDecision(False, 1.0)


def test_decide_exclusive() -> None:
    fence = RadiusFence(center=PARIS, radius_meters=1000)
    assert decide(fence, "exclusive", 1.5, PARIS) == GeoDecision(True, 1.0)
    with pytest.raises(DomainError) as missing:
        decide(fence, "exclusive", 1.5, None)
    assert (missing.value.status, missing.value.code) == (400, "location_required")
    with pytest.raises(DomainError) as outside:
        decide(fence, "exclusive", 1.5, LONDON)
    assert (outside.value.status, outside.value.code) == (403, "outside_geofence")


def test_decide_bonus() -> None:
    fence = PolygonFence(vertices=SQUARE)
    assert decide(fence, "bonus", 2.0, LatLng(0.5, 0.5)) == GeoDecision(True, 2.0)
    assert decide(fence, "bonus", 2.0, LatLng(5, 5)) == GeoDecision(False, 1.0)
    assert decide(fence, "bonus", 2.0, None) == GeoDecision(False, 1.0)
