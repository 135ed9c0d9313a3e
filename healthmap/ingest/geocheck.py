"""Limits and plausibility checks for boundary files (GeoJSON, zipped Shapefile, GPKG).

Before a boundary file is parsed: its unpacked size (zip directory) and its feature count
(read from the file's header by GDAL) are checked against :class:`Limits`. After: every
geometry must be a polygon and lie within the county outline (with a tolerance); a
boundary that fits only with latitude and longitude swapped is named as such.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path

import shapely
import shapely.prepared
from shapely.geometry import shape

from healthmap.ingest.contract import Limits
from healthmap.ingest.readers import FileReadError, check_unpacked_size

_KM_PER_DEGREE = 111.0  # latitude degrees; longitude degrees are shorter, so this is strict


def precheck(data: bytes, filename: str, limits: Limits) -> None:
    """Refuse a boundary file that unpacks too large or has too many features."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".zip":
        check_unpacked_size(data, limits)
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        target = f"/vsizip/{path}" if suffix == ".zip" else str(path)
        try:
            n = pyogrio.read_info(target, force_feature_count=True)["features"]
        except Exception:
            return  # unreadable: the reader reports it
    if n > limits.max_features:
        raise FileReadError("too many features", "too_many_features", n=f"{n:,}",
                            limit=f"{limits.max_features:,}")


@lru_cache(maxsize=4)
def _outline(tolerance_km: float):
    from healthmap.geo import county_outline

    outline = county_outline()
    return shapely.prepared.prep(outline.buffer(tolerance_km / _KM_PER_DEGREE)), \
        outline.buffer(tolerance_km / _KM_PER_DEGREE)


def geometry_problem(text: str, limits: Limits) -> str | None:
    """Why a boundary (GeoJSON geometry text, WGS84) is refused, or ``None``.

    >>> geometry_problem('{"type":"Point","coordinates":[121.2,28.1]}', Limits())
    'geometry_type'
    >>> geometry_problem('{"type":"Polygon","coordinates":[[[-100,40],[-99,40],[-99,41],[-100,40]]]}', Limits())
    'outside_county'
    """
    if not text:
        return "geometry"
    geom = shape(json.loads(text))
    if geom.is_empty:
        return "geometry"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return "geometry_type"
    if _outside_share(geom, limits) <= limits.boundary_outside_share:
        return None
    swapped = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if _outside_share(swapped, limits) <= limits.boundary_outside_share:
        return "latlon_swapped"
    return "outside_county"


def _outside_share(geom, limits: Limits) -> float:
    prepared, buffered = _outline(limits.boundary_tolerance_km)
    if prepared.contains(geom):
        return 0.0
    area = geom.area
    if area == 0:
        return 1.0
    return geom.difference(buffered).area / area
