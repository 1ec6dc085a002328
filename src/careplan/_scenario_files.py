"""The file step of a scenario (:func:`careplan.scenario.check_files`): every file it names exists and can be read.

Kept apart from the schema, which does no I/O: the TOML loader resolves references against
``[data] dir``; the web service will resolve them to stored uploads before the same checks.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from . import _settings_text as _txt
from ._errors import SettingsError
from ._files import special_kind
from .io.zones import is_raw_zone_folder

if TYPE_CHECKING:
    from .scenario import ScenarioSpec

__all__ = ["FILE_KEYS", "check_files"]

#: ``[data]`` inputs that name one file (a string or ``{ path = "…", layer = "…" }``).
FILE_KEYS = ("schools", "students", "zones", "population", "admin_areas", "candidates")


def check_files(spec: ScenarioSpec, resolve: Callable[[str], Path], *,
                source: str = "scenario") -> tuple[dict[str, Path], list[Path]]:
    """Resolve every file reference and check it is usable: ``({input: path}, [facility paths])``.

    ``resolve`` maps a reference as written to a local path (``[data] dir`` / reference for the TOML
    loader; the stored upload for the service). Files must be regular files (not a folder, FIFO or
    device) that can be opened; ``zones`` may also be a folder of raw 학구 JSON files. Every problem
    is listed in one :class:`SettingsError` naming the setting and the resolved path.
    """
    data = spec.data
    refs = {key: getattr(data, key).path for key in FILE_KEYS if getattr(data, key) is not None}
    if data.network:
        refs["network"] = data.network
    refs |= {f"facilities[{i + 1}].path": f.path for i, f in enumerate(data.facilities)}
    paths, lines, seen = {}, [], {}
    for key, ref in refs.items():
        path = paths[key] = resolve(ref)
        problem = _file_problem(path, folder_ok=key == "zones")
        if problem is None and key.startswith("facilities["):
            # the same file twice would count every centre twice (or stop the run on repeated ids)
            first = seen.setdefault(_identity(path), key)
            if first != key:
                problem = f"{first}와 같은 파일 (the same file as {first}); 한 번만 쓰세요 (list it once)"
        if problem:
            lines.append(f"[data] {key} = {_txt.toml_value(ref)}: {problem} — {_txt.toml_value(str(path), 300)}")
    if lines:
        head = (f"{source}: 입력 파일 {len(lines)}개를 쓸 수 없습니다, 경로를 고치세요 ({len(lines)} input file(s) "
                "cannot be used; fix the paths — relative paths start at [data] dir):")
        raise SettingsError("\n".join([head, *(f"  - {line}" for line in lines)]))
    facilities = [paths.pop(f"facilities[{i + 1}].path") for i in range(len(data.facilities))]
    return paths, facilities


def _identity(path: Path) -> tuple[int, int]:
    info = path.stat()  # the same file by any name: a link, "./x.csv", an absolute path
    return info.st_dev, info.st_ino


def _file_problem(path: Path, *, folder_ok: bool) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return "파일이 없음 (no such file)"
    except OSError as exc:
        return f"확인할 수 없음 (cannot be checked: {exc.strerror})"
    except ValueError:  # a NUL character (TOML allows "\u0000")
        return "경로에 NUL 문자가 있음 (the path holds a NUL character)"
    if stat.S_ISDIR(info.st_mode) and folder_ok:
        if not is_raw_zone_folder(path):
            return "학구 JSON 파일(B….json)이 없는 폴더 (a folder without raw 학구 JSON files)"
        return None
    kind = special_kind(info.st_mode)
    if kind is not None:
        return f"{kind}, 파일이 필요 (expected a file)"
    try:
        with open(path, "rb") as fh:
            fh.read(1)
    except OSError as exc:
        return f"읽을 수 없음 (cannot be read: {exc.strerror})"
    return None
