"""The scenario schema: one pydantic v2 model of the scenario TOML, for the loader and the web service.

Design
------
* :class:`ScenarioSpec` is plain data: the TOML document as parsed (``tomllib``) or the JSON body of a
  request, validated with :func:`validate`. Every table forbids unknown keys; types are strict (an
  integer is a fine number, but ``"10"``, ``true`` or ``[1]`` are not); ranges refuse absurd values.
  Cross-field rules (kinds known to the catalog, the siting slot among the slots) run in the same
  validation, so one call lists every problem.
* Validation does no I/O. Files are a separate step, :func:`check_files` (in ``_scenario_files``), with a ``resolve``
  function from the reference as written to a local path: the TOML loader resolves against
  ``[data] dir``; the service will map uploaded-file names to its stored uploads (and refuse names
  that were not uploaded) before the same checks (exists, a regular file or a 학구 JSON folder).
* Problems become one :class:`~careplan._errors.SettingsError`: a summary sentence, then one line per
  problem naming the setting as the planner wrote it (``[analysis] max_walk_min``), what arrived
  (value and TOML type) and what is expected, in Korean and English; unknown names get the closest
  valid one (``[analysys]`` → did you mean ``[analysis]``?).
* :class:`careplan.pipeline.Scenario` stays the runtime object; its ``__post_init__`` calls
  :func:`check_settings`, so each rule is written once, here.

The published JSON Schema is ``docs/scenario.schema.json``; regenerate it after changing a model with
``PYTHONPATH=src python -m careplan.scenario > docs/scenario.schema.json``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import _settings_text as _txt
from ._errors import SettingsError
from ._scenario_files import FILE_KEYS, check_files
from .candidates import check_kind_allowed
from .catalog import DEFAULT_CATALOG, CareKind, get_catalog
from .coverage import DEFAULT_SLOTS, PERIODS
from .demand import DEFAULT_GRADE_RATES
from .io._common import SIDO_NAMES
from .io.facilities import FACILITY_COLUMNS
from .network import DEFAULT_DETOUR_FACTOR, DEFAULT_WALK_SPEED_KMH

__all__ = ["FILE_KEYS", "ScenarioSpec", "check_files", "check_settings", "hhmm_minutes", "schema_json",
           "sitable_kinds", "validate"]

OFFICIAL_SIDO = tuple(dict.fromkeys(SIDO_NAMES.values()))
ACCESS_METHODS = ("2sfca", "e2sfca", "gravity", "3sfca")
GROUPS = ("after_school", "preschool", "emergency", "home_visit")


class Problem(ValueError):
    """One or more rule violations found inside a validated value: (loc below the field, message)."""

    def __init__(self, *items: tuple[tuple, str]) -> None:
        super().__init__("; ".join(message for _, message in items))
        self.items = items


def hhmm_minutes(text: str) -> int:
    """``"18:30"`` → 1110; ``"24:00"`` → 1440. Raise :class:`ValueError` outside 00:00–24:00."""
    if not re.fullmatch(r"[0-9]{1,2}:[0-9]{2}", text):
        msg = '"HH:MM" 형식이 아님 (expected a time in quotes, like "18:00")'
        raise ValueError(msg)
    hours, minutes = (int(part) for part in text.split(":"))
    value = hours * 60 + minutes
    if minutes > 59 or value > 24 * 60:
        msg = "00:00–24:00 범위 밖 (expected a time within 00:00–24:00)"
        raise ValueError(msg)
    return value


def _file_ref(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


def _no_nul(path: str) -> str:
    if "\x00" in path:
        raise ValueError("경로에 NUL 문자가 있음 (the path holds a NUL character)")
    return path


Number = Annotated[float, Field(allow_inf_nan=False)]
#: Text a planner types: not empty and not only spaces (a blank name or path is a slip, never meant).
Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
PathText = Annotated[str, Field(min_length=1, pattern=r"\S"), AfterValidator(_no_nul)]
#: Places in one centre: far above any real one (care_119 … 키움 거점형), low enough to stay a number.
Capacity = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class FileRef(_Table):
    """A file, optionally with the GeoPackage layer to read."""

    path: PathText
    layer: Text | None = Field(None, description="GeoPackage layer (default: the file's only layer).")


FileEntry = Annotated[FileRef, BeforeValidator(_file_ref, json_schema_input_type=PathText | FileRef)]


class FacilityEntry(FileRef):
    """One facility file: ``{ path = "…", kind = "dahamkke", layer = "…", mapping = { … } }``."""

    kind: Text | None = Field(None, description="Catalog kind of every row (default: told by the file).")
    mapping: dict[str, Text] = Field(default_factory=dict, description="canonical column = file column")

    @field_validator("mapping")
    @classmethod
    def _known_columns(cls, mapping: dict[str, str]) -> dict[str, str]:
        """A misspelt canonical name would silently map nothing: refuse it, naming the closest."""
        items = [((name,), f"알 수 없는 열 이름 (unknown column name): {name}; {_txt.choices(name, FACILITY_COLUMNS)}")
                 for name in mapping if name not in FACILITY_COLUMNS]
        if items:
            raise Problem(*items)
        return mapping

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str | None, info: ValidationInfo) -> str | None:
        catalog = _catalog_of(info)
        if kind is not None and catalog is not None and kind not in catalog:
            raise ValueError(f"알 수 없는 유형 (unknown kind); {_txt.choices(kind, catalog)}")
        return kind


FacilityItem = Annotated[FacilityEntry, BeforeValidator(_file_ref,
                                                        json_schema_input_type=PathText | FacilityEntry)]


class DataSection(_Table):
    """``[data]``: where the input files are (relative to ``dir``) and the study area."""

    dir: PathText = Field(".", description="Folder of the files below, relative to the scenario file.")
    sido: Text | None = None
    sigungu: Text | None = None
    schools: FileEntry
    students: FileEntry
    zones: FileEntry = Field(description="학구 file, or the folder of raw 학구 JSON files (B….json).")
    population: FileEntry
    admin_areas: FileEntry
    candidates: FileEntry | None = None
    network: PathText | None = Field(None, description="Walk network (.npz, .graphml, .osm.pbf).")
    facilities: list[FacilityItem] = Field(min_length=1)

    @field_validator("sido", "sigungu")
    @classmethod
    def _one_space(cls, name: str | None) -> str | None:
        """Names are matched exactly: " 구로구 " or "수원시  장안구" (two spaces) would match no row."""
        return None if name is None else " ".join(name.split())

    @field_validator("sido")
    @classmethod
    def _known_sido(cls, sido: str | None) -> str | None:
        """The official name: files are matched on it and 키움센터 are planned only for 서울특별시."""
        if sido is None or sido in OFFICIAL_SIDO:
            return sido
        if sido in SIDO_NAMES:  # "서울", "강원도": the name in use, as addresses write it
            return SIDO_NAMES[sido]
        raise ValueError(f"알 수 없는 시도 (unknown 시도); {_txt.choices(sido, OFFICIAL_SIDO)}")

    @model_validator(mode="after")
    def _sido_in_sigungu(self) -> DataSection:
        """``sigungu = "서울특별시 구로구"`` (as an address writes it) is sido 서울특별시, sigungu 구로구."""
        head, _, rest = (self.sigungu or "").partition(" ")
        sido = head if head in OFFICIAL_SIDO else SIDO_NAMES.get(head)
        if sido and rest:
            if self.sido not in (None, sido):
                msg = (f"{_txt.toml_value(self.sigungu)}의 시도가 sido = {_txt.toml_value(self.sido)}와 다름 (the "
                       "sigungu names another 시도 than sido); 둘을 맞추세요 (make them agree)")
                raise Problem((("sigungu",), msg))
            self.sido, self.sigungu = sido, rest
        return self


class SlotSpec(_Table):
    """A moment families need care: ``{ name = "학기 18시", period = "term", time = "18:00" }``."""

    name: Text
    period: Literal[tuple(PERIODS)]  # type: ignore[valid-type]
    time: Annotated[str, Field(description='"HH:MM", 00:00–24:00')]

    @field_validator("time")
    @classmethod
    def _time(cls, value: str) -> str:
        hhmm_minutes(value)
        return value


def _default_slots() -> list[SlotSpec]:
    return [SlotSpec(name=s.name, period=s.period, time=f"{int(s.minute) // 60:02d}:{int(s.minute) % 60:02d}")
            for s in DEFAULT_SLOTS]


class AnalysisSection(_Table):
    """``[analysis]``: walk threshold, speeds, demand grid, rates, access method, time slots."""

    max_walk_min: Number = Field(10.0, gt=0, le=120, description="Walk threshold in minutes.")
    walk_speed_kmh: Number = Field(DEFAULT_WALK_SPEED_KMH, gt=0, le=20)
    detour_factor: Number = Field(DEFAULT_DETOUR_FACTOR, ge=1, le=5,
                                  description="Network / straight-line distance, used without a network.")
    cell_m: Number = Field(100.0, ge=1, le=10_000, description="Demand grid cell (m); see docs/scenario.md.")
    grade_rates: list[Share] = Field(default_factory=lambda: [DEFAULT_GRADE_RATES[g] for g in range(1, 7)],
                                     description="Share of pupils needing care, grades 1–6.",
                                     json_schema_extra={"minItems": 6, "maxItems": 6})
    access_method: Literal[ACCESS_METHODS] = "2sfca"  # type: ignore[valid-type]
    slots: list[SlotSpec] = Field(default_factory=_default_slots, min_length=1)

    @field_validator("grade_rates")
    @classmethod
    def _six_rates(cls, rates: list[float]) -> list[float]:
        if len(rates) != 6:
            msg = "학년별 6개 값 필요 (expected 6 values, grades 1–6)"
            raise ValueError(msg)
        return rates

    @field_validator("slots")
    @classmethod
    def _unique_slots(cls, slots: list[SlotSpec]) -> list[SlotSpec]:
        seen: set[str] = set()
        for i, slot in enumerate(slots):
            if slot.name in seen:
                raise Problem(((i, "name"), f"시간대 이름 중복 (slot name used twice): {slot.name}"))
            seen.add(slot.name)
        return slots


class SitingSection(_Table):
    """``[siting]``: new centres to propose."""

    kinds: list[Text] = Field(default_factory=lambda: ["kium_general", "dahamkke"])
    sites: int = Field(3, ge=0, le=1000, description="New sites per kind.")
    slot: Text = Field("학기 18시", description="The time slot siting optimises (one of [analysis] slots).")
    grid_m: Number = Field(250.0, ge=10, le=10_000, description="Candidate grid spacing without a candidates file.")
    min_distance_m: Number = Field(0.0, ge=0, le=10_000)
    capacitated: bool = False
    time_limit_s: Number = Field(60.0, gt=0, le=86_400)

    @field_validator("kinds")
    @classmethod
    def _sitable(cls, kinds: list[str], info: ValidationInfo) -> list[str]:
        catalog = _catalog_of(info)
        if catalog is None:
            return kinds
        can = sitable_kinds(catalog)
        items = [((i,), ("입지 계획할 수 없는 유형 (a kind that cannot be sited)" if kind in catalog else
                         "알 수 없는 유형 (unknown kind)") + f": {kind}; {_txt.choices(kind, can)}")
                 for i, kind in enumerate(kinds) if kind not in can]
        # a kind twice would be planned twice on top of itself: twice the sites asked for
        items += [((i,), f"유형 중복 (kind listed twice): {kind}; 한 번만 쓰세요 (list it once)")
                  for i, kind in enumerate(kinds) if kind in kinds[:i]]
        if items:
            raise Problem(*items)
        return kinds


Hours = Annotated[list[Annotated[str, Field(description='"HH:MM"')]],
                  Field(max_length=2, description='["open", "close"] as "HH:MM", or [] when closed.')]


class KindOverride(_Table):
    """``[catalog.<kind>]``: change a kind's defaults, or add a kind (then the required fields are needed)."""

    label_ko: Text | None = None
    label_en: Text | None = None
    group: Literal[GROUPS] | None = None  # type: ignore[valid-type]
    capacity_regular: Capacity | None = None
    capacity_temporary: Capacity | None = None
    term_hours: Hours | None = None
    vacation_hours: Hours | None = None
    saturday_hours: Hours | None = None
    min_grade: int | None = Field(None, ge=1, le=6)
    max_grade: int | None = Field(None, ge=1, le=6)
    age_min: int | None = Field(None, ge=0, le=18)
    age_max: int | None = Field(None, ge=0, le=18)
    eligibility_ko: str | None = None
    min_area_m2: Number | None = Field(None, ge=0)
    fee_month_krw: Number | None = Field(None, ge=0)
    has_catchment: bool | None = None
    seoul_only: bool | None = None
    basis: str | None = None

    @field_validator("term_hours", "vacation_hours", "saturday_hours")
    @classmethod
    def _span(cls, hours: list[str] | None) -> list[str] | None:
        if hours is not None and len(hours) == 1:
            raise ValueError('["여는 시각", "닫는 시각"] 두 값 또는 [] 필요 (expected ["open", "close"] or [])')
        for i, text in enumerate(hours or ()):
            try:
                hhmm_minutes(text)
            except ValueError as exc:
                raise Problem(((i,), str(exc))) from None
        if hours and hhmm_minutes(hours[0]) >= hhmm_minutes(hours[1]):
            msg = (f"여는 시각이 닫는 시각보다 늦음 (opens at {hours[0]}, not before it closes at {hours[1]}); "
                   '["13:00", "20:00"]처럼 쓰세요, 자정을 넘는 운영은 "24:00"까지 (write it like ["13:00", "20:00"]; '
                   'hours past midnight end at "24:00")')
            raise ValueError(msg)
        return hours


