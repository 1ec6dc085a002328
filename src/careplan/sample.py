"""The embedded sample: a fictional 구 (가상 데이터) in the real portals' file formats.

``서울특별시 가온구`` (시군구 code ``11990``, not a real code) is a made-up district of
about 3 km × 4 km placed in Seoul's latitude/longitude range. Its files imitate the
Korean open-data exports byte for byte in layout (columns, encodings, quoting,
thousands separators), so the same ``careplan.io`` readers read the sample and the
real data. Every value is invented by :func:`generate` from a seeded random
generator; nothing is copied from the real files.

Regenerate the checked-in folder (byte-identical for the same seed and the same
library versions)::

    python -m careplan.sample            # writes data/sample/
    python -m careplan.sample --out DIR  # writes elsewhere
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from ._errors import InputDataError

__all__ = [
    "DEFAULT_SEED",
    "SAMPLE_FILES",
    "SIGUNGU",
    "SIGUNGU_CODE",
    "SYNTHETIC_LABEL",
    "generate",
    "sample_dir",
]

logger = logging.getLogger(__name__)

DEFAULT_SEED = 11990
SIDO = "서울특별시"
SIDO_CODE = "11"
SIGUNGU = "가온구"
SIGUNGU_CODE = "11990"
SYNTHETIC_LABEL = "가상 데이터"
PROVIDER = f"careplan {SYNTHETIC_LABEL}"

#: The files :func:`generate` writes (``walk.graphml`` only when the network
#: module can build a synthetic walk graph).
SAMPLE_FILES = (
    "README.md",
    "schools.csv",
    "students.csv",
    "school_zones.geojson",
    "population.csv",
    "admin_areas.geojson",
    "kium_centers.csv",
    "local_child_centers.csv",
    "dahamkke_centers.csv",
    "daycare.csv",
    "candidates.csv",
    "walk.graphml",
)

# Checked-in location: the repository's data/sample, beside src/.
_SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"

# The district's centre and size; EPSG:5179 metres are used for all geometry.
_CENTER_LON, _CENTER_LAT = 126.88, 37.50
_WIDTH_M, _HEIGHT_M = 3000.0, 4000.0
_TO_LONLAT = Transformer.from_crs(5179, 4326, always_xy=True)
_TO_METRIC = Transformer.from_crs(4326, 5179, always_xy=True)

# Invented names (checked against the national school list: none exists in Korea).
_SCHOOL_STEMS = ("누리", "하람", "단비", "늘품", "너울", "미리내", "푸르미", "함초롱")
_MIDDLE_STEMS = ("누리", "꽃뫼", "희망숲")
_DONG_NAMES = ("가온1동", "가온2동", "누리동", "하람동", "단비동", "늘품동", "꽃뫼동", "미리내동")
_ROADS = ("가온로", "누리로", "하람길", "단비로", "늘품로", "꽃뫼길", "미리내로", "한가람로", "별숲로", "솔내길")

_SCHOOL_DATE = "2025-04-30"
_POP_MONTH = ("2025", "05")
_FACILITY_DATE = "2025-05-31"
_DAYCARE_DATE = "2025-05-31"


# --------------------------------------------------------------------------- public API


def sample_dir() -> Path:
    """Return the checked-in sample folder (``data/sample`` of the repository).

    Returns
    -------
    path
        Absolute path of the folder holding the 가온구 sample files.

    Raises
    ------
    InputDataError
        If the folder is missing (e.g. an installed wheel without the repository's
        ``data/``); the message says how to regenerate it.
    """
    path = _SAMPLE_DIR
    if not (path / "schools.csv").is_file():
        msg = (
            f"the embedded sample (가상 데이터) was expected at {path}, but it is missing. "
            "Regenerate it with `python -m careplan.sample --out <folder>` and pass that folder, "
            "or run from a checkout of the careplan repository."
        )
        raise InputDataError(msg)
    return path


def generate(
    out_dir: str | Path, *, seed: int = DEFAULT_SEED, walk_graph: bool = True
) -> dict[str, Path]:
    """Write the fictional 가온구 sample (가상 데이터) into `out_dir`.

    The same `seed` always gives the same bytes (with the same library versions),
    so the checked-in ``data/sample`` can be verified by regenerating it.

    Parameters
    ----------
    out_dir
        Folder to write into; created if needed. Existing sample files are overwritten.
    seed
        Seed of the random generator that invents every name, place and number.
    walk_graph
        Also write ``walk.graphml`` when ``careplan.network.synthetic_walk_graph``
        exists (it is skipped, with a log message, otherwise).

    Returns
    -------
    files
        File name -> path of every file written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    place = _make_place(rng)
    writers: list[tuple[str, Callable[[], bytes]]] = [
        ("schools.csv", lambda: _schools_csv(place)),
        ("students.csv", lambda: _students_csv(place)),
        ("school_zones.geojson", lambda: _zones_geojson(place)),
        ("population.csv", lambda: _population_csv(place)),
        ("admin_areas.geojson", lambda: _admin_geojson(place)),
        ("kium_centers.csv", lambda: _kium_csv(place)),
        ("local_child_centers.csv", lambda: _local_csv(place)),
        ("dahamkke_centers.csv", lambda: _dahamkke_csv(place)),
        ("daycare.csv", lambda: _daycare_csv(place)),
        ("candidates.csv", lambda: _candidates_csv(place)),
    ]
    files: dict[str, Path] = {}
    for name, make in writers:
        files[name] = _write(out / name, make())
    graph = _write_walk_graph(out / "walk.graphml", place, seed=seed) if walk_graph else None
    if graph is not None:
        files["walk.graphml"] = out / "walk.graphml"
    readme = _readme(place, graph=graph, seed=seed)
    files["README.md"] = _write(out / "README.md", readme.encode("utf-8"))
    logger.info("wrote the 가온구 sample (가상 데이터): %d files in %s", len(files), out)
    return files


# --------------------------------------------------------------------------- the place


@dataclass(frozen=True)
class _School:
    school_id: str
    alimi_code: str
    name: str
    level: str
    founded: str
    point: Point
    road_address: str
    jibun_address: str
    grades: tuple[int, ...] = ()  # pupils in grades 1..6
    special: int = 0  # 특수학급 pupils
    special_classes: int = 0


@dataclass(frozen=True)
class _Zone:
    zone_id: str
    name: str
    shared: bool
    school_ids: tuple[str, ...]
    geometry: BaseGeometry


@dataclass(frozen=True)
class _Dong:
    code: str  # 10-digit 행정기관코드
    name: str
    geometry: BaseGeometry
    ages: tuple[int, ...]  # 0..99 and 100세 이상 (101 values)


@dataclass(frozen=True)
class _Site:
    """A point with a made-up address; `extra` holds the layer's own fields."""

    name: str
    point: Point
    road_address: str
    jibun_address: str
    dong: str
    extra: dict


@dataclass(frozen=True)
class _Place:
    outline: Polygon
    schools: tuple[_School, ...]  # elementary first, then the others
    zones: tuple[_Zone, ...]
    dongs: tuple[_Dong, ...]
    kium: tuple[_Site, ...]
    local: tuple[_Site, ...]
    dahamkke: tuple[_Site, ...]
    daycare: tuple[_Site, ...]
    candidates: tuple[_Site, ...]


def _make_place(rng: np.random.Generator) -> _Place:
    outline = _outline(rng)
    elem_points = _grid_points(rng, outline, cols=2, rows=4, jitter=(0.2, 0.2))
    dong_seeds = _dong_seed_points(rng, outline)
    dong_polys = _voronoi_cells(dong_seeds, outline)
    addresser = _Addresser(rng, dong_polys)
    schools = _make_schools(rng, outline, elem_points, addresser)
    elementary = [s for s in schools if s.level == "초등학교"]
    zones = _make_zones(elementary, outline)
    dongs = _make_dongs(rng, dong_polys, elementary, zones)
    north = _band(outline, 0.35, 1.0)
    return _Place(
        outline=outline,
        schools=tuple(schools),
        zones=tuple(zones),
        dongs=tuple(dongs),
        # Care supply leans to the north so the demo has a real gap in the south.
        kium=tuple(_kium_sites(rng, north, addresser)),
        local=tuple(_local_sites(rng, outline, north, addresser)),
        dahamkke=tuple(_dahamkke_sites(rng, north, addresser)),
        daycare=tuple(_daycare_sites(rng, outline, addresser)),
        candidates=tuple(_candidate_sites(rng, outline, dong_polys, addresser)),
    )


