"""Output folders: careplan writes only where it may, and never deletes a file it did not write.

Every folder careplan writes (``run``, ``demo``, ``compare``, ``region``, ``map --out``) holds a
marker, ``.careplan.json``: what wrote it, the careplan version and every file and folder it wrote.
A folder is an earlier careplan output only when it holds a valid marker. The rules
(docs/data-contract.md, "Run folders and ``--out``"):

- an absent or empty folder is written;
- a non-empty folder without a marker is refused (:class:`SettingsError`, exit 2);
- an earlier output is refused unless ``force`` (``--force``); ``careplan demo`` replaces an earlier
  *demo* output without it (``maps/demo`` is careplan's own folder, and the README's first command);
- with ``force`` the folder is replaced atomically. Files and folders the old marker does not list
  (added by the user, e.g. a QGIS project beside ``careplan.gpkg``) are **kept**: moved into the new
  folder. When one has the name of a new output, the write is refused naming it, before anything
  changes.

Outputs are written to a staging folder ``<parent>/.<name>.partial`` and swapped in with
``os.replace``. The staging folder holds ``.careplan-staging.json`` (pid, host); it is removed when
the write fails or is interrupted (SIGINT, SIGTERM: the CLI turns both into exceptions), and a
stale one left by a killed process is removed by the next write into the same parent. A folder that
merely looks like staging but lacks the marker is never deleted. SIGINT and SIGTERM are held back
for the few renames of a swap, so an interrupt never leaves a half-swapped folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TypeVar

from ._errors import SettingsError

__all__ = ["KINDS", "MARKER", "STAGING_MARKER", "Staging", "adopt", "begin", "check", "discard",
           "discard_open", "read_marker", "replace_entries", "side_stage", "stage_inside", "write"]

logger = logging.getLogger(__name__)

MARKER = ".careplan.json"
STAGING_MARKER = ".careplan-staging.json"
KINDS = ("run", "demo", "compare", "region", "map")
_FORMAT = "careplan-output-1"
_STAGING_FORMAT = "careplan-staging-1"
_MAX_MARKER_BYTES = 64 * 2**20  # a whole country's point files list stays far below
T = TypeVar("T")
_open_stages: set[Path] = set()  # staging folders of this process, not yet swapped in or removed


# ------------------------------------------------------------------ markers


def _safe_rel(path: object) -> bool:
    """A marker's entry: a plain relative POSIX path inside the folder (a hostile marker cannot
    point careplan at ``../`` or an absolute path)."""
    if not isinstance(path, str) or not path or "\\" in path or ":" in path or "\x00" in path:
        return False
    pure = PurePosixPath(path)
    plain = pure.as_posix() == path and path != "."
    return plain and not pure.is_absolute() and ".." not in pure.parts


def _read_json(path: Path) -> dict | None:
    """The JSON object in ``path`` if a regular file (not a link) of sane size, else None."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_MARKER_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _lists_ok(data: dict) -> bool:
    files, folders = data.get("files"), data.get("folders")
    if not (isinstance(files, list) and isinstance(folders, list)):
        return False
    return all(map(_safe_rel, files + folders))


def read_marker(folder: str | os.PathLike) -> dict | None:
    """The ``.careplan.json`` of ``folder`` when it is a valid careplan output marker, else None."""
    data = _read_json(Path(folder) / MARKER)
    ok = data is not None and data.get("format") == _FORMAT and data.get("kind") in KINDS
    return data if ok and _lists_ok(data) else None


def _read_staging(folder: Path) -> dict | None:
    data = _read_json(folder / STAGING_MARKER)
    if (
        data is None
        or data.get("format") != _STAGING_FORMAT
        or not isinstance(data.get("pid"), int)
        or data.get("role") not in {"stage", "trash"}
        or (data["role"] == "trash" and not _lists_ok(data))
    ):
        return None
    return data


def _write_json(path: Path, data: dict) -> None:
    """Write a marker whole or not at all (a process killed mid-write leaves no half marker)."""
    part = path.with_name(f"{path.name}.tmp")
    text = json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _owner(role: str) -> dict:
    """A staging marker's head: this process, so a later run can tell whether it still runs."""
    host = socket.gethostname()
    return {"format": _STAGING_FORMAT, "pid": os.getpid(), "host": host, "role": role}


