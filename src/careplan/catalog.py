"""Kinds of care and their defaults (capacity, hours, ages, eligibility, floor area).

Defaults come from ``docs/DOMAIN.md`` of the project's background notes; each
kind keeps the basis of its numbers in ``basis`` ([V] stated in a source,
[D] derived, [E] estimate). Facility data always win over these defaults: a
default is used only where a file has no value, and readers record that.

Hours are minutes after midnight (``"13:00"`` -> 780); ``None`` means the kind
does not operate in that period by default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import SettingsError

__all__ = ["CareKind", "DEFAULT_CATALOG", "KIND_LABELS", "get_catalog", "hhmm"]


def hhmm(text: str) -> int:
    """``"13:30"`` -> 810 minutes after midnight."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


Span = tuple[int, int] | None


@dataclass(frozen=True, kw_only=True)
class CareKind:
    """One kind of care facility and its planning defaults."""

    kind: str
    label_ko: str
    label_en: str
    group: str  # "after_school" | "preschool" | "emergency" | "home_visit"
    capacity_regular: float  # 상시/정기 places
    capacity_temporary: float  # 일시 places
    term_hours: Span
    vacation_hours: Span
    saturday_hours: Span
    min_grade: int | None  # 초등 학년 served (None: not school age)
    max_grade: int | None
    age_min: int
    age_max: int
    eligibility_ko: str
    min_area_m2: float | None
    fee_month_krw: float | None  # None: unknown
    has_catchment: bool = True  # False for home visits (no walk catchment)
    seoul_only: bool = False
    basis: str = ""

    def __post_init__(self) -> None:
        if self.capacity_regular < 0 or self.capacity_temporary < 0:
            msg = (
                f"capacity of kind {self.kind!r} must be >= 0, "
                f"got {self.capacity_regular!r}/{self.capacity_temporary!r}"
            )
            raise SettingsError(msg)
        for name in ("term_hours", "vacation_hours", "saturday_hours"):
            span = getattr(self, name)
            if span is not None and not (0 <= span[0] < span[1] <= 24 * 60):
                msg = f"{name} of kind {self.kind!r} must be (open, close) minutes with open < close, got {span!r}"
                raise SettingsError(msg)

    @property
    def serves_school_age(self) -> bool:
        return self.min_grade is not None


def _k(**kw: Any) -> CareKind:
    for name in ("term_hours", "vacation_hours", "saturday_hours"):
        if kw.get(name) is not None:
            kw[name] = (hhmm(kw[name][0]), hhmm(kw[name][1]))
    return CareKind(**kw)


