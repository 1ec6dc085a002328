"""Walk network and travel times (skeleton: the TravelTimes result type)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import scipy.sparse as sp

__all__ = ["DEFAULT_DETOUR_FACTOR", "DEFAULT_WALK_SPEED_KMH", "TravelTimes"]

#: Children walk about 1.1 m/s (DOMAIN.md §5 [E]): 10 minutes is about 670 m.
DEFAULT_WALK_SPEED_KMH = 4.0
#: Network / straight-line distance ratio used when no walk graph is available (DOMAIN.md §5 [E]).
DEFAULT_DETOUR_FACTOR = 1.3


@dataclass(frozen=True)
class TravelTimes:
    """Sparse origin × destination walk times in minutes, only pairs within ``cutoff_min``.

    A stored entry may be an explicit ``0.0`` (origin and destination at the same
    place): read reachability from the sparsity structure (``indptr``/``indices``),
    never with ``.nonzero()``, and never call ``eliminate_zeros()`` on it.
    """

    matrix: sp.csr_matrix
    origin_ids: pd.Index
    destination_ids: pd.Index
    cutoff_min: float
    distance_method: str  # "network" or "straight_line"
    params: dict = field(default_factory=dict)  # walk_speed_kmh, detour_factor, graph source …

    def __post_init__(self) -> None:
        shape = (len(self.origin_ids), len(self.destination_ids))
        if self.matrix.shape != shape:
            msg = f"matrix shape {self.matrix.shape} does not match ids {shape}"
            raise ValueError(msg)
        if self.distance_method not in {"network", "straight_line"}:
            msg = f"distance_method must be 'network' or 'straight_line', got {self.distance_method!r}"
            raise ValueError(msg)

    @property
    def method_label(self) -> str:
        """Korean label for maps and reports."""
        speed = self.params.get("walk_speed_kmh", DEFAULT_WALK_SPEED_KMH)
        if self.distance_method == "network":
            return f"도보 네트워크 경로 (보행속도 {speed:g} km/h)"
        detour = self.params.get("detour_factor", DEFAULT_DETOUR_FACTOR)
        return f"직선거리 × 우회계수 {detour:g} (도보 네트워크 없음, 보행속도 {speed:g} km/h)"
