"""Text of settings messages: values as TOML shows them, setting labels, "did you mean" hints.

Shared by the scenario schema (:mod:`careplan.scenario`) for its one-line-per-problem messages.
"""

from __future__ import annotations

import difflib
import json
from datetime import date, datetime, time
from typing import Any

__all__ = ["EXPECTED", "TABLES", "choices", "did_you_mean", "label", "near", "toml_type", "toml_value"]


def near(word: str, options) -> str | None:
    """The option closest to ``word`` (a misspelling of it), or None."""
    # case-blind: "2SFCA" or "Term" is the same slip as a letter typed wrong
    names = {str(c).casefold(): str(c) for c in options}
    found = difflib.get_close_matches(word.casefold(), list(names), n=1, cutoff=0.6)
    return names[found[0]] if found else None


def choices(word: str, options) -> str:
    """"did you mean …?" when one is close, then every valid option."""
    listed = ", ".join(str(c) for c in options)
    return did_you_mean(near(word, options), "; ") + f"가능한 값 (expected one of): {listed}"


def did_you_mean(name: str | None, end: str = "") -> str:
    return f"{name}을(를) 뜻했나요? (did you mean {name}?){end}" if name else ""


_TYPES = ((bool, "불리언 boolean"), (int, "정수 integer"), (float, "실수 float"), (str, "문자열 string"),
          (list, "배열 array"), (tuple, "배열 array"), (dict, "표 table"), (datetime, "날짜·시각 datetime"),
          (date, "날짜 date"), (time, "시각 time"))


def label(loc: tuple) -> str:
    """``("data", "facilities", 2, "kind")`` → ``[data] facilities[3].kind`` (entries count from 1)."""
    if not loc:
        return ""
    head, rest = str(loc[0]), list(loc[1:])
    if head == "catalog" and rest:
        head, rest = f"catalog.{rest[0]}", rest[1:]
    key = ""
    for part in rest:
        key += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    text = head if head == "name" else f"[{head}]"
    return f"{text} {key}" if key else text


def toml_type(value: Any) -> str:
    return next((name for cls, name in _TYPES if isinstance(value, cls)), type(value).__name__)


def toml_value(value: Any, limit: int = 80) -> str:
    """A value as TOML would show it, shortened (newlines and quotes escaped, so one line per problem)."""
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(toml_value(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{ " + ", ".join(f"{k} = {toml_value(v, limit)}" for k, v in value.items()) + " }"
    elif isinstance(value, date | time):
        text = value.isoformat()
    else:
        text = str(value)
    # escape what would break the one-line-per-problem layout (U+2028, NEL, controls)
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: What a setting expects, by pydantic error type (the planner never sees pydantic's words).
EXPECTED = {
    "string_type": "문자열 (a string in quotes)",
    "float_type": "숫자 (a number)",
    "int_type": "정수 (a whole number)",
    "bool_type": "true 또는 false (true or false)",
    "list_type": "배열 [ … ] (an array)",
    "dict_type": "표 (a table)",
    "finite_number": "유한한 숫자 (a finite number, not nan or inf)",
    "string_too_short": "비어 있지 않은 문자열 (a non-empty string)",
    "string_pattern_mismatch": "공백만이 아닌 문자열 (text, not only spaces)",
    "missing": "필수 설정이 없음 (required setting is missing)",
}
#: The form each table takes, by model name.
TABLES = {
    "FileRef": 'a file path "…" 또는 { path = "…", layer = "…" } (a path string or an inline table)',
    "FacilityEntry": '{ path = "…", kind = "…" } 인라인 표 (an inline table with path)',
    "SlotSpec": '{ name = "…", period = "term", time = "18:00" } 인라인 표 (an inline table)',
    "DataSection": "[data] 표 (a table)", "AnalysisSection": "[analysis] 표 (a table)",
    "SitingSection": "[siting] 표 (a table)", "KindOverride": "[catalog.<kind>] 표 (a table)",
}