def _version() -> str:
    from . import __version__

    return __version__


def _walk(folder: Path) -> tuple[list[str], list[str]]:
    """Relative POSIX paths of the files and of the folders under ``folder``; links are files
    (never followed, so a link to a user's folder is not entered)."""
    files: list[str] = []
    folders: list[str] = []
    for root, dirnames, filenames in os.walk(folder):
        rel = PurePosixPath(Path(root).relative_to(folder).as_posix())
        for name in dirnames:
            (files if os.path.islink(os.path.join(root, name)) else folders).append(
                (rel / name).as_posix()
            )
        files.extend((rel / name).as_posix() for name in filenames)
    return sorted(files), sorted(folders)


# ------------------------------------------------------------------ processes and signals


def _alive(pid: int, host: object) -> bool:
    """Whether the process that wrote a staging marker may still run (unknown counts as alive)."""
    if host != socket.gethostname():
        return True  # another machine writing to a shared folder: cannot tell, leave it
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        query = 0x1000  # PROCESS_QUERY_LIMITED_INFORMATION
        handle = ctypes.windll.kernel32.OpenProcess(query, False, pid)
        if handle:
            ctypes.windll.kernel32.CloseHandle(handle)
        return bool(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


_held = threading.local()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back during a swap's renames; deliver them once it is done."""
    if threading.current_thread() is not threading.main_thread() or getattr(_held, "depth", 0):
        yield
        return
    pending: list[int] = []
    previous = {
        s: signal.signal(s, lambda signum, _frame: pending.append(signum))
        for s in (signal.SIGINT, signal.SIGTERM)
    }
    _held.depth = 1
    try:
        yield
    finally:
        _held.depth = 0
        for s, handler in previous.items():
            if handler is not None:  # None: not set from Python, nothing to restore
                signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])


# ------------------------------------------------------------------ the rules


def _target(out: str | os.PathLike) -> Path:
    path = Path(os.path.abspath(out))
    if not path.name:
        msg = f"output folder {str(out)!r} is a drive's top; choose a new or empty folder for --out"
        raise SettingsError(msg)
    return path


def _check_parent(out: Path) -> None:
    """A new ``out`` must be creatable: caught here, before an analysis that may take minutes."""
    ancestor = out.parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        msg = (f"output folder {out} cannot be made: {ancestor} is a file, not a folder; "
               "choose another path for --out")
        raise SettingsError(msg)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        msg = (f"output folder {out} cannot be made: {ancestor} is not writable; "
               "choose a folder you may write to for --out")
        raise SettingsError(msg)


def check(out: str | os.PathLike, kind: str, *, force: bool = False) -> dict | None:
    """Apply the ``--out`` rules to ``out`` before writing: the old marker when ``out`` is an
    earlier careplan output that may be replaced, None when it is absent or empty.

    Raises
    ------
    SettingsError
        ``out`` is a file or a link, holds files careplan did not write, or is an earlier output
        and neither ``force`` nor a demo replacing a demo.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    out = _target(out)
    if not os.path.lexists(out):
        _check_parent(out)
        return None
    if out.is_symlink() or not out.is_dir():
        what = "a link" if out.is_symlink() else "a file"
        msg = f"output folder {out} is {what}, not a folder; choose a new or empty folder for --out"
        raise SettingsError(msg)
    try:
        entries = sorted(os.listdir(out))
    except OSError as err:
        msg = f"output folder {out} cannot be read ({err.strerror}); choose a new or empty folder"
        raise SettingsError(msg) from err
    if not entries:
        return None
    marker = read_marker(out)
    if marker is None:
        more = f" … ({len(entries)} entries)" if len(entries) > 3 else ""
        shown = ", ".join(entries[:3]) + more
        msg = (
            f"출력 폴더 {out}에 careplan이 쓰지 않은 파일이 있습니다: "
            f"the folder holds files careplan did not write ({shown}); "
            "choose a new or empty folder for --out"
        )
        raise SettingsError(msg)
    if force or (kind == "demo" and marker["kind"] == "demo"):
        return marker
    msg = (
        f"출력 폴더 {out}에 이전 careplan 결과가 있습니다: the folder holds an earlier careplan "
        f"{marker['kind']} output; pass --force (library: force=True) to replace it, "
        "or choose a new folder"
    )
    raise SettingsError(msg)


# ------------------------------------------------------------------ staging


def _clean_stale(parent: Path) -> None:
    """Remove what killed careplan processes left in ``parent``: staging folders and the old
    folders of an unfinished swap, recognised by their staging marker (others are never touched)."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith((".partial", ".old"))):
            continue
        if not entry.is_dir(follow_symlinks=False):
            continue
        folder = Path(entry.path)
        data = _read_staging(folder)
        if data is None or _alive(data["pid"], data.get("host")):
            continue
        logger.info("removing %s, left by careplan process %d", folder, data["pid"])
        _discard(folder, data)