_KINDS = [
    _k(kind="kium_general", label_ko="우리동네키움센터(일반형)", label_en="Kium center (general)",
       group="after_school", capacity_regular=20, capacity_temporary=5,
       term_hours=("13:00", "19:00"), vacation_hours=("09:00", "19:00"), saturday_hours=None,
       min_grade=1, max_grade=6, age_min=6, age_max=12, eligibility_ko="소득 무관, 초등학생 누구나",
       min_area_m2=80, fee_month_krw=50_000, seoul_only=True,
       basis="정기20+일시5, 학기13–19·방학9–19 (중랑4·5호, 강서9호) [V]; 80㎡ [V]; 월 5만원 [V]"),
    _k(kind="kium_fusion", label_ko="우리동네키움센터(융합형)", label_en="Kium center (fusion)",
       group="after_school", capacity_regular=40, capacity_temporary=10,
       term_hours=("13:00", "20:00"), vacation_hours=("09:00", "20:00"), saturday_hours=("09:00", "14:00"),
       min_grade=1, max_grade=6, age_min=6, age_max=12,
       eligibility_ko="소득 무관, 초등학생 누구나 (긴급·주말 돌봄, 급식)",
       min_area_m2=210, fee_month_krw=50_000, seoul_only=True,
       basis="210㎡ and weekend/emergency care [V]; capacity 40 and hours [E]"),
    _k(kind="kium_hub", label_ko="우리동네키움센터(거점형)", label_en="Kium center (hub)",
       group="after_school", capacity_regular=0, capacity_temporary=30,
       term_hours=("10:00", "20:00"), vacation_hours=("09:00", "20:00"), saturday_hours=("09:00", "18:00"),
       min_grade=1, max_grade=6, age_min=6, age_max=12,
       eligibility_ko="소득 무관 (일시·아픈아이 돌봄, 문화·체육 프로그램)",
       min_area_m2=1000, fee_month_krw=None, seoul_only=True,
       basis="1,000㎡+, supports other centres [V]; counts 0 toward regular capacity [E]"),
    _k(kind="dahamkke", label_ko="다함께돌봄센터", label_en="Dahamkke care center",
       group="after_school", capacity_regular=20, capacity_temporary=5,
       term_hours=("14:00", "20:00"), vacation_hours=("09:00", "18:00"), saturday_hours=None,
       min_grade=1, max_grade=6, age_min=6, age_max=12, eligibility_ko="소득 무관, 지자체가 우선순위 결정",
       min_area_m2=66, fee_month_krw=100_000,
       basis="capacity 20–30 [V]; 학기14–20·방학9–18, 월 10만원 이내 [V]; 66㎡ [V]"),
    _k(kind="local_child_center", label_ko="지역아동센터", label_en="Local children's center",
       group="after_school", capacity_regular=27, capacity_temporary=0,
       term_hours=("14:00", "19:00"), vacation_hours=("12:00", "17:00"), saturday_hours=None,
       min_grade=1, max_grade=6, age_min=6, age_max=18, eligibility_ko="우선돌봄아동(소득·가구특성) 정원의 50% 이상",
       min_area_m2=60, fee_month_krw=0,
       basis="≈27 children/centre [D]; 학기14–19·방학12–17, free [V]; 60–82.5㎡ (2014 norm) [V]"),
    _k(kind="school_care", label_ko="초등돌봄교실·늘봄", label_en="School care room / Neulbom",
       group="after_school", capacity_regular=20, capacity_temporary=0,
       term_hours=("12:00", "17:00"), vacation_hours=("09:00", "17:00"), saturday_hours=None,
       min_grade=1, max_grade=2, age_min=6, age_max=8,
       eligibility_ko="재학생 (1–2학년 중심, 맞벌이·저소득·한부모 우선)",
       min_area_m2=None, fee_month_krw=0,
       basis="오후돌봄 ~17시, 방학 9–17, 1–2학년 [V]; 20 per room [E]"),
    _k(kind="daycare", label_ko="어린이집", label_en="Daycare center (ages 0–5)",
       group="preschool", capacity_regular=0, capacity_temporary=0,
       term_hours=("07:30", "19:30"), vacation_hours=("07:30", "19:30"), saturday_hours=None,
       min_grade=None, max_grade=None, age_min=0, age_max=5,
       eligibility_ko="만 0–5세 영유아 (초등 돌봄 아님, 참고 레이어)",
       min_area_m2=None, fee_month_krw=None,
       basis="context layer: ages 0–5 [V]; standard hours [E]"),
    _k(kind="daycare_365", label_ko="365 어린이집", label_en="365 daycare (nights, weekends)",
       group="preschool", capacity_regular=0, capacity_temporary=0,
       term_hours=("07:30", "23:59"), vacation_hours=("07:30", "23:59"), saturday_hours=("07:30", "23:59"),
       min_grade=None, max_grade=None, age_min=0, age_max=5, eligibility_ko="만 0–5세, 야간·주말·긴급 보육",
       min_area_m2=None, fee_month_krw=None,
       basis="night and weekend care (김천 programme) [V]; hours [E]"),
    _k(kind="toy_library", label_ko="장난감도서관", label_en="Toy library",
       group="preschool", capacity_regular=0, capacity_temporary=0,
       term_hours=("10:00", "18:00"), vacation_hours=("10:00", "18:00"), saturday_hours=("10:00", "17:00"),
       min_grade=None, max_grade=None, age_min=0, age_max=5, eligibility_ko="영유아 가정 (장난감 대여)",
       min_area_m2=None, fee_month_krw=None, basis="김천 programme [V]; hours [E]"),
    _k(kind="care_119", label_ko="119 돌봄센터", label_en="119 emergency care",
       group="emergency", capacity_regular=0, capacity_temporary=5,
       term_hours=("00:00", "23:59"), vacation_hours=("00:00", "23:59"), saturday_hours=("00:00", "23:59"),
       min_grade=1, max_grade=6, age_min=0, age_max=12, eligibility_ko="긴급 일시 돌봄",
       min_area_m2=None, fee_month_krw=None, basis="긴급 일시 돌봄 (김천 programme) [V]; hours, capacity [E]"),
    _k(kind="home_visit", label_ko="아이돌봄서비스", label_en="Home-visit child care",
       group="home_visit", capacity_regular=0, capacity_temporary=0,
       term_hours=None, vacation_hours=None, saturday_hours=None,
       min_grade=1, max_grade=6, age_min=0, age_max=12, eligibility_ko="아이돌보미가 가정 방문 (시간제·종일제)",
       min_area_m2=None, fee_month_krw=None, has_catchment=False,
       basis="home visits: no walk catchment [V S3, S4]"),
]

DEFAULT_CATALOG: dict[str, CareKind] = {k.kind: k for k in _KINDS}
KIND_LABELS: dict[str, str] = {k.kind: k.label_ko for k in _KINDS}


def get_catalog(overrides: Mapping[str, Mapping[str, Any]] | str | Path | None = None) -> dict[str, CareKind]:
    """The catalog with a user's overrides applied.

    Parameters
    ----------
    overrides
        ``{kind: {field: value}}`` or the path of a TOML file of ``[kind]`` tables,
        e.g. ``[dahamkke] capacity_regular = 25`` or ``term_hours = ["13:00", "20:00"]``.
        A new kind needs every field.
    """
    if overrides is None:
        return dict(DEFAULT_CATALOG)
    if isinstance(overrides, str | Path):
        with open(overrides, "rb") as fh:
            overrides = tomllib.load(fh)
    catalog = dict(DEFAULT_CATALOG)
    fields = {f.name for f in dataclasses.fields(CareKind)}
    for kind, values in overrides.items():
        unknown = set(values) - fields
        if unknown:
            msg = f"unknown catalog field(s) {sorted(unknown)} for kind {kind!r}; expected some of {sorted(fields)}"
            raise SettingsError(msg)
        values = dict(values)
        for name in ("term_hours", "vacation_hours", "saturday_hours"):
            if values.get(name) is not None and isinstance(values[name][0], str):
                values[name] = (hhmm(values[name][0]), hhmm(values[name][1]))
        if kind in catalog:
            catalog[kind] = dataclasses.replace(catalog[kind], **values)
        else:
            try:
                catalog[kind] = CareKind(kind=kind, **values)
            except TypeError as exc:
                msg = f"new kind {kind!r} needs every catalog field: {exc}"
                raise SettingsError(msg) from exc
    return catalog