#: Fields a new kind must give (the rest default to "unknown" / "not school age").
NEW_KIND_FIELDS = ("label_ko", "label_en", "group", "capacity_regular", "capacity_temporary", "term_hours",
                   "vacation_hours", "saturday_hours", "age_min", "age_max", "eligibility_ko")


def catalog_overrides(catalog: Mapping[str, KindOverride]) -> dict[str, dict[str, Any]]:
    """``[catalog]`` in :func:`careplan.catalog.get_catalog` form (hours in minutes, [] → closed)."""
    out: dict[str, dict[str, Any]] = {}
    for kind, entry in catalog.items():
        values = entry.model_dump(exclude_unset=True)
        for name in ("term_hours", "vacation_hours", "saturday_hours"):
            if name in values:
                values[name] = tuple(hhmm_minutes(t) for t in values[name]) or None
        if kind not in DEFAULT_CATALOG:
            values = {"min_grade": None, "max_grade": None, "min_area_m2": None, "fee_month_krw": None} | values
        out[kind] = values
    return out


class _CatalogSection(_Table):
    catalog: dict[Text, KindOverride] = Field(default_factory=dict, description="[catalog.<kind>] overrides.")

    @field_validator("catalog")
    @classmethod
    def _complete_kinds(cls, catalog: dict[str, KindOverride]) -> dict[str, KindOverride]:
        items = []
        for kind, entry in catalog.items():
            missing = [f for f in NEW_KIND_FIELDS if f not in entry.model_fields_set]
            if kind not in DEFAULT_CATALOG and missing:
                near = _txt.near(kind, DEFAULT_CATALOG)
                items.append(((kind,), f"새 유형에 필요한 값 없음 (a new kind needs): {', '.join(missing)}"
                              + ("; " + _txt.did_you_mean(near) if near else "")))
        if items:
            raise Problem(*items)
        try:
            merged = get_catalog(catalog_overrides(catalog))  # CareKind's own rules
        except SettingsError as exc:
            raise Problem(((), str(exc))) from None
        # a range set on one end only must still hold with the built-in other end
        for kind in catalog:
            entry = merged[kind]
            for low, high in (("min_grade", "max_grade"), ("age_min", "age_max")):
                a, b = getattr(entry, low), getattr(entry, high)
                if a is not None and b is not None and a > b:
                    items.append(((kind,), f"{low} = {a} > {high} = {b}: 범위가 거꾸로임 (the range is reversed); "
                                           f"{low} ≤ {high} 이 되게 고치세요 (make {low} ≤ {high})"))
                elif (a is None) != (b is None):
                    items.append(((kind,), f"{low}, {high} 둘 다 쓰거나 둘 다 빼세요 (give both {low} and {high}, "
                                           "or neither)"))
        if items:
            raise Problem(*items)
        return catalog