def _discard(folder: Path, data: dict | None = None) -> None:
    """Remove a staging folder (all careplan's) or the old folder of a swap (only what it lists)."""
    data = data or _read_staging(folder)
    if data is None:
        return
    if data["role"] == "stage":
        shutil.rmtree(folder, ignore_errors=True)
        _open_stages.discard(folder)
        return
    left = _remove_listed(folder, [*data["files"], STAGING_MARKER], data["folders"])
    if left:
        logger.warning(
            "%s still holds %s: not written by careplan, so left there", folder, ", ".join(left[:5])
        )


def _remove_listed(folder: Path, files: Iterable[str], folders: Iterable[str]) -> list[str]:
    """Delete the listed files of ``folder`` and the listed folders left empty; what remains."""
    listed, listed_dirs = set(files), set(folders)
    present, dirs = _walk(folder)
    for rel in present:
        if rel in listed:
            with contextlib.suppress(OSError):  # gone already, or locked: reported as left over
                (folder / rel).unlink()
    for rel in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        if rel in listed_dirs:
            with contextlib.suppress(OSError):
                (folder / rel).rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()
    if not folder.exists():
        return []
    left, left_dirs = _walk(folder)
    return sorted(left + left_dirs)


def _new_stage(path: Path, target: Path) -> Path:
    """Make the staging folder ``path`` with its marker (after an earlier one of a dead process)."""
    if os.path.lexists(path):
        data = _read_staging(path) if path.is_dir() and not path.is_symlink() else None
        if data is None:
            msg = (
                f"{path} exists and is not a careplan staging folder (no {STAGING_MARKER}); "
                "move or rename it, then run again"
            )
            raise SettingsError(msg)
        if data["pid"] != os.getpid() and _alive(data["pid"], data.get("host")):
            msg = (
                f"another careplan process (pid {data['pid']}) is writing {target}; "
                "wait for it to finish or choose another folder for --out"
            )
            raise SettingsError(msg)
        _discard(path, data)
    with _signals_held():  # an interrupt here would leave a folder nobody knows about
        try:
            path.mkdir()
            _open_stages.add(path)
            _write_json(path / STAGING_MARKER, {**_owner("stage"), "target": target.name})
        except OSError as err:
            if path in _open_stages:
                _open_stages.discard(path)
                shutil.rmtree(path, ignore_errors=True)
            msg = f"cannot write into {path.parent} ({err.strerror}); choose a writable folder"
            raise SettingsError(msg) from err
    return path


def discard_open() -> None:
    """Remove every staging folder this process made and has not swapped in (the CLI's last
    resort when SIGINT or SIGTERM ends it)."""
    for path in list(_open_stages):
        shutil.rmtree(path, ignore_errors=True)
    _open_stages.clear()


def side_stage(out: str | os.PathLike, tag: str) -> Path:
    """A staging folder beside ``out`` for outputs made before the main write (the region point
    files the Dask workers write); :func:`adopt` moves it into the output's staging folder."""
    out = _target(out)
    _parent(out)
    return _new_stage(out.parent / f".{out.name}.{tag}.partial", out)


def adopt(side: str | os.PathLike, stage: str | os.PathLike, name: str) -> Path | None:
    """Move the :func:`side_stage` folder ``side`` into ``stage`` as ``name``; None (nothing moved)
    when ``side`` is not a careplan staging folder, e.g. a library caller's own ``points_dir``."""
    side = Path(side)
    data = _read_staging(side)
    if data is None or data["role"] != "stage":
        return None
    os.replace(side, Path(stage) / name)
    _open_stages.discard(side)
    (Path(stage) / name / STAGING_MARKER).unlink()
    return Path(stage) / name


