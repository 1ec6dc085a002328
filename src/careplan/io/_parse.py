"""Parsing values as Korean open data writes them: numbers, hours, coordinates."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd
from pyproj import Transformer

from .._errors import CRSError
from ._report import RowReport

__all__ = [
    "KOREA_LAT",
    "KOREA_LON",
    "clock_minutes",
    "parse_counts",
    "parse_hours_text",
    "parse_numbers",
    "points_to_5179",
]

#: Bounds used to accept a point as inside Korea (DOMAIN.md §6 parsing rules).
KOREA_LAT = (33.0, 39.5)
KOREA_LON = (124.0, 132.0)
#: Projected CRSs Korean files use, tried in this order when a file gives metres without a CRS.
KOREAN_METRIC_CRS = [5179, 5186, 5181, 5185, 5187, 5188, 5174, 2097]

_NUMBER_JUNK = re.compile(r"[,\s명원개소㎡]|m2$", re.IGNORECASE)
#: What Korean tables write for "none" in a count cell: ASCII and Unicode dashes (NFKC turns the
#: full-width ``－`` into ``-``), the jamo ``ㅡ`` typed as a dash, and ``·``.
_DASHES = {"-", "‐", "‑", "‒", "–", "—", "―", "−", "ー", "ㅡ", "·", "--"}
_CLOCK = re.compile(r"^\s*(\d{1,2})\s*[:시]?\s*(\d{2})?\s*분?\s*$")
_SPAN = re.compile(r"(\d{1,2}\s*:?\s*\d{2})\s*[~\-–]\s*(\d{1,2}\s*:?\s*\d{2})")


#: Upper bounds no real record reaches: a larger value is a typing or export error (1e12, an ID column read
#: as a count), and planning with it would swamp every other number. Korea's largest 초등학교 has ~400
#: pupils per grade, the largest centres ~300 places, the largest single-age cohort (전국 row) ~1 million.
MAX_PUPILS_PER_GRADE = 2_000
MAX_CAPACITY = 1_000
MAX_PEOPLE_PER_AGE = 2_000_000


def parse_numbers(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Strings like ``"1,234"``, ``" 20명"`` -> floats.

    Returns the numbers and a boolean Series marking non-blank values that
    could not be read (NaN in the numbers).
    """
    text = _normalised(values)
    cleaned = text.str.replace(_NUMBER_JUNK, "", regex=True)
    numbers = pd.to_numeric(cleaned, errors="coerce").astype(float)
    numbers = numbers.where(np.isfinite(numbers))  # "inf" / "1e999" are not counts or coordinates
    bad = text.notna() & (text != "") & numbers.isna()
    return numbers, bad.fillna(False).astype(bool)


def parse_counts(values: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Like :func:`parse_numbers` for counts, where ``"-"`` (any dash) means 0.

    Returns the numbers, the unreadable mask, and a mask of dash cells read as 0.
    """
    text = _normalised(values)
    dash = text.isin(_DASHES).fillna(False).astype(bool)
    numbers, bad = parse_numbers(values.where(~dash.to_numpy(), "0"))
    return numbers, bad, dash


def _normalised(values: pd.Series) -> pd.Series:
    """Stripped strings with full-width digits and signs made ASCII (NFKC)."""
    text = values.astype("string").str.strip()
    return text.map(lambda v: unicodedata.normalize("NFKC", v) if isinstance(v, str) else v).astype("string")


def clock_minutes(text) -> float:
    """``"0900"``, ``"9:00"``, ``"09:00"``, ``"9시"``, ``"24:00"`` -> minutes after midnight.

    Blank -> NaN. Raises ValueError for text that is not a clock time.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)) or pd.isna(text):
        return np.nan
    s = str(text).strip()
    if s == "":
        return np.nan
    digits = s.replace(":", "")
    if digits.isdigit() and len(digits) in (3, 4):
        hours, minutes = int(digits[:-2]), int(digits[-2:])
    else:
        match = _CLOCK.match(s)
        if not match:
            msg = f"not a clock time: {s!r}"
            raise ValueError(msg)
        hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        msg = f"not a clock time: {s!r}"
        raise ValueError(msg)
    return float(hours * 60 + minutes)