class _Settings(_CatalogSection):
    """The settings a :class:`careplan.pipeline.Scenario` checks itself (no files)."""

    analysis: AnalysisSection = Field(default_factory=AnalysisSection)
    siting: SitingSection = Field(default_factory=SitingSection)

    @field_validator("siting")
    @classmethod
    def _slot_among_slots(cls, siting: SitingSection, info: ValidationInfo) -> SitingSection:
        analysis, catalog = info.data.get("analysis"), _catalog_of(info)
        if analysis is None:
            return siting
        slot = next((s for s in analysis.slots if s.name == siting.slot), None)
        if slot is None:
            names = [s.name for s in analysis.slots]
            raise Problem((("slot",), f"[analysis] slots에 없는 시간대 (not one of the slots): {siting.slot}; "
                                      f"{_txt.choices(siting.slot, names)}"))
        if catalog is None or not siting.sites:
            return siting
        # new centres of a kind closed at the slot would serve none of the demand they are sited for
        minute, can = hhmm_minutes(slot.time), sitable_kinds(catalog)
        items = [((("kinds", i) if "kinds" in siting.model_fields_set else ("slot",)),
                  f"{kind}은(는) [siting] slot \"{slot.name}\" ({slot.period} {slot.time})에 운영하지 않음 "
                  f"(is closed at the siting slot: {_hours_text(catalog[kind], slot.period)}); 그 시간에 여는 유형이나 "
                  f"다른 slot을 고르거나 [catalog.{kind}] {PERIODS[slot.period][2]}를 바꾸세요 (choose a kind open "
                  f"then, another slot, or set [catalog.{kind}] {PERIODS[slot.period][2]})")
                 for i, kind in enumerate(siting.kinds)
                 if kind in can and not _open_at(catalog[kind], slot.period, minute)]
        if items:
            raise Problem(*items)
        return siting