def discard(folder: str | os.PathLike | None) -> None:
    """Remove a staging folder of careplan (a folder without the staging marker stays)."""
    if folder is not None and Path(folder).is_dir():
        _discard(Path(folder))


@dataclass
class Staging:
    """An output being written: fill :attr:`path`, then :meth:`commit` (or :meth:`discard`)."""

    out: Path
    kind: str
    force: bool
    path: Path
    committed: bool = False

    def commit(self) -> Path:
        """Write the marker and swap the staged folder in at :attr:`out`."""
        files, folders = _walk(self.path)
        files = [f for f in files if f not in {MARKER, STAGING_MARKER}]
        head = {"format": _FORMAT, "kind": self.kind, "careplan": _version()}
        _write_json(self.path / MARKER, {**head, "files": files, "folders": folders})
        old = check(self.out, self.kind, force=self.force)  # again: it may have changed meanwhile
        extra = _keepers(self.path, self.out, old["files"], old["folders"]) if old else []
        with _signals_held():
            (self.path / STAGING_MARKER).unlink()
            try:
                if old is not None:
                    _swap(self.path, self.out, old["files"], old["folders"], extra)
                else:
                    if self.out.is_dir():
                        try:
                            self.out.rmdir()
                        except OSError as err:
                            msg = f"output folder {self.out} is no longer empty; choose another one"
                            raise SettingsError(msg) from err
                    os.replace(self.path, self.out)
            finally:
                self.committed = not self.path.exists()  # swapped in: it is the output now
                if self.committed:
                    _open_stages.discard(self.path)
        return self.out

    def discard(self) -> None:
        """Remove the staging folder unless committed (nothing in it is the user's)."""
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)
            _open_stages.discard(self.path)


def _parent(out: Path) -> None:
    """Make the parent of ``out`` and remove what killed careplan processes left there."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        msg = f"cannot make {out.parent} ({err.strerror}); choose a folder you can write to"
        raise SettingsError(msg) from err
    _clean_stale(out.parent)


def begin(out: str | os.PathLike, kind: str, *, force: bool = False) -> Staging:
    """Check ``out`` against the rules and make its staging folder (stale ones removed)."""
    out = _target(out)
    check(out, kind, force=force)
    _parent(out)
    return Staging(out, kind, force, _new_stage(out.parent / f".{out.name}.partial", out))


def write(out: str | os.PathLike, kind: str, fill: Callable[[Path], T], *, force=False) -> T:
    """Stage ``out``, let ``fill(stage)`` write the outputs, then swap them in; on any error or
    interrupt the staging folder is removed and ``out`` is left as it was; ``fill``'s value."""
    staging = begin(out, kind, force=force)
    try:
        value = fill(staging.path)
        staging.commit()
    finally:
        staging.discard()
    return value


# ------------------------------------------------------------------ swaps


def _user_entries(folder: Path, files: Iterable[str], folders: Iterable[str]) -> list[str]:
    """Files of ``folder`` its marker does not list, and unlisted empty folders: the user's."""
    listed, listed_dirs = {*files, MARKER, STAGING_MARKER}, set(folders)
    present, dirs = _walk(folder)
    extra = [f for f in present if f not in listed]
    extra += [d for d in dirs if d not in listed_dirs and not any(os.scandir(folder / d))]
    return sorted(extra)


def _clashes(new: Path, rel: str) -> bool:
    """Whether moving the user's ``rel`` into ``new`` would meet a careplan output."""
    path = new / rel
    parents = [p for p in path.relative_to(new).parents if p != Path(".")]
    return os.path.lexists(path) or any((new / p).is_file() for p in parents)


def _keepers(new: Path, target: Path, files: list[str], folders: list[str]) -> list[str]:
    """The user's entries of ``target`` to keep in ``new``; refused when one meets a new output."""
    extra = _user_entries(target, files, folders)
    clash = [rel for rel in extra if _clashes(new, rel)]
    if clash:
        msg = (
            f"cannot replace {target}: your {', '.join(clash[:5])} there has the name of a new "
            "careplan output; move or rename it, then run again"
        )
        raise SettingsError(msg)
    trash = target.with_name(f".{target.name}.old")
    if os.path.lexists(trash) and _read_staging(trash):
        _discard(trash)
    if os.path.lexists(trash):
        msg = f"{trash} is in the way (not careplan's, or holds your files); move or rename it"
        raise SettingsError(msg)
    return extra


