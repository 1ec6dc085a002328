"""careplan: geospatial planning of Korean after-school child care (초등 돌봄).

Stage modules are namespaces, imported on first use: ``careplan.io``,
``careplan.demand``, ``careplan.network``, ``careplan.coverage``,
``careplan.access``, ``careplan.siting``, ``careplan.maps`` …
"""

from __future__ import annotations

import importlib
import logging

from ._errors import (
    CareplanError,
    CareplanWarning,
    CRSError,
    InfeasibleError,
    InputDataError,
    MissingColumnError,
    NetworkError,
    SettingsError,
    UnreadableFileError,
)

__version__ = "0.1.0"

_STAGES = {
    "access", "candidates", "catalog", "cli", "coverage", "demand", "io", "maps",
    "network", "pipeline", "report", "sample", "scale", "siting",
}

__all__ = [
    "CRSError",
    "CareplanError",
    "CareplanWarning",
    "InfeasibleError",
    "InputDataError",
    "MissingColumnError",
    "NetworkError",
    "SettingsError",
    "UnreadableFileError",
    "PlanResult",
    "Scenario",
    "__version__",
    "load_scenario",
    "run",
]

_PIPELINE_NAMES = {"PlanResult", "Scenario", "load_scenario", "run"}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    # Stages load lazily so `import careplan` stays fast and a CLI command
    # pays only for the stages it uses.
    if name in _STAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _PIPELINE_NAMES:  # careplan.run(careplan.load_scenario(path)) as the issue and notebooks spell it
        return getattr(importlib.import_module(f"{__name__}.pipeline"), name)
    msg = f"module 'careplan' has no attribute {name!r}"
    raise AttributeError(msg)