class ScenarioSpec(_Settings):
    """A careplan scenario: ``name``, ``[data]``, ``[analysis]``, ``[siting]``, ``[catalog.<kind>]``."""

    model_config = ConfigDict(title="careplan scenario", json_schema_extra={
        "$schema": "https://json-schema.org/draft/2020-12/schema"})

    name: Text | None = Field(None, description="Title of the run (default: the file name).")
    data: DataSection

    @field_validator("data")
    @classmethod
    def _programmes_of_the_sido(cls, data: DataSection, info: ValidationInfo) -> DataSection:
        """Kinds written in [siting] kinds must exist in the 시도 (키움센터: 서울 only); defaults are skipped."""
        siting, catalog = info.data.get("siting"), _catalog_of(info)
        if siting is None or catalog is None or "kinds" not in siting.model_fields_set or data.sido is None:
            return data
        items = []
        for kind in siting.kinds:
            try:
                check_kind_allowed(kind, data.sido, catalog)
            except SettingsError as exc:
                items.append((("sido",), f"[siting] kinds의 {kind}은(는) 이 시도에 없는 사업 "
                                         f"(not run in this 시도): {exc}"))
        if items:
            raise Problem(*items)
        return data


def _open_at(kind: CareKind, period: str, minute: int) -> bool:
    """Whether a centre of ``kind`` is open at ``minute`` of ``period`` (the rule of coverage.open_at)."""
    span = getattr(kind, PERIODS[period][2])
    return span is not None and span[0] <= minute <= span[1]