def _outline(rng: np.random.Generator) -> Polygon:
    """A 3 km × 4 km rectangle whose edges wander by up to ~150 m (a plausible 구 border)."""
    cx, cy = _TO_METRIC.transform(_CENTER_LON, _CENTER_LAT)
    hw, hh = _WIDTH_M / 2, _HEIGHT_M / 2
    corners = [(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh)]
    phases = rng.uniform(0, 2 * math.pi, size=3)
    perimeter = 2 * (_WIDTH_M + _HEIGHT_M)
    coords: list[tuple[float, float]] = []
    walked = 0.0
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        # Outward normal of a counter-clockwise ring.
        nx_, ny_ = (y1 - y0) / length, -(x1 - x0) / length
        steps = int(length // 200)
        for k in range(steps):
            t = k / steps
            s = (walked + t * length) / perimeter * 2 * math.pi
            # A few low-frequency waves: smooth, never self-intersecting at 200 m spacing.
            wobble = 80 * math.sin(3 * s + phases[0]) + 45 * math.sin(7 * s + phases[1]) \
                + 25 * math.sin(13 * s + phases[2])
            coords.append((x0 + t * (x1 - x0) + wobble * nx_, y0 + t * (y1 - y0) + wobble * ny_))
        walked += length
    poly = Polygon(coords)
    if not poly.is_valid:  # pragma: no cover - guarded by the test of every seed we ship
        poly = shapely.make_valid(poly)
    return poly


def _grid_points(
    rng, outline: Polygon, *, cols: int, rows: int, jitter: tuple[float, float]
) -> list[Point]:
    """One point per cell of a cols × rows grid over the bounds, jittered inside its cell."""
    x0, y0, x1, y1 = outline.bounds
    w, h = (x1 - x0) / cols, (y1 - y0) / rows
    points = []
    for r in range(rows - 1, -1, -1):  # north to south, west to east: reading order
        for c in range(cols):
            while True:
                x = x0 + (c + 0.5 + rng.uniform(-jitter[0], jitter[0])) * w
                y = y0 + (r + 0.5 + rng.uniform(-jitter[1], jitter[1])) * h
                p = Point(round(x, 1), round(y, 1))
                if outline.buffer(-300).contains(p):
                    points.append(p)
                    break
    return points


def _dong_seed_points(rng, outline: Polygon) -> list[Point]:
    """Eight seeds in rows of 3, 3, 2 (a layout unrelated to the schools' 2 × 4 grid)."""
    x0, y0, x1, y1 = outline.bounds
    points = []
    for fy, count in ((5 / 6, 3), (3 / 6, 3), (1 / 6, 2)):
        for i in range(count):
            fx = (i + 0.5) / count + rng.uniform(-0.08, 0.08)
            y = y0 + (fy + rng.uniform(-0.05, 0.05)) * (y1 - y0)
            points.append(Point(round(x0 + fx * (x1 - x0), 1), round(y, 1)))
    return points


def _voronoi_cells(points: Sequence[Point], outline: Polygon) -> list[BaseGeometry]:
    """Voronoi cells of `points` clipped to `outline`, in the order of `points`."""
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(list(points)), extend_to=outline.buffer(2000), ordered=True
    )
    return [cell.intersection(outline) for cell in cells.geoms]


def _band(outline: Polygon, low: float, high: float) -> BaseGeometry:
    """The part of `outline` between fractions `low` and `high` of its height."""
    x0, y0, x1, y1 = outline.bounds
    box = shapely.box(x0 - 1, y0 + low * (y1 - y0), x1 + 1, y0 + high * (y1 - y0))
    return outline.intersection(box)


class _Addresser:
    """Makes up unique 도로명 and 지번 addresses inside the 행정동 a point falls in."""

    def __init__(self, rng: np.random.Generator, dong_polys: Sequence[BaseGeometry]) -> None:
        self._rng = rng
        self._dongs = dong_polys
        self._used: set[str] = set()

    def dong_of(self, point: Point) -> str:
        for name, poly in zip(_DONG_NAMES, self._dongs, strict=True):
            if poly.covers(point):
                return name
        return _DONG_NAMES[int(np.argmin([poly.distance(point) for poly in self._dongs]))]

    def addresses(self, point: Point) -> tuple[str, str, str]:
        """(도로명 address, 지번 address, 행정동 name) for `point`."""
        dong = self.dong_of(point)
        legal = re.sub(r"\d+동$", "동", dong)  # 가온1동 (행정동) lies in 가온동 (법정동)
        while True:
            road = _ROADS[int(self._rng.integers(len(_ROADS)))]
            number = int(self._rng.integers(1, 400))
            road_address = f"{SIDO} {SIGUNGU} {road} {number}"
            if road_address not in self._used:
                break
        self._used.add(road_address)
        lot = f"{int(self._rng.integers(1, 900))}-{int(self._rng.integers(1, 40))}"
        return road_address, f"{SIDO} {SIGUNGU} {legal} {lot}", dong


def _random_points(
    rng, area: BaseGeometry, n: int, *, min_gap_m: float, avoid: Sequence[Point] = ()
) -> list[Point]:
    """`n` points in `area`, at least `min_gap_m` apart from each other and from `avoid`."""
    x0, y0, x1, y1 = area.bounds
    inner = area.buffer(-60)  # keep off the border so every point is clearly in the 구
    taken = list(avoid)
    points: list[Point] = []
    while len(points) < n:
        p = Point(round(rng.uniform(x0, x1), 1), round(rng.uniform(y0, y1), 1))
        if inner.contains(p) and all(p.distance(q) >= min_gap_m for q in taken):
            points.append(p)
            taken.append(p)
    return points


# --------------------------------------------------------------------------- schools and zones


def _make_schools(rng, outline, elem_points, addresser: _Addresser) -> list[_School]:
    schools = []
    for i, (stem, point) in enumerate(zip(_SCHOOL_STEMS, elem_points, strict=True)):
        total = int(rng.integers(200, 1000))
        special_classes = int(rng.choice([0, 1, 1, 2]))
        special = int(sum(rng.integers(3, 8) for _ in range(special_classes)))
        weights = rng.uniform(0.9, 1.1, size=6)
        grades = _split(total - special, weights)
        road, jibun, _ = addresser.addresses(point)
        schools.append(_School(
            school_id=f"B99000{101 + i:04d}", alimi_code=f"S99000{101 + i:04d}",
            name=f"{stem}초등학교", level="초등학교",
            founded=f"{int(rng.integers(1965, 2015))}-03-01", point=point,
            road_address=road, jibun_address=jibun,
            grades=tuple(grades), special=special, special_classes=special_classes,
        ))
    others = [(f"{stem}중학교", "중학교") for stem in _MIDDLE_STEMS] + [("너울고등학교", "고등학교")]
    taken = [s.point for s in schools]
    points = _random_points(rng, outline, len(others), min_gap_m=400, avoid=taken)
    for j, ((name, level), point) in enumerate(zip(others, points, strict=True)):
        road, jibun, _ = addresser.addresses(point)
        schools.append(_School(
            school_id=f"B99000{201 + j:04d}", alimi_code=f"S99000{201 + j:04d}",
            name=name, level=level,
            founded=f"{int(rng.integers(1970, 2010))}-03-01", point=point,
            road_address=road, jibun_address=jibun,
        ))
    return schools


def _split(total: int, weights: np.ndarray) -> list[int]:
    """Split integer `total` in proportion to `weights` (largest remainder; sums exactly)."""
    raw = total * np.asarray(weights, dtype=float) / float(np.sum(weights))
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return [int(v) for v in base]


