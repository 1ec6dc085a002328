"""Shared fixtures: the real Korean data beside the project, and browser gating."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_KOREA = Path(os.environ.get("CAREPLAN_SHARED_DATA", REPO.parent / "shared" / "data" / "korea"))
PEER_CASES = Path(os.environ.get("CAREPLAN_PEER_CASES", REPO.parent / "shared" / "peer_cases"))


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    msg = f"{what} not found at {path} (set CAREPLAN_SHARED_DATA / CAREPLAN_PEER_CASES)"
    if os.environ.get("CAREPLAN_REQUIRE_SHARED") == "1":
        pytest.fail(msg + "; CAREPLAN_REQUIRE_SHARED=1 makes this a failure", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def korea() -> Path:
    """``../shared/data/korea``: skip when absent, fail when CAREPLAN_REQUIRE_SHARED=1."""
    return _need(SHARED_KOREA, "real Korean data (../shared/data/korea)")


@pytest.fixture(scope="session")
def peer_cases() -> Path:
    """``../shared/peer_cases``: the peers' answers (spopt, access)."""
    return _need(PEER_CASES, "peer cases (../shared/peer_cases)")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless Chromium; skip when absent unless CAREPLAN_REQUIRE_BROWSER=1."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    msg = "no chromium on PATH (apt-get install chromium)"
    if os.environ.get("CAREPLAN_REQUIRE_BROWSER") == "1":
        pytest.fail(msg + "; CAREPLAN_REQUIRE_BROWSER=1 makes this a failure", pytrace=False)
    pytest.skip(msg)