def _hours_text(kind: CareKind, period: str) -> str:
    span = getattr(kind, PERIODS[period][2])
    if span is None:
        return f"{period} 휴무 (closed in {period})"
    return f"{period} {span[0] // 60:02d}:{span[0] % 60:02d}–{span[1] // 60:02d}:{span[1] % 60:02d}"


def sitable_kinds(catalog: Mapping[str, CareKind]) -> list[str]:
    """Kinds a new centre can be planned for: they serve 초등 grades within a walk catchment."""
    return [k for k, v in catalog.items() if v.serves_school_age and v.has_catchment]


def _catalog_of(info: ValidationInfo) -> Mapping[str, CareKind] | None:
    """The catalog kinds are checked against (None: unknown, as ``[catalog]`` itself is wrong)."""
    return (info.context or {}).get("catalog")


def _document_catalog(doc: Mapping[str, Any]) -> dict[str, CareKind] | None:
    """The built-in catalog with the document's ``[catalog]``, or None when that section is invalid."""
    try:
        section = _CatalogSection.model_validate({"catalog": doc.get("catalog", {})})
    except ValidationError:
        return None  # reported by the full validation
    return get_catalog(catalog_overrides(section.catalog))


# --------------------------------------------------------------------------- validation entry points


def validate(doc: Mapping[str, Any], *, source: str = "scenario") -> ScenarioSpec:
    """Validate a parsed scenario document; every problem in one :class:`SettingsError`."""
    try:
        return ScenarioSpec.model_validate(doc, context={"catalog": _document_catalog(doc)})
    except ValidationError as exc:
        raise settings_error(exc, source=source, doc=doc) from None