def _make_zones(elementary: Sequence[_School], outline: Polygon) -> list[_Zone]:
    """학구 = Voronoi cells of the schools clipped to the 구, with one 공동통학구역 carved out.

    The shared zone is a 360 m wide strip along the longest border between two
    schools' cells, taken from both, so zones still tile the 구 without overlap.
    """
    cells = _voronoi_cells([s.point for s in elementary], outline)
    best, best_len = (0, 1), -1.0
    for i in range(len(cells)):
        for j in range(i + 1, len(cells)):
            length = cells[i].boundary.intersection(cells[j].boundary).length
            if length > best_len:
                best, best_len = (i, j), length
    i, j = best
    border = cells[i].boundary.intersection(cells[j].boundary)
    strip = border.buffer(180, cap_style="flat").intersection(cells[i].union(cells[j]))
    cells[i], cells[j] = cells[i].difference(strip), cells[j].difference(strip)
    zones = []
    for k, (school, cell) in enumerate(zip(elementary, cells, strict=True)):
        stem = school.name.removesuffix("초등학교")
        zone_id = f"Z99000{101 + k:04d}"
        zones.append(_Zone(zone_id, f"{stem}초통학구역", False, (school.school_id,), cell))
    a, b = elementary[i], elementary[j]
    zones.append(_Zone(
        "Z990001901",
        f"{a.name.removesuffix('초등학교')}초{b.name.removesuffix('초등학교')}초공동통학구역",
        True, (a.school_id, b.school_id), strip,
    ))
    return zones


# --------------------------------------------------------------------------- population

# Relative size of each single-year age group in a Seoul-like 구 (age, weight).
_AGE_SHAPE = np.interp(
    np.arange(101),
    [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95, 100],
    [0.45, 0.52, 0.72, 0.78, 1.0, 1.35, 1.6, 1.5, 1.45, 1.5, 1.55, 1.5, 1.45, 1.3, 1.0, 0.7,
     0.45, 0.25, 0.1, 0.03, 0.008],
)


def _make_dongs(
    rng, dong_polys, elementary: Sequence[_School], zones: Sequence[_Zone]
) -> list[_Dong]:
    """행정동 with single-year ages; children 6–12 ≈ 1.1 × the pupils living there.

    Each school's pupils are spread evenly over its catchment (own zone plus any
    shared zone); a 행정동 gets 1.1 × the pupils of the catchment area it holds.
    """
    catchments = []
    for school in elementary:
        parts = [z.geometry for z in zones if school.school_id in z.school_ids]
        catchments.append(shapely.union_all(parts))
    pupils = np.array([sum(s.grades) + s.special for s in elementary], dtype=float)
    dongs = []
    for k, (name, poly) in enumerate(zip(_DONG_NAMES, dong_polys, strict=True)):
        share = np.array([c.intersection(poly).area / c.area for c in catchments])
        children = int(round(1.1 * float(share @ pupils)))
        ages = _age_profile(rng, children)
        dongs.append(_Dong(f"{SIGUNGU_CODE}{51 + k}000", name, poly, tuple(ages)))
    return dongs


def _age_profile(rng, children_6_12: int) -> list[int]:
    """Counts for ages 0..99 and 100+ with exactly `children_6_12` aged 6–12."""
    # Young-family 동 have more children, and more parents in their 30s–40s.
    family = rng.uniform(0.8, 1.25)
    shape = _AGE_SHAPE * rng.lognormal(0.0, 0.07, size=101)
    shape[:15] *= family
    shape[30:46] *= family ** 0.5
    child_share = rng.uniform(0.045, 0.065)
    total_target = children_6_12 / child_share
    counts = np.rint(shape / shape.sum() * total_target).astype(int)
    counts[6:13] = _split(children_6_12, shape[6:13])
    return [int(v) for v in counts]


# --------------------------------------------------------------------------- facilities and sites


def _kium_sites(rng, area, addresser) -> list[_Site]:
    points = _random_points(rng, area, 6, min_gap_m=350)
    sites = []
    for i, p in enumerate(points):
        road, jibun, dong = addresser.addresses(p)
        fusion = i == 2
        sites.append(_Site(
            name=f"가온{i + 1}호점 우리동네키움센터({dong}{'융합형' if fusion else ''})", point=p,
            road_address=road, jibun_address=jibun, dong=dong,
            extra={
                "fusion": fusion,
                "founded": f"{2019 + i // 2}-{int(rng.integers(1, 13)):02d}-01",
                "area_m2": round(float(rng.uniform(*((215, 260) if fusion else (66, 150)))), 2),
                "capacity": 30 if fusion else int(rng.choice([20, 20, 25])),
                "term": (("1100", "2000") if fusion
                         else ("1200", "2000") if i == 4 else ("1300", "1900")),
                "vac": ("0800", "2000") if fusion else ("0900", "1800"),
                "floor": int(rng.integers(1, 4)),
            },
        ))
    return sites


def _local_sites(rng, outline, north, addresser) -> list[_Site]:
    stems = ("푸른꿈", "새싹", "햇살", "무지개", "꿈나무", "열매", "한마음", "디딤돌")
    points = _random_points(rng, north, 6, min_gap_m=300)
    points += _random_points(rng, outline, 2, min_gap_m=300)
    sites = []
    for i, (stem, p) in enumerate(zip(stems, points, strict=True)):
        road, jibun, dong = addresser.addresses(p)
        term = ("1400", "2200") if i == 1 else (("", "") if i == 5 else ("1300", "1900"))
        sites.append(_Site(
            name=f"{stem}지역아동센터", point=p, road_address=road, jibun_address=jibun, dong=dong,
            extra={
                "term": term,
                "saturday": ("1000", "1500") if i == 3 else None,
                "no_coordinates": i == 7,  # the real list has a few rows without X/Y
                "registered": f"{2015 + i}-0{1 + i % 9}-15 10:00:00.0",
                "phone": f"02-{int(rng.integers(2600, 2700))}-{int(rng.integers(1000, 10000))}",
            },
        ))
    return sites


def _dahamkke_sites(rng, north, addresser) -> list[_Site]:
    stems = ("가온", "하람", "늘품")
    points = _random_points(rng, north, 3, min_gap_m=500)
    sites = []
    for i, (stem, p) in enumerate(zip(stems, points, strict=True)):
        road, jibun, dong = addresser.addresses(p)
        sites.append(_Site(
            name=f"{stem} 다함께돌봄센터 {i + 1}호점", point=p,
            road_address=road, jibun_address=jibun, dong=dong,
            extra={"capacity": (20, 25, 20)[i], "fee": (100000, 100000, 50000)[i],
                   "saturday": "10:00 ~ 14:00" if i == 1 else ""},
        ))
    return sites


def _daycare_sites(rng, outline, addresser) -> list[_Site]:
    stems = ("해님", "달님", "별님", "아기곰", "꿈동산", "예쁜", "사랑", "튼튼", "씽씽", "방글",
             "소나무", "은행나무", "도토리", "초록", "파랑새", "솔방울", "새봄", "꼬마", "다정", "미소",
             "옹달샘", "하늘빛", "구름")
    kinds = ("국공립", "민간", "가정", "가정", "민간", "직장", "협동", "가정")
    points = _random_points(rng, outline, len(stems), min_gap_m=200)
    sites = []
    for i, (stem, p) in enumerate(zip(stems, points, strict=True)):
        road, jibun, dong = addresser.addresses(p)
        kind = kinds[i % len(kinds)]
        capacity = int(rng.integers(15, 21) if kind == "가정" else rng.integers(30, 100))
        closed = i in (4, 11, 18)  # a few 폐지 rows, as in every real 어린이집 list
        sites.append(_Site(
            name=f"{stem}어린이집", point=p, road_address=road, jibun_address=jibun, dong=dong,
            extra={"kind": kind, "capacity": capacity, "closed": closed,
                   "enrolled": 0 if closed else int(capacity * rng.uniform(0.6, 0.98)),
                   "rooms": max(2, capacity // 15),
                   "approved": f"{int(rng.integers(2005, 2024))}-03-01",
                   "closed_on": f"{int(rng.integers(2021, 2025))}-02-28" if closed else "",
                   "service": "일반" if i % 4 else "야간연장형",
                   "phone": f"02-{int(rng.integers(2600, 2700))}-{int(rng.integers(1000, 10000))}"},
        ))
    return sites


def _candidate_sites(rng, outline, dong_polys, addresser) -> list[_Site]:
    sites: list[_Site] = []
    # One 주민센터 per 행정동, near the middle of it.
    for name, poly in zip(_DONG_NAMES, dong_polys, strict=True):
        p = _random_points(rng, poly.centroid.buffer(300).intersection(poly), 1, min_gap_m=0)[0]
        sites.append(_cand(rng, addresser, p, f"{name} 주민센터", "주민센터", (80, 300), "2층 여유 공간"))
    others = [("작은도서관", 6, (40, 150)), ("경로당", 7, (40, 120)), ("공공시설", 4, (120, 300))]
    labels = {"작은도서관": ("숲속", "책나래", "별빛", "온누리", "다락", "도란도란"),
              "경로당": ("가온", "누리", "하람", "단비", "늘품", "꽃뫼", "미리내"),
              "공공시설": ("가온구 청소년문화의집", "가온구 보건지소", "가온구 공영주차장 복합동",
                       "가온구 구민체육센터")}
    avoid = [s.point for s in sites]
    for kind, count, (lo, hi) in others:
        for k, p in enumerate(_random_points(rng, outline, count, min_gap_m=250, avoid=avoid)):
            label = labels[kind][k]
            name = {"공공시설": label, "작은도서관": f"{label} 작은도서관"}.get(kind, f"{label}경로당")
            note = "1층 일부 전환 가능" if kind == "경로당" else "리모델링 필요"
            sites.append(_cand(rng, addresser, p, name, kind, (lo, hi), note))
            avoid.append(p)
    return sites


def _cand(rng, addresser, p, name, kind, area_range, note) -> _Site:
    road, jibun, dong = addresser.addresses(p)
    return _Site(name=name, point=p, road_address=road, jibun_address=jibun, dong=dong,
                 extra={"kind": kind, "area_m2": round(float(rng.uniform(*area_range)), 1),
                        "floor": int(rng.choice([1, 1, 2, 2, 3, 4])), "note": note})


# --------------------------------------------------------------------------- formatting helpers


def _lonlat(point: Point) -> tuple[float, float]:
    lon, lat = _TO_LONLAT.transform(point.x, point.y)
    return float(lon), float(lat)


def _num(value: float, digits: int) -> str:
    """Fixed decimals without trailing zeros (``"126.88"``, ``"18.5"``, ``"23"``)."""
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _half_up(value: float, digits: int = 1) -> str:
    """Round half up like a spreadsheet (the portals' ratios are rounded that way)."""
    quantum = Decimal(1).scaleb(-digits)
    return _num(float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)), digits)