def _swap(new: Path, target: Path, files: list[str], folders: list[str], extra: list[str]) -> None:
    """Replace folder ``target`` by ``new`` in one rename; the user's ``extra`` entries (see
    :func:`_keepers`) move into the new folder; of the rest, only what ``files``/``folders`` list
    is deleted."""
    trash = target.with_name(f".{target.name}.old")
    with _signals_held():
        try:
            os.replace(target, trash)
        except OSError as err:  # Windows: a file in it is open (QGIS, Excel)
            msg = (f"cannot replace {target} ({err.strerror}); close the programs that have its "
                   "files open (QGIS, Excel) and run again")
            raise SettingsError(msg) from err
        try:
            os.replace(new, target)
        except BaseException:
            os.replace(trash, target)
            raise
        listing = {"files": [*files, MARKER], "folders": folders}
        _write_json(trash / STAGING_MARKER, {**_owner("trash"), **listing})
        failed = []
        for rel in extra:
            dest = target / rel
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(trash / rel, dest)
            except OSError:
                failed.append(rel)
                continue
            for parent in (trash / rel).parents:  # the user's folders it leaves empty
                if parent == trash or any(parent.iterdir()):
                    break
                parent.rmdir()
    if extra:
        logger.info("kept %d file(s) you added to %s: %s", len(extra), target, ", ".join(extra[:5]))
    _discard(trash)
    if failed:
        moved = ", ".join(failed[:5])
        msg = f"your {moved} could not be moved into the new {target}; they are kept in {trash}"
        raise SettingsError(msg)


def stage_inside(folder: str | os.PathLike, name: str = ".maps.partial") -> Path:
    """A staging folder inside an existing output ``folder`` (``careplan map`` re-making a run's
    maps in place), after removing what killed processes left there."""
    folder = Path(folder)
    _clean_stale(folder)
    return _new_stage(folder / name, folder)


def replace_entries(
    folder: str | os.PathLike, stage: str | os.PathLike, names: Iterable[str], kind: str = "map"
) -> list[Path]:
    """Move the entries ``names`` (files or folders) of ``stage`` into the existing ``folder``.

    An entry already in ``folder`` is replaced only when the folder's marker lists it as
    careplan's; the user's files inside a replaced folder are kept (moved into the new one). The
    marker is updated (made, with ``kind``, when the folder had none). Returns the new paths.
    """
    folder, stage = Path(folder), Path(stage)
    marker = read_marker(folder) or {"format": _FORMAT, "kind": kind, "files": [], "folders": []}
    names = [n for n in names if os.path.lexists(stage / n)]
    keep: dict[str, tuple[list[str], list[str], list[str]]] = {}
    for name in names:
        target, new = folder / name, stage / name
        if not os.path.lexists(target):
            continue
        is_dir = new.is_dir()
        listed = marker["folders"] if is_dir else marker["files"]
        if name not in listed or target.is_symlink() or target.is_dir() != is_dir:
            msg = (
                f"{target} is not listed as careplan's in {folder / MARKER}, so careplan cannot "
                "tell it wrote it; move it away, or write the maps into a new folder with --out"
            )
            raise SettingsError(msg)
        if is_dir:
            prefix = f"{name}/"
            sub = (
                [f.removeprefix(prefix) for f in marker["files"] if f.startswith(prefix)],
                [d.removeprefix(prefix) for d in marker["folders"] if d.startswith(prefix)],
            )
            keep[name] = (*sub, _keepers(new, target, *sub))
    files = [f for f in marker["files"] if f.split("/")[0] not in names]
    folders = [d for d in marker["folders"] if d.split("/")[0] not in names]
    for name in names:
        if (stage / name).is_dir():
            new_files, new_folders = _walk(stage / name)
            files += [f"{name}/{f}" for f in new_files]
            folders += [name, *(f"{name}/{d}" for d in new_folders)]
        else:
            files.append(name)
    _write_json(
        stage / MARKER,
        {**marker, "careplan": _version(), "files": sorted(files), "folders": sorted(folders)},
    )
    with _signals_held():
        for name in names:
            if name in keep:
                _swap(stage / name, folder / name, *keep[name])
            else:
                os.replace(stage / name, folder / name)
        os.replace(stage / MARKER, folder / MARKER)
    return [folder / name for name in names]