def check_settings(*, analysis: Mapping[str, Any], siting: Mapping[str, Any],
                   catalog: Mapping[str, CareKind]) -> None:
    """The ``[analysis]`` and ``[siting]`` rules for a Scenario built in code (its ``__post_init__``)."""
    try:
        _Settings.model_validate({"analysis": analysis, "siting": siting}, context={"catalog": catalog})
    except ValidationError as exc:
        raise settings_error(exc, source="Scenario") from None


# --------------------------------------------------------------------------- messages


_CLOCK_KEYS = {"time", "term_hours", "vacation_hours", "saturday_hours"}
_SECTION_ORDER = {"name": 0, "data": 1, "analysis": 2, "siting": 3, "catalog": 4}


def settings_error(exc: ValidationError, *, source: str, doc: Mapping[str, Any] | None = None) -> SettingsError:
    """One :class:`SettingsError` from pydantic's errors: a summary sentence, then one line per problem."""
    lines = []
    for err in exc.errors(include_url=False):
        lines += _lines({**err, "loc": _as_written(tuple(err["loc"]), doc)})
    lines = sorted(dict.fromkeys(lines), key=lambda line: _SECTION_ORDER.get(line[0][0], 9) if line[0] else -1)
    text = [f"  - {_txt.label(loc)}{message}" for loc, message in lines]
    head = (f"{source}: 시나리오 설정 {len(text)}곳이 잘못되었습니다, 고친 뒤 다시 실행하세요 "
            f"({len(text)} problem(s) in the scenario settings; fix them and run again):")
    return SettingsError("\n".join([head, *text]))


def _as_written(loc: tuple, doc: Mapping[str, Any] | None) -> tuple:
    """``schools = "x"`` is read as ``{ path = "x" }``: name it ``[data] schools``, as the planner wrote it."""
    if not loc or loc[-1] != "path" or doc is None:
        return loc
    node: Any = doc
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return loc
    return loc[:-1] if isinstance(node, str) else loc