def parse_hours_text(text) -> dict[str, tuple[float, float]]:
    """Free-text opening hours -> ``{"term"|"vacation"|"saturday": (open, close)}``.

    Understands ``"13:00 ~ 19:00"`` (one span: term), and labelled forms such as
    ``"학기중: 10:00~19:00 방학중 : 12:00~17:00"`` or ``"토요일 09:00-13:00"``.
    ``"00:00 ~ 00:00"`` means "not set" (dadol.or.kr) and gives nothing.
    Raises ValueError when text is present but no span can be read.
    """
    if text is None or pd.isna(text) or str(text).strip() == "":
        return {}
    s = str(text)
    found: dict[str, tuple[float, float]] = {}
    spans = list(_SPAN.finditer(s))
    if not spans:
        msg = f"no opening hours like '13:00~19:00' in {s!r}"
        raise ValueError(msg)
    for i, match in enumerate(spans):
        before = s[spans[i - 1].end() if i else 0: match.start()]
        period = ("vacation" if "방학" in before else "saturday" if ("토" in before or "주말" in before)
                  else "term")
        opening, closing = clock_minutes(match.group(1)), clock_minutes(match.group(2))
        if opening == closing == 0:
            continue
        found.setdefault(period, (opening, closing))
    return found


def points_to_5179(frame: pd.DataFrame, x_col: str, y_col: str, report: RowReport, *,
                   rows: pd.Series, crs=None) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Turn coordinate columns into EPSG:5179 metres, fixing what can be fixed.

    Degrees (lon/lat) are recognised by range; a row whose values are swapped
    (latitude in the x column) is swapped back and reported; metre values are
    matched to one Korean projected CRS by range unless ``crs`` is given. Rows
    with no coordinates or outside Korea are rejected.

    Returns x, y (NaN for rejected rows) and a boolean Series of rows to keep.
    """
    x, bad_x = parse_numbers(frame[x_col])
    y, bad_y = parse_numbers(frame[y_col])
    keep = pd.Series(True, index=frame.index)
    missing = x.isna() | y.isna()
    report.reject(rows[missing & ~(bad_x | bad_y)], "좌표 없음 (no coordinates)")
    report.reject(rows[bad_x | bad_y], "좌표가 숫자가 아님 (coordinates are not numbers)")
    keep &= ~missing
    if crs is None:
        crs = _guess_crs(x[keep], y[keep])
    lon, lat = x.to_numpy(copy=True), y.to_numpy(copy=True)
    if crs == 4326:
        swapped = keep & _in_korea(y, x) & ~_in_korea(x, y)
        report.fix(rows[swapped], "경도·위도 열이 뒤바뀜 → 교환 (lon/lat swapped, fixed)")
        lon[swapped.to_numpy()], lat[swapped.to_numpy()] = y[swapped].to_numpy(), x[swapped].to_numpy()
    else:
        to_deg = Transformer.from_crs(crs, 4326, always_xy=True)
        lon, lat = to_deg.transform(x.to_numpy(), y.to_numpy())
        report.note(f"좌표계 EPSG:{crs} (metres) → EPSG:5179")
    outside = keep & ~_in_korea(pd.Series(lon, index=frame.index), pd.Series(lat, index=frame.index))
    for row, xo, yo in zip(rows[outside], x[outside], y[outside], strict=True):
        report.reject(int(row), f"한국 밖의 좌표 (outside Korea: {xo:g}, {yo:g})")
    keep &= ~outside
    ex, ny = Transformer.from_crs(4326, 5179, always_xy=True).transform(lon, lat)
    ex, ny = np.where(keep, ex, np.nan), np.where(keep, ny, np.nan)
    return ex, ny, keep


def _in_korea(lon: pd.Series, lat: pd.Series) -> pd.Series:
    return lon.between(*KOREA_LON) & lat.between(*KOREA_LAT)


def _guess_crs(x: pd.Series, y: pd.Series) -> int:
    """4326 when values look like degrees; else the one Korean metric CRS that fits."""
    if len(x) == 0:
        return 4326
    degree_like = (x.abs() <= 180) & (y.abs() <= 180)
    if degree_like.mean() >= 0.5:
        return 4326
    fits = []
    for epsg in KOREAN_METRIC_CRS:
        lon, lat = Transformer.from_crs(epsg, 4326, always_xy=True).transform(x.to_numpy(), y.to_numpy())
        if _in_korea(pd.Series(lon), pd.Series(lat)).mean() >= 0.95:
            fits.append(epsg)
    if len(fits) == 1:
        return fits[0]
    sample = f"x≈{x.median():,.0f}, y≈{y.median():,.0f}"
    if not fits:
        msg = (f"coordinates ({sample}) are neither degrees nor metres of a Korean CRS "
               f"(tried EPSG:{', '.join(map(str, KOREAN_METRIC_CRS))}). Check the coordinate columns.")
    else:
        msg = (f"coordinates are in metres ({sample}) but the file has no CRS, and they fit several Korean "
               f"CRSs (EPSG:{', '.join(map(str, fits))}); give longitude/latitude in degrees (WGS84) instead, "
               "or save the points with their CRS as a GeoPackage in QGIS (`careplan check --crs 5186` tests "
               "a guess; in Python: crs=5186).")
    raise CRSError(msg)