def _thousands(value: int) -> str:
    return f"{value:,}"


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[str]], *, quote_all: bool,
              trailing_newline: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
                        lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    return text if trailing_newline else text.removesuffix("\n")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _geo_coords(geom: BaseGeometry) -> list:
    """MultiPolygon coordinates in lon/lat on a 1e-6° grid (≈ 0.1 m), as in the real files."""
    lonlat = shapely.transform(
        geom, lambda xy: np.column_stack(_TO_LONLAT.transform(xy[:, 0], xy[:, 1]))
    )
    polys = _polygons(_snap_valid(lonlat, 1e-6))

    def ring(coords) -> list[list[float]]:
        return [[round(float(x), 6), round(float(y), 6)] for x, y in coords]

    return [[ring(p.exterior.coords)] + [ring(r.coords) for r in p.interiors] for p in polys]


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    # Drop slivers and stray lines that snapping may leave (1e-10 deg² ≈ 1 m²).
    return [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > 1e-10]


def _snap_valid(geom: BaseGeometry, grid: float) -> BaseGeometry:
    """`geom` with every vertex on `grid`, still valid.

    Plain rounding can fold a narrow corner into a self-intersection, so GEOS
    precision reduction is used; where GEOS gives up (it can on odd slivers),
    round vertex-wise and repair until the rounded shape is valid.
    """
    try:
        snapped = shapely.set_precision(geom, grid)
        if snapped.is_valid:
            return snapped
    except shapely.errors.GEOSException:
        pass
    current = geom
    for _ in range(10):
        snapped = shapely.set_precision(current, grid, mode="pointwise")
        if snapped.is_valid:
            return snapped
        current = MultiPolygon(_polygons(shapely.make_valid(snapped)))
    msg = f"could not snap a polygon to a {grid} grid without making it invalid"
    raise RuntimeError(msg)


# --------------------------------------------------------------------------- file writers


_SCHOOL_HEADER = (
    "학교ID", "학교명", "학교급구분", "설립일자", "설립형태", "본교분교구분", "운영상태", "소재지지번주소",
    "소재지도로명주소", "시도교육청코드", "시도교육청명", "교육지원청코드", "교육지원청명", "생성일자",
    "변경일자", "위도", "경도", "데이터기준일자", "제공기관코드", "제공기관명",
)


def _schools_csv(place: _Place) -> bytes:
    """전국초중등학교위치표준데이터: CP949, no quoting, no newline after the last row."""
    rows = []
    for s in place.schools:
        lon, lat = _lonlat(s.point)
        rows.append([
            s.school_id, s.name, s.level, s.founded, "공립", "본교", "운영",
            s.jibun_address, s.road_address,
            "7010000", "서울특별시교육청", "7099000", "서울특별시가온교육지원청", "2013-11-29", "2025-03-04",
            _num(lat, 8), _num(lon, 7), _SCHOOL_DATE, "C990000", PROVIDER,
        ])
    return _csv_text(_SCHOOL_HEADER, rows, quote_all=False, trailing_newline=False).encode("cp949")


def _students_header() -> list[str]:
    head = ["시도교육청", "교육지원청", "지역", "정보공시 학교코드", "학교명", "학교급코드",
            "설립구분", "제외여부", "제외사유"]
    groups = [f"{g}학년" for g in range(1, 7)] + ["특수학급", "순회학급"]
    for group in groups:
        head += [f"{group} 학급수", f"{group} 학생수", f"{group} 학급당 학생수"]
    return head + ["학급수(계)", "학생수(계)", "학급당 학생수(계)", "교사수", "수업교원 1인당 학생수"]


def _students_csv(place: _Place) -> bytes:
    """학교알리미 학년별·학급별 학생수: UTF-8 (no BOM), every field quoted."""
    rows = []
    for s in place.schools:
        if s.level != "초등학교":
            continue
        row = ["서울특별시교육청", "서울특별시가온교육지원청", f"{SIDO} {SIGUNGU}", s.alimi_code, s.name,
               "02", "공립", "N", ""]
        classes_total = 0
        for n in s.grades:
            classes = max(1, math.ceil(n / 24))  # 학급당 정원 ≈ 24 in Seoul
            classes_total += classes
            row += [str(classes), str(n), _half_up(n / classes)]
        sc = s.special_classes
        row += [str(sc), str(s.special), _half_up(s.special / sc) if sc else "0", "0", "0", "0"]
        classes_total += sc
        pupils = sum(s.grades) + s.special
        teachers = int(round(classes_total * 1.25))
        row += [str(classes_total), str(pupils), _half_up(pupils / classes_total), str(teachers),
                _half_up(pupils / teachers)]
        rows.append(row)
    text = _csv_text(_students_header(), rows, quote_all=True, trailing_newline=True)
    return text.encode("utf-8")


def _zones_geojson(place: _Place) -> bytes:
    features = [
        {"type": "Feature",
         "properties": {"HAKGUDO_ID": z.zone_id, "HAKGUDO_NM": z.name, "shared": z.shared,
                        "school_ids": ",".join(z.school_ids)},
         "geometry": {"type": "MultiPolygon", "coordinates": _geo_coords(z.geometry)}}
        for z in place.zones
    ]
    collection = _collection(f"gaon_elementary_school_zones ({SYNTHETIC_LABEL})", features)
    return json.dumps(collection, ensure_ascii=False).encode("utf-8")


def _population_csv(place: _Place) -> bytes:
    """행정안전부 연령별 인구현황: CP949, all quoted, thousands separators, 시도/구/동 rows."""
    year, month = _POP_MONTH
    prefix = f"{year}년{month}월_계_"
    header = ["행정구역", f"{prefix}총인구수", f"{prefix}연령구간인구수"]
    header += [f"{prefix}{a}세" for a in range(100)] + [f"{prefix}100세 이상"]
    gu = np.sum([d.ages for d in place.dongs], axis=0)

    def row(label: str, ages) -> list[str]:
        total = int(np.sum(ages))
        return [label, _thousands(total), _thousands(total)] + [_thousands(int(v)) for v in ages]

    # The 시도 row is the sample's own total: the fictional 구 is the only one in it.
    rows = [row(f"{SIDO}  ({SIDO_CODE}00000000)", gu),
            row(f"{SIDO} {SIGUNGU} ({SIGUNGU_CODE}00000)", gu)]
    rows += [row(f"{SIDO} {SIGUNGU} {d.name}({d.code})", d.ages) for d in place.dongs]
    return _csv_text(header, rows, quote_all=True, trailing_newline=True).encode("cp949")