def _lines(err: dict) -> list[tuple[tuple, str]]:
    loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
    if kind == "value_error" and isinstance(err["ctx"]["error"], Problem):
        return [(loc + sub, ": " + message) for sub, message in err["ctx"]["error"].items]
    if kind == "extra_forbidden":
        return [(loc[:-1], _unknown(loc, value))]
    if kind == "missing":
        return [(loc, ": " + _txt.EXPECTED["missing"])]
    expected = str(err["ctx"]["error"]) if kind == "value_error" else f"필요 (expected): {_expected(err, loc)}"
    return [(loc, f" = {_txt.toml_value(value)} ({_txt.toml_type(value)}) — {expected}")]


def _expected(err: dict, loc: tuple) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind in {"model_type", "model_attributes_type"}:
        return _txt.TABLES.get(ctx.get("class_name", ""), "표 (a table)")
    if kind == "string_type" and any(k in _CLOCK_KEYS for k in loc if isinstance(k, str)):
        return '"HH:MM" 형식 문자열 (a time in quotes, like "18:00")'
    if kind == "literal_error":
        options = ctx["expected"].replace("'", "")
        near = _txt.near(str(err.get("input")), options.replace(" or ", ", ").split(", "))
        return f"다음 중 하나 (one of): {options}" + ("; " + _txt.did_you_mean(near) if near else "")
    bounds = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
    if kind in bounds:
        limit = f"{next(iter(ctx.values())):g}"
        return f"{bounds[kind]} {limit} 인 숫자 (a number {bounds[kind]} {limit})"
    if kind in {"too_short", "too_long"}:
        size = ctx.get("min_length", ctx.get("max_length"))
        word = ("이상", "at least") if kind == "too_short" else ("이하", "at most")
        return f"항목 {size}개 {word[0]} ({word[1]} {size} entries)"
    return _txt.EXPECTED.get(kind, str(err.get("msg", kind)))


def _unknown(loc: tuple, value: Any) -> str:
    """An unknown key or section, with the closest valid name or the section it belongs to."""
    key, parent = str(loc[-1]), loc[:-1]
    section = not parent and isinstance(value, dict)
    shown = f"[{key}]" if section else f"{key} = {_txt.toml_value(value)}"
    what = "알 수 없는 섹션 (unknown section)" if section else "알 수 없는 설정 (unknown setting)"
    fields = _fields_at(parent)
    near = _txt.near(key, fields)
    home = next((name for name, model in _SECTIONS.items()
                 if key in model.model_fields and name != (parent[0] if parent else None)), None)
    if near:
        near = f"[{near}]" if section else near
        hint = _txt.did_you_mean(near)
    elif home:
        hint = f"[{home}] 아래에 쓰세요 (it belongs under [{home}])"
    else:
        hint = f"가능한 이름 (expected one of): {', '.join(fields)}"
    return f"{': ' if parent else ''}{shown} — {what}; {hint}"


_SECTIONS = {"data": DataSection, "analysis": AnalysisSection, "siting": SitingSection}


def _fields_at(loc: tuple) -> list[str]:
    """The keys valid in the table at ``loc`` (list indexes skipped)."""
    names = tuple(p for p in loc if isinstance(p, str))
    if not names:
        return list(ScenarioSpec.model_fields)
    if names[0] == "catalog":
        return list(KindOverride.model_fields)
    if names in {("data", "facilities")}:
        return list(FacilityEntry.model_fields)
    if len(names) == 2 and names[0] == "data":
        return list(FileRef.model_fields)
    if names == ("analysis", "slots"):
        return list(SlotSpec.model_fields)
    model = _SECTIONS.get(names[0])
    return list(model.model_fields) if model else []


def schema_json() -> str:
    """The JSON Schema of :class:`ScenarioSpec`, as committed in ``docs/scenario.schema.json``."""
    return json.dumps(ScenarioSpec.model_json_schema(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    print(schema_json(), end="")
