"""Geometry: schematic township polygons, boundary-file import, GeoJSON for the maps.

All geometry is stored in WGS84 (EPSG:4326) as GeoJSON text, simplified for display. No
official township boundaries of Yuhuan are public, so the built-in ones are *schematic*: a
Voronoi split of the county outline around the township label points, flagged as such and
replaced when real boundaries are imported.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, mapping, shape

from healthmap.config import DATA_DIR
from healthmap.ingest.readers import FileReadError

# about 30 m at this latitude: enough detail for a county map, small payload
DISPLAY_TOLERANCE_DEG = 0.0003


class AreaFileError(FileReadError):
    def __init__(self, message: str, field: str | None = None, no_crs: bool = False):
        super().__init__(message)
        self.field = field
        self.no_crs = no_crs


def county_outline(path: Path | None = None):
    """The Yuhuan county outline (MultiPolygon, WGS84) shipped in ``data/``."""
    path = path or DATA_DIR / "yuhuan_county_outline.geojson"
    gdf = gpd.read_file(path)
    return shapely.make_valid(gdf.geometry.union_all())


def schematic_polygons(outline, points: pd.DataFrame) -> pd.Series:
    """Voronoi cells of ``points`` (columns ``label_lon``, ``label_lat``) clipped to ``outline``.

    Returns one geometry per point, in the points' order. Every part of the outline goes to
    the nearest label point, so the cells tile the county exactly (islands included).
    """
    pts = [shapely.Point(x, y) for x, y in zip(points["label_lon"], points["label_lat"])]
    cells = shapely.voronoi_polygons(MultiPoint(pts), extend_to=outline.envelope.buffer(0.5))
    out = []
    for p in pts:
        cell = next(c for c in cells.geoms if c.covers(p))
        out.append(shapely.make_valid(cell.intersection(outline)))
    return pd.Series(out, index=points.index)


def simplify(geom):
    return shapely.make_valid(geom.simplify(DISPLAY_TOLERANCE_DEG, preserve_topology=True))


def to_geojson_text(geom) -> str:
    return json.dumps(mapping(geom), separators=(",", ":"))


def _read_geo(data: bytes, filename: str) -> gpd.GeoDataFrame:
    suffix = Path(filename).suffix.lower()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        target = f"/vsizip/{path}" if suffix == ".zip" else str(path)
        try:
            return gpd.read_file(target)
        except Exception as exc:
            raise AreaFileError(str(exc).splitlines()[0][:200]) from exc


def read_area_file(data: bytes, filename: str, code_field: str = "code",
                   name_field: str = "name", level: str = "township",
                   parent_field: str | None = None, crs: str | None = None) -> pd.DataFrame:
    """Read a GeoJSON / zipped Shapefile / GeoPackage into the ``areas`` import frame.

    Geometry is reprojected to WGS84 and simplified for display; it travels in a
    ``_geometry`` column of GeoJSON text. A file without a CRS needs ``crs`` (no guessing).
    """
    gdf = _read_geo(data, filename)
    for fld in (code_field, name_field, parent_field):
        if fld and fld not in gdf.columns:
            raise AreaFileError(f"no field {fld}", field=fld)
    if gdf.crs is None:
        if not crs:
            raise AreaFileError("no CRS", no_crs=True)
        gdf = gdf.set_crs(crs)
    gdf = gdf.to_crs(4326)
    out = pd.DataFrame({
        "code": gdf[code_field].astype(str).str.strip(),
        "name": gdf[name_field].astype(str).str.strip(),
        "level": level,
        "parent_code": (gdf[parent_field].astype(str).str.strip() if parent_field else ""),
    })
    geoms = []
    for g in gdf.geometry:
        if g is None or g.is_empty:
            geoms.append("")
        else:
            geoms.append(to_geojson_text(simplify(shapely.make_valid(g))))
    out["_geometry"] = geoms
    reps = gdf.geometry.representative_point()
    out["label_lon"] = reps.x.round(6)
    out["label_lat"] = reps.y.round(6)
    for c in out.columns[out.isna().any()]:  # missing values as empty cells, as in a CSV
        out[c] = out[c].astype(object).where(out[c].notna(), "")
    return out


def has_geometry(geom) -> bool:
    """Whether a stored geometry is there (an area imported from a CSV has none: ``None``,
    ``NaN`` in a frame, or ``""``).

    >>> has_geometry('{"type":"Point","coordinates":[121,28]}'), has_geometry(float("nan"))
    (True, False)
    """
    return isinstance(geom, str) and bool(geom.strip())


def feature_collection(areas: pd.DataFrame) -> dict:
    """GeoJSON FeatureCollection (``id`` = area code) for plotly choropleth maps; areas
    without a boundary are left out (the map lists them as "no boundary")."""
    feats = []
    for code, geom in zip(areas["code"], areas["geometry"]):
        if has_geometry(geom):
            feats.append({"type": "Feature", "id": str(code), "properties": {"code": str(code)},
                          "geometry": json.loads(geom)})
    return {"type": "FeatureCollection", "features": feats}


def bounds(areas: pd.DataFrame) -> tuple[float, float, float, float]:
    """The bounding box of the areas' boundaries (lon0, lat0, lon1, lat1); worked out once
    per set of boundaries (every map of a filter change asks for the same)."""
    return _bounds(tuple(g for g in areas["geometry"] if has_geometry(g)))


@functools.lru_cache(maxsize=64)
def _bounds(geometries: tuple[str, ...]) -> tuple[float, float, float, float]:
    geoms = [shape(json.loads(g)) for g in geometries]
    if not geoms:
        return (121.1, 28.0, 121.6, 28.3)
    return tuple(shapely.union_all(geoms).bounds)