def _admin_geojson(place: _Place) -> bytes:
    """vuski/admdongkor layout (ASCII-escaped JSON, CRS84, one MultiPolygon per 행정동)."""
    features = []
    for k, d in enumerate(place.dongs):
        props = {"OBJECTID": k + 1, "adm_nm": f"{SIDO} {SIGUNGU} {d.name}",
                 "adm_cd": f"{SIGUNGU_CODE}{51 + k}", "adm_cd2": d.code, "sgg": SIGUNGU_CODE,
                 "sido": SIDO_CODE, "sidonm": SIDO, "sggnm": SIGUNGU}
        geometry = {"type": "MultiPolygon", "coordinates": _geo_coords(d.geometry)}
        features.append({"type": "Feature", "properties": props,
                         "geometry": geometry})
    collection = _collection(f"gaon_hangjeongdong ({SYNTHETIC_LABEL})", features)
    return json.dumps(collection).encode("utf-8")


def _collection(name: str, features: list[dict]) -> dict:
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    return {"type": "FeatureCollection", "name": name, "crs": crs, "features": features}


_KIUM_HEADER = (
    "시설ID", "시설명", "서비스분류코드", "서비스분류명", "자치구코드", "자치구명", "연령구분코드", "연령구분",
    "X좌표값", "Y좌표값", "우편번호", "기본주소", "상세주소", "설립일", "사용료무료여부", "사용료", "전용면적(평)",
    "학기시작시간", "학기종료시간", "방학시작시간", "방학종료시간", "재량휴일시작시간", "재량휴일종료시간",
    "토요일운영여부", "토요일운영시작시간", "토요일운영종료시간", "월사용료무료여부", "월자기부담금", "월사용료",
    "일사용료무료여부", "일자기부담금", "일사용료", "상시돌봄정원수", "일시돌봄정원수", "전용면적(m2)",
    "자치구코드배열", "등록일시", "수정일시",
)


def _postcode(rng_key: int) -> str:
    return f"{8950 + rng_key % 50:05d}"  # 0895x–0899x: unused by real Seoul addresses


def _detail(floor: int, dong: str) -> str:
    return f"{floor}층 ({dong}, {SYNTHETIC_LABEL})"


