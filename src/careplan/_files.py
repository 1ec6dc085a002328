"""What kind of thing a path is, for the sentences that refuse anything but a regular file.

Readers, the scenario loader and its path checks all refuse folders, FIFOs, devices and
sockets before opening them (opening ``/dev/zero`` or a FIFO would block or fill memory);
this is the one place that names them.
"""

from __future__ import annotations

import stat

__all__ = ["special_kind"]

_KINDS = (
    (stat.S_ISDIR, "폴더 (a folder)"),
    (stat.S_ISFIFO, "이름 있는 파이프 (a named pipe, FIFO)"),
    (stat.S_ISCHR, "문자 장치 (a character device)"),
    (stat.S_ISBLK, "블록 장치 (a block device)"),
    (stat.S_ISSOCK, "소켓 (a socket)"),
)


def special_kind(mode: int) -> str | None:
    """``None`` for a regular file, else what ``mode`` (``os.stat().st_mode``) is, in Korean and English."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "일반 파일이 아님 (not a regular file)")