def _kium_csv(place: _Place) -> bytes:
    """서울 우리동네키움센터: UTF-8 with BOM, all quoted, no final newline."""
    rows = []
    for i, s in enumerate(place.kium):
        e = s.extra
        lon, lat = _lonlat(s.point)
        code, label = ("1009", "융합형키움센터") if e["fusion"] else ("1001", "우리동네키움센터")
        sat = ["Y", "0900", "1400"] if e["fusion"] else ["N", "", ""]
        # One address with a trailing space, as real hand-typed rows have.
        address = s.road_address + (" " if i == 3 else "")
        rows.append([
            f"GA{e['founded'][2:4]}{e['founded'][5:7]}0{i + 1}", s.name, code, label,
            SIGUNGU_CODE, SIGUNGU,
            "1003", "초등학생", _num(lon, 5), _num(lat, 5), _postcode(i * 7), address,
            _detail(e["floor"], s.dong), e["founded"], "", "", str(round(e["area_m2"] * 121 / 400)),
            *e["term"], *e["vac"], *e["vac"], *sat, "N", "", "50000", "N", "", "2500",
            str(e["capacity"]), str(e["capacity"] // 5), _num(e["area_m2"], 2), "",
            f"{e['founded']} 10:00:00.0", f"{_FACILITY_DATE} 09:00:00.0",
        ])
    text = _csv_text(_KIUM_HEADER, rows, quote_all=True, trailing_newline=False)
    return text.encode("utf-8-sig")


_LOCAL_HEADER = (
    "시설ID", "시설명", "서비스분류코드", "서비스분류", "자치구코드", "자치구명", "연령구분코드", "연령구분",
    "X좌표값", "Y좌표값", "우편번호", "기본주소", "상세주소", "연락처", "사용료", "학기시작시간", "학기종료시간",
    "방학시작시간", "방학종료시간", "토요일운영여부", "토요일운영시작시간", "토요일운영종료시간",
    "등록일시", "수정일시",
)


def _local_csv(place: _Place) -> bytes:
    """서울 지역아동센터: UTF-8 with BOM, all quoted, no final newline."""
    rows = []
    for i, s in enumerate(place.local):
        e = s.extra
        lon, lat = _lonlat(s.point)
        xy = ["", ""] if e["no_coordinates"] else [_num(lon, 5), _num(lat, 5)]
        sat = ["Y", *e["saturday"]] if e["saturday"] else ["N", "", ""]
        rows.append([
            f"GA{e['registered'][2:4]}{e['registered'][5:7]}0{i + 1}", s.name, "1003", "지역아동센터",
            SIGUNGU_CODE, SIGUNGU, "1003", "초등학생", *xy, _postcode(20 + i * 3), s.road_address,
            _detail(1 + i % 3, s.dong), e["phone"], "0", *e["term"], "", "", *sat,
            e["registered"], "",
        ])
    text = _csv_text(_LOCAL_HEADER, rows, quote_all=True, trailing_newline=False)
    return text.encode("utf-8-sig")


def _dahamkke_csv(place: _Place) -> bytes:
    """A 구청's hand-made list: plain UTF-8 (no BOM), minimal quoting, Korean headers."""
    header = ["시설명", "주소", "정원", "학기운영시간", "방학운영시간", "토요일운영시간", "월이용료", "위도", "경도"]
    rows = []
    for s in place.dahamkke:
        lon, lat = _lonlat(s.point)
        rows.append([s.name, f"{s.road_address} ({SYNTHETIC_LABEL})", str(s.extra["capacity"]),
                     "14:00 ~ 20:00", "09:00 ~ 18:00", s.extra["saturday"], str(s.extra["fee"]),
                     _num(lat, 6), _num(lon, 6)])
    return _csv_text(header, rows, quote_all=False, trailing_newline=True).encode("utf-8")


_DAYCARE_HEADER = (
    "시군구명", "어린이집코드", "어린이집명", "어린이집유형", "운영현황",
    "우편번호", "상세주소", "전화번호", "팩스번호",
    "홈페이지주소", "보육실수", "보육실 면적", "놀이터수", "CCTV총설치수", "보육교직원수", "정원", "현원",
    "시설 위도(좌표값)", "시설 경도(좌표값)", "통학차량운영여부", "인가일자", "휴지시작일자", "휴지종료일자",
    "폐지일자", "데이터기준일자", "제공서비스",
    *(f"반수-{g}" for g in ("만0세", "만1세", "만2세", "만3세", "만4세", "만5세", "영아혼합(만0~2세)",
                           "유아혼합(만3~5세)", "특수장애", "총계")),
    *(f"아동수-{g}" for g in ("만0세", "만1세", "만2세", "만3세", "만4세", "만5세", "영아혼합(만0~2세)",
                            "유아혼합(만3~5세)", "특수장애", "총계")),
    "근속년수-1년미만", "근속년수-1년이상~2년미만", "근속년수-2년이상~4년미만", "근속년수-4년이상~6년미만",
    "근속년수-6년이상",
    *(f"교직원현황-{g}" for g in ("원장", "보육교사", "특수교사", "치료교사", "영양사", "간호사", "간호조무사",
                              "조리원", "사무직원", "총계")),
    "데이터수집일",
)


def _daycare_csv(place: _Place) -> bytes:
    """서울시 어린이집 정보 (표준 데이터): CP949, all quoted, no final newline."""
    rows = []
    for i, s in enumerate(place.daycare):
        e = s.extra
        lon, lat = _lonlat(s.point)
        enrolled = e["enrolled"]
        # Children by age 0..5 (no mixed or special classes in the sample).
        kids = _split(enrolled, [1, 2, 3, 3, 3, 3]) if enrolled else [0] * 6
        classes = [max(1, math.ceil(k / 7)) if k else 0 for k in kids]
        staff = 0 if e["closed"] else sum(classes) + 2
        tenure = [""] * 5 if e["closed"] else [str(v) for v in _split(staff, [2, 2, 3, 2, 1])]
        teachers = ([""] * 10 if e["closed"] else
                    ["1", str(sum(classes)), "0", "0", "0", "0", "0", "1", "0", str(staff)])
        rows.append([
            SIGUNGU, f"{SIGUNGU_CODE}000{101 + i:03d}", s.name, e["kind"],
            "폐지" if e["closed"] else "정상",
            _postcode(30 + i), f"{s.road_address} ({SYNTHETIC_LABEL})", e["phone"], "", "",
            str(e["rooms"]), str(e["rooms"] * 28), "0" if e["kind"] == "가정" else "1",
            str(e["rooms"] * 2 + 2),
            str(staff), str(e["capacity"]), str(enrolled), _num(lat, 12), _num(lon, 12),
            "미운영", e["approved"], "", "", e["closed_on"], _DAYCARE_DATE, e["service"],
            *(str(c) for c in classes), "0", "0", "0", str(sum(classes)),
            *(str(k) for k in kids), "0", "0", "0", str(enrolled),
            *tenure, *teachers, f"{_DAYCARE_DATE} 10:00:00.0",
        ])
    return _csv_text(_DAYCARE_HEADER, rows, quote_all=True, trailing_newline=False).encode("cp949")


def _candidates_csv(place: _Place) -> bytes:
    """Candidate sites as a planner would list them: UTF-8 with BOM."""
    header = ["후보지명", "유형", "전용면적(㎡)", "층", "경도", "위도", "비고"]
    rows = []
    for s in place.candidates:
        lon, lat = _lonlat(s.point)
        e = s.extra
        rows.append([s.name, e["kind"], _num(e["area_m2"], 1), str(e["floor"]),
                     _num(lon, 6), _num(lat, 6), f"{SYNTHETIC_LABEL}; {e['note']}"])
    return _csv_text(header, rows, quote_all=False, trailing_newline=True).encode("utf-8-sig")


# --------------------------------------------------------------------------- walk graph


def _write_walk_graph(path: Path, place: _Place, *, seed: int) -> str | None:
    """Write ``walk.graphml`` from ``careplan.network.synthetic_walk_graph`` if it exists."""
    from . import network

    make = getattr(network, "synthetic_walk_graph", None)
    if make is None:
        logger.warning("careplan.network.synthetic_walk_graph is missing; walk.graphml not written")
        return None
    return _save_graph(make, path, place, seed=seed)


def _save_graph(make: Callable[..., Any], path: Path, place: _Place, *, seed: int) -> str:
    """Street grid over the 구 + 500 m, saved like a downloaded OSMnx graph (EPSG:4326).

    Returns a one-line description for the README.
    """
    import osmnx as ox

    area = place.outline.buffer(500)
    x0, y0, x1, y1 = area.bounds
    G = make(extent_m=max(x1 - x0, y1 - y0), seed=seed, origin_xy=(round(x0, 1), round(y0, 1)))
    inside = shapely.contains_xy(area, [d["x"] for _, d in G.nodes(data=True)],
                                 [d["y"] for _, d in G.nodes(data=True)])
    G.remove_nodes_from([n for n, keep in zip(list(G.nodes), inside, strict=True) if not keep])
    G = ox.truncate.largest_component(G, strongly=False)
    # Nodes on the cut lost streets: recount as OSMnx does.
    nx.set_node_attributes(G, ox.stats.count_streets_per_node(G), "street_count")
    G = _sorted_graph(ox.projection.project_graph(G, to_crs="EPSG:4326"))
    # Coordinates and lengths at OSM precision keep the file small and the bytes stable.
    for _, data in G.nodes(data=True):
        data["x"], data["y"] = round(float(data["x"]), 7), round(float(data["y"]), 7)
        data.pop("lon", None), data.pop("lat", None)
    for _, _, data in G.edges(data=True):
        data["length"] = round(float(data["length"]), 3)
    label = f"{SIGUNGU} {SYNTHETIC_LABEL} (synthetic street grid, not OpenStreetMap)"
    G.graph["careplan_label"] = label
    ox.save_graphml(G, path)
    summary = f"{len(G):,} nodes, {G.number_of_edges():,} directed edges"
    logger.info("walk.graphml: %s", summary)
    return summary


def _sorted_graph(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """A copy with nodes and edges in id order, so the GraphML bytes never depend on set order."""
    H = nx.MultiDiGraph(**G.graph)
    H.add_nodes_from(sorted(G.nodes(data=True), key=lambda item: item[0]))
    H.add_edges_from(sorted(G.edges(keys=True, data=True), key=lambda item: item[:3]))
    return H


# --------------------------------------------------------------------------- README


# (file, what it imitates, format) for the README's table.
_README_TABLE = (
    ("schools.csv", "전국초중등학교위치표준데이터 (공공데이터포털)",
     f"CP949, 20 columns, unquoted; 제공기관명 `{PROVIDER}`"),
    ("students.csv", "학교알리미 학년별·학급별 학생수", "UTF-8, every field quoted, 38 columns"),
    ("school_zones.geojson", "초등학교 통학구역 (학구도)",
     "GeoJSON, CRS84; `HAKGUDO_ID`, `HAKGUDO_NM`, `shared`, `school_ids`"),
    ("population.csv", "행정안전부 주민등록 연령별 인구현황 (월간)",
     "CP949, quoted, thousands separators; the 시도 row is this sample's own total"),
    ("admin_areas.geojson", "행정동 경계 (vuski/admdongkor layout)",
     "GeoJSON, EPSG:4326; `adm_nm`, `adm_cd`, `adm_cd2`, `sgg`, `sido`, `sidonm`, `sggnm`"),
    ("kium_centers.csv", "서울 우리동네키움센터", "UTF-8 with BOM, 38 columns, quoted"),
    ("local_child_centers.csv", "서울 지역아동센터", "UTF-8 with BOM, 24 columns, quoted"),
    ("dahamkke_centers.csv", "a 구청's own list of 다함께돌봄센터",
     "UTF-8, generic Korean headers (`학기운영시간` like `14:00 ~ 20:00`)"),
    ("daycare.csv", "서울시 어린이집 정보 (표준 데이터)", "CP949, 62 columns, quoted"),
    ("candidates.csv", "a planner's list of candidate sites (주민센터, 작은도서관, 경로당, 공공시설)",
     "UTF-8 with BOM"),
)


def _readme(place: _Place, *, graph: str | None, seed: int) -> str:
    elementary = [s for s in place.schools if s.level == "초등학교"]
    pupils = sum(sum(s.grades) + s.special for s in elementary)
    children = sum(sum(d.ages[6:13]) for d in place.dongs)
    population = sum(sum(d.ages) for d in place.dongs)
    n_other = len(place.schools) - len(elementary)
    no_xy_row, no_xy = next((i + 1, s.name) for i, s in enumerate(place.local)
                            if s.extra["no_coordinates"])
    no_hours = next(s.name for s in place.local if s.extra["term"] == ("", ""))
    evening = next(s.name for s in place.local if s.extra["term"][1] == "2200")
    saturday = next(s.name for s in place.local if s.extra["saturday"])
    closed_rows = ", ".join(str(i + 1) for i, s in enumerate(place.daycare) if s.extra["closed"])
    other_rows = ", ".join(str(i + 1) for i, s in enumerate(place.schools) if s.level != "초등학교")
    shared = next(z for z in place.zones if z.shared)
    table = list(_README_TABLE)
    if graph:
        table.append(("walk.graphml",
                      f"a walk network over the 구 + 500 m ({graph}) made by "
                      "`careplan.network.synthetic_walk_graph`: a synthetic street grid, "
                      "**not** OpenStreetMap",
                      "OSMnx GraphML, EPSG:4326 like a downloaded OSMnx graph"))
    table_md = "\n".join(f"| `{name}` | {what} | {fmt} |" for name, what, fmt in table)
    return f"""# 가온구 sample — 가상 데이터 (synthetic data)

**이 폴더의 모든 파일은 가상 데이터입니다.** Everything here is invented: {SIDO} {SIGUNGU}
(시군구 code {SIGUNGU_CODE}) does not exist, and no row, name or number is copied from real
data. The district is drawn at about {_CENTER_LAT:.2f}° N, {_CENTER_LON:.2f}° E only so that its
coordinates look like Seoul's; do not read it as a real place. The files imitate the formats of
the real Korean open-data exports (columns, encodings, quoting, thousands separators), so
careplan's readers read this sample exactly as they read the real files, and `careplan demo`
runs on it offline.

Made by `python -m careplan.sample` (seed {seed}, code in `src/careplan/sample.py`); running it
again rewrites the same bytes, and `tests/test_sample.py` checks that.

## What is in it

- {len(elementary)} 초등학교 with {pupils:,} pupils, each inside its own 학구
  (plus {n_other} 중·고등학교 rows, as the national school file has);
- {len(place.zones)} 학구 that tile the 구, one of them the 공동통학구역 `{shared.name}`;
- {len(place.dongs)} 행정동 that tile the 구 independently of the 학구: {population:,} residents,
  {children:,} children aged 6–12 (≈ 1.1 × pupils);
- {len(place.kium)} 우리동네키움센터 (1 융합형), {len(place.local)} 지역아동센터,
  {len(place.dahamkke)} 다함께돌봄센터, {len(place.daycare)} 어린이집 rows and
  {len(place.candidates)} candidate sites. Care supply leans to the north of the 구, so the
  south has a gap for the siting step to fill.

| file | imitates | format |
|---|---|---|
{table_md}

Where a format has room for it, rows say `{SYNTHETIC_LABEL}`: 제공기관명 (schools), 비고
(candidates), 상세주소 / 주소 (facilities), and the GeoJSON collection `name`. 학교알리미 and
인구현황 rows have no such column; this README is their label.

## Deliberately messy rows

The real exports have a few untidy rows; the sample keeps a handful so that a row report has
something to say (row numbers count data rows, header excluded):

- `local_child_centers.csv` row {no_xy_row}: {no_xy} has no coordinates (X/Y blank);
  the reader rejects it.
- `local_child_centers.csv`: {no_hours} has blank 학기 hours; the catalog default applies.
  ({evening} stays open until 22:00 and {saturday} opens on Saturdays: valid, not messy.)
- `daycare.csv` rows {closed_rows}: 폐지 (closed) 어린이집, excluded as not operating.
- `schools.csv` rows {other_rows}: 중·고등학교, excluded when reading 초등학교.
- `kium_centers.csv`: one 기본주소 ends with a stray space.
- `population.csv`: numbers carry thousands separators (`"1,234"`).
"""


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m careplan.sample [--out DIR] [--seed N]``."""
    parser = argparse.ArgumentParser(prog="python -m careplan.sample",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=_SAMPLE_DIR)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--no-graph", action="store_true", help="do not write walk.graphml")
    args = parser.parse_args(argv)
    files = generate(args.out, seed=args.seed, walk_graph=not args.no_graph)
    for name in files:
        print(args.out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --------------------------------------------------------------------------- generated region (in memory)

#: 시도 of the generated region: fictional, so no real 시도 rule (키움센터 = 서울 only) applies by accident.
REGION_SIDO = "가상도"
_REGION_ORIGIN_XY = (900_000.0, 1_800_000.0)
#: Kinds placed in a generated region: two school-age kinds that count, one context kind that does not.
_REGION_KINDS = (("dahamkke", 0.4, (15.0, 30.0)), ("local_child_center", 0.4, (19.0, 29.0)),
                 ("daycare", 0.2, (20.0, 80.0)))
_REGION_HOURS = {"dahamkke": (840.0, 1200.0, 540.0, 1080.0), "local_child_center": (840.0, 1140.0, 720.0, 1020.0),
                 "daycare": (450.0, 1170.0, 450.0, 1170.0)}


@dataclass(frozen=True)
class GeneratedRegion:
    """A generated multi-시군구 region held in memory (every row ``synthetic = True``).

    ``inputs`` is a :class:`careplan.pipeline.Inputs` (EPSG:5179, data-contract columns),
    ``graph`` a :func:`careplan.network.synthetic_walk_graph` spanning the region (or None),
    ``scenario`` a :class:`careplan.pipeline.Scenario` for it (its paths are placeholders:
    nothing is read from disk).
    """

    inputs: Any
    graph: nx.MultiDiGraph | None
    scenario: Any
    sigungu: Any  # DataFrame: sigungu_code → name, square bounds (minx, miny, maxx, maxy)


def generate_region(
    n_sigungu: int = 6,
    *,
    schools_per_sigungu: int = 24,
    sigungu_km: float = 4.0,
    dong_per_side: int = 3,
    facilities_per_sigungu: int = 10,
    border_share: float = 0.3,
    shared_zone_share: float = 0.05,
    walk_graph: bool = False,
    seed: int = DEFAULT_SEED,
    **scenario_options: Any,
) -> GeneratedRegion:
    """Invent a region of ``n_sigungu`` 시군구 (가상 데이터) for tests and benchmarks of scale-out.

    The 시군구 are ``sigungu_km`` squares on a near-square grid; each is cut into
    ``dong_per_side²`` 행정동 squares with a random 6–12세 population. Schools are
    scattered uniformly; their 학구 are the Voronoi cells of all schools over the
    whole region, so zones near a border straddle it (as real ones sometimes do).
    A ``shared_zone_share`` of schools also share a small 공동통학구역 with their
    nearest other school, which may be across a border. ``border_share`` of the
    facilities stand within 150 m of a 시군구 border, so catchments cross borders.

    Parameters
    ----------
    n_sigungu
        Number of 시군구 (≈ 250 for a country-scale benchmark).
    schools_per_sigungu
        Elementary schools per 시군구 (≈ 24 gives 6,000 schools for 250 시군구).
    sigungu_km
        Side of each 시군구 square in km.
    dong_per_side
        행정동 per side of a 시군구.
    facilities_per_sigungu
        Care facilities per 시군구 (다함께돌봄센터 and 지역아동센터 40 % each, 어린이집 20 %).
    border_share
        Share of facilities placed within 150 m of a 시군구 border (either side).
    shared_zone_share
        Share of schools that also get a 공동통학구역 shared with their nearest school.
    walk_graph
        Also build a synthetic street graph spanning the region (slow beyond ~100 km²).
    seed
        Seed of the random generator; the same seed gives the same region.
    **scenario_options
        Passed to :class:`careplan.pipeline.Scenario` (e.g. ``siting_sites=2``).

    Returns
    -------
    GeneratedRegion
    """
    import geopandas as gpd
    import pandas as pd

    from .network import synthetic_walk_graph
    from .pipeline import Inputs, Scenario

    if n_sigungu < 1 or schools_per_sigungu < 1 or sigungu_km <= 0 or dong_per_side < 1:
        msg = ("n_sigungu, schools_per_sigungu and dong_per_side must be >= 1 and sigungu_km > 0; got "
               f"{n_sigungu!r}, {schools_per_sigungu!r}, {dong_per_side!r}, {sigungu_km!r}")
        raise InputDataError(msg)
    rng = np.random.default_rng(seed)
    side = sigungu_km * 1000.0
    cols = math.ceil(math.sqrt(n_sigungu))
    k = np.arange(n_sigungu)
    x0 = _REGION_ORIGIN_XY[0] + (k % cols) * side
    y0 = _REGION_ORIGIN_XY[1] + (k // cols) * side
    codes = np.array([f"99{i:03d}" for i in k])
    names = np.array([f"{_SCHOOL_STEMS[i % len(_SCHOOL_STEMS)]}{i // len(_SCHOOL_STEMS) + 1}구" for i in k])
    sgg = pd.DataFrame({"sigungu": names, "minx": x0, "miny": y0, "maxx": x0 + side, "maxy": y0 + side},
                       index=pd.Index(codes, name="sigungu_code"))
    crs = "EPSG:5179"
    common = {"sido": REGION_SIDO, "synthetic": True}

    # 행정동: dong_per_side² squares per 시군구.
    d = dong_per_side
    owner = np.repeat(k, d * d)
    j = np.tile(np.arange(d * d), n_sigungu)
    step = side / d
    dx, dy = x0[owner] + (j % d) * step, y0[owner] + (j // d) * step
    children = rng.integers(150, 1500, len(owner)).astype(float)
    ages = rng.multinomial(children.astype(np.int64), np.full(7, 1 / 7)).astype(float)
    admin = gpd.GeoDataFrame(
        {"name": [f"{n}{i + 1}동" for n, i in zip(names[owner], j, strict=True)],
         "sido": REGION_SIDO, "sigungu": names[owner], "sigungu_code": codes[owner], "level": "행정동",
         "population_total": children * 11.0,
         **{f"age_{a}": ages[:, a - 6] for a in range(6, 13)},
         "children_6_12": children, "data_date": "2025-05", "source": "가상 데이터", "synthetic": True},
        geometry=_multi(shapely.box(dx, dy, dx + step, dy + step)),
        index=pd.Index([f"{c}{i + 1:03d}00" for c, i in zip(codes[owner], j, strict=True)], name="adm_code"),
        crs=crs)
    admin.insert(1, "full_name", REGION_SIDO + " " + admin["sigungu"] + " " + admin["name"])

    # Schools: uniform in each 시군구, 50 m from its edges.
    n_s = schools_per_sigungu
    s_owner = np.repeat(k, n_s)
    sx = x0[s_owner] + rng.uniform(50.0, side - 50.0, len(s_owner))
    sy = y0[s_owner] + rng.uniform(50.0, side - 50.0, len(s_owner))
    grades = rng.integers(30, 160, (len(s_owner), 6)).astype(float)
    special = rng.integers(0, 6, len(s_owner)).astype(float)
    school_ids = np.array([f"B99{i:07d}" for i in range(len(s_owner))])
    s_names = [f"{_SCHOOL_STEMS[i % len(_SCHOOL_STEMS)]}{i + 1}초등학교" for i in range(len(s_owner))]
    schools = gpd.GeoDataFrame(
        {"name": s_names, "level": "초등학교", "foundation": "공립", "branch": "본교", "status": "운영",
         "data_date": _SCHOOL_DATE, "address": [f"{REGION_SIDO} {n} 가상로 {i + 1}"
                                                for i, n in enumerate(names[s_owner])],
         "sigungu": names[s_owner], "source": "가상 데이터",
         **{f"pupils_g{g}": grades[:, g - 1] for g in range(1, 7)},
         "pupils_special": special, "pupils_total": grades.sum(axis=1) + special,
         "alimi_code": [f"S99{i:07d}" for i in range(len(s_owner))], **common},
        geometry=shapely.points(sx, sy), index=pd.Index(school_ids, name="school_id"), crs=crs)

    # 학구: Voronoi cells of all schools over the region (they straddle 시군구 borders).
    outline = shapely.union_all(shapely.box(x0, y0, x0 + side, y0 + side))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(np.column_stack([sx, sy])),
                                                       extend_to=outline, ordered=True))
    zone_geom = shapely.intersection(cells, outline)
    zone_sid = list(school_ids)
    zone_names = [n.replace("초등학교", "초통학구역") for n in s_names]
    shared = rng.random(len(sx)) < shared_zone_share
    if shared.any() and len(sx) > 1:
        from scipy.spatial import cKDTree

        _, near = cKDTree(np.column_stack([sx, sy])).query(np.column_stack([sx, sy])[shared], k=2)
        a, b = np.flatnonzero(shared), near[:, 1]
        mid = shapely.points((sx[a] + sx[b]) / 2, (sy[a] + sy[b]) / 2)
        zone_geom = np.concatenate([zone_geom, shapely.intersection(shapely.buffer(mid, 200.0, quad_segs=4),
                                                                   outline)])
        zone_sid += [f"{school_ids[p]},{school_ids[q]}" for p, q in zip(a, b, strict=True)]
        zone_names += [f"공동통학구역 {i + 1}" for i in range(len(a))]
    n_z = len(zone_sid)
    zones = gpd.GeoDataFrame(
        {"name": zone_names, "school_ids": zone_sid, "shared": [", " in z or "," in z for z in zone_sid],
         "sigungu": None, "synthetic": True},
        geometry=_multi(zone_geom),
        index=pd.Index([f"Z99{i:07d}" for i in range(n_z)], name="zone_id"), crs=crs)

    facilities = _region_facilities(rng, sgg, facilities_per_sigungu, border_share, outline, crs)
    inputs = Inputs(schools=schools, zones=zones, admin_areas=admin, facilities=facilities, candidates=None,
                    reports=())
    graph = None
    if walk_graph:
        minx, miny, maxx, maxy = outline.bounds
        graph = synthetic_walk_graph(extent_m=max(maxx - minx, maxy - miny) + 400.0,
                                     origin_xy=(minx - 200.0, miny - 200.0), seed=seed)
    placeholder = Path("(generated in memory)")
    options = {"name": f"가상 {n_sigungu}개 시군구 (가상 데이터)", "sido": REGION_SIDO,
               "siting_kinds": ("dahamkke",), **scenario_options}
    scenario = Scenario(schools=placeholder, students=placeholder, zones=placeholder, population=placeholder,
                        admin_areas=placeholder, facilities=(), **options)
    logger.info("generated region: %d 시군구, %d schools, %d 학구, %d 행정동, %d facilities", n_sigungu,
                len(schools), len(zones), len(admin), len(facilities))
    return GeneratedRegion(inputs=inputs, graph=graph, scenario=scenario, sigungu=sgg)


def _multi(geoms: np.ndarray) -> np.ndarray:
    """One MultiPolygon per geometry (the data contract's zone / 행정동 type); polygon parts only."""
    parts, index = shapely.get_parts(np.asarray(geoms, dtype=object), return_index=True)
    keep = shapely.get_type_id(parts) == 3
    out = np.array([shapely.MultiPolygon()] * len(geoms), dtype=object)
    if keep.any():
        owners, pos = np.unique(index[keep], return_inverse=True)
        out[owners] = shapely.multipolygons(parts[keep], indices=pos)
    return out


def _region_facilities(rng: np.random.Generator, sgg: Any, per_sigungu: int, border_share: float,
                       outline: BaseGeometry, crs: str) -> Any:
    """Facilities per 시군구; ``border_share`` of them within 150 m of a border (either side)."""
    import geopandas as gpd
    import pandas as pd

    n = per_sigungu * len(sgg)
    owner = np.repeat(np.arange(len(sgg)), per_sigungu)
    minx, miny = sgg["minx"].to_numpy()[owner], sgg["miny"].to_numpy()[owner]
    side = float(sgg["maxx"].iloc[0] - sgg["minx"].iloc[0])
    fx, fy = minx + rng.uniform(30.0, side - 30.0, n), miny + rng.uniform(30.0, side - 30.0, n)
    border = rng.random(n) < border_share
    # Near a border: pick one of the four edges and stand within ±150 m of it.
    edge = rng.integers(0, 4, n)
    off = rng.uniform(-150.0, 150.0, n)
    fx = np.where(border & (edge == 0), minx + off, np.where(border & (edge == 1), minx + side + off, fx))
    fy = np.where(border & (edge == 2), miny + off, np.where(border & (edge == 3), miny + side + off, fy))
    pts = shapely.points(fx, fy)
    inside = shapely.contains_properly(outline, pts)  # outer borders: keep only those inside the region
    shares = np.array([s for _, s, _ in _REGION_KINDS])
    kind_pos = rng.choice(len(_REGION_KINDS), n, p=shares / shares.sum())
    kinds = np.array([k for k, _, _ in _REGION_KINDS])[kind_pos]
    lo = np.array([c[0] for _, _, c in _REGION_KINDS])[kind_pos]
    hi = np.array([c[1] for _, _, c in _REGION_KINDS])[kind_pos]
    capacity = np.round(rng.uniform(lo, hi))
    hours = np.array([_REGION_HOURS[k] for k in kinds]) if n else np.zeros((0, 4))
    labels = {"dahamkke": "다함께돌봄센터", "local_child_center": "지역아동센터", "daycare": "어린이집"}
    frame = gpd.GeoDataFrame(
        {"name": [f"가상 {labels[k]} {i + 1}" for i, k in enumerate(kinds)], "kind": kinds,
         "address": [f"{REGION_SIDO} {s} 가상로 {i + 1}" for i, s in enumerate(sgg["sigungu"].to_numpy()[owner])],
         "sido": REGION_SIDO, "sigungu": sgg["sigungu"].to_numpy()[owner],
         "sigungu_code": sgg.index.to_numpy()[owner], "status": "정상", "capacity_source": "data",
         "capacity": capacity, "capacity_temp": 0.0, "enrolled": np.nan,
         "term_open": hours[:, 0], "term_close": hours[:, 1], "vac_open": hours[:, 2], "vac_close": hours[:, 3],
         "sat_open": np.nan, "sat_close": np.nan, "hours_source": "data", "fee_month": 0.0, "fee_day": 0.0,
         "area_m2": np.round(rng.uniform(70.0, 200.0, n), 1),
         "min_grade": np.where(kinds == "daycare", np.nan, 1.0), "max_grade": np.where(kinds == "daycare", np.nan, 6.0),
         "source": "가상 데이터", "data_date": _FACILITY_DATE, "synthetic": True},
        geometry=pts, index=pd.Index([f"F99{i:06d}" for i in range(n)], name="facility_id"), crs=crs)
    return frame[inside]
