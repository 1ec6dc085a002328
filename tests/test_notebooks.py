"""The notebooks in ``notebooks/`` run top to bottom on the sample and show the package's numbers.

Each notebook is executed with nbclient in a temporary working folder, on a kernel that
runs this interpreter (a temporary kernelspec, so no installed ``python3`` spec is
needed). Values are read back from tagged cells' outputs and compared with the same
numbers computed here through the package.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

import careplan
from careplan import coverage, sample, siting

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("01_demand", "02_coverage_gaps", "03_siting")


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory) -> KernelSpecManager:
    """A kernelspec that starts ipykernel with this very interpreter (this venv's careplan)."""
    folder = tmp_path_factory.mktemp("kernels") / "careplan-test"
    folder.mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "careplan test",
        "language": "python",
    }
    (folder / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(folder.parent)])


@pytest.fixture(scope="module")
def result():
    return careplan.run(careplan.load_scenario(sample.sample_dir() / "scenario.toml"))


def execute(name: str, kernel_specs: KernelSpecManager, cwd: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    km = KernelManager(kernel_name="careplan-test", kernel_spec_manager=kernel_specs)
    client = NotebookClient(nb, km=km, timeout=120, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def tagged(nb: nbformat.NotebookNode, tag: str) -> str:
    """Text the cell tagged ``tag`` printed or returned (stream and text/plain outputs)."""
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}"
    parts = []
    for out in cells[0].get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "text/plain" in out.get("data", {}):
            parts.append(out["data"]["text/plain"])
    return "".join(parts)


def number(text: str, label: str) -> float:
    hit = re.search(rf"{re.escape(label)}: ([-+0-9.e]+)", text)
    assert hit, f"{label!r} not in {text!r}"
    return float(hit.group(1))


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs_and_labels_the_sample(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "가상 데이터" in markdown and "examples/guro.toml" in markdown
    # no logic of their own: no function or class definitions in a notebook
    assert not any(re.search(r"^\s*(def|class) ", c.source, flags=re.MULTILINE) for c in code)


@pytest.mark.slow  # a kernel start and a full sample run each (~10–15 s)
def test_01_demand(kernel_specs, result, tmp_path):
    nb = execute("01_demand", kernel_specs, tmp_path)
    out = tagged(nb, "total-demand")
    assert number(out, "total demand") == pytest.approx(
        result.demand_points["demand"].sum(), rel=1e-12
    )
    assert number(out, "school demand") == pytest.approx(
        result.school_demand["demand"].sum(), rel=1e-12
    )
    assert "가상 데이터 (synthetic)" in tagged(nb, "run")
    zones = tagged(nb, "zones")
    top_zone = result.zone_summary["demand"].idxmax()
    assert zones.splitlines()[2].split()[0] == top_zone  # first data row after the two header lines


@pytest.mark.slow  # a kernel start and a full sample run each (~10–15 s)
def test_02_coverage_gaps(kernel_specs, result, tmp_path):
    nb = execute("02_coverage_gaps", kernel_specs, tmp_path)
    slot = result.scenario.siting_slot
    total = result.coverage_total
    expected = total[(total["slot"] == slot) & (total["kind"] == coverage.ALL_KINDS)][
        "coverage_pct"
    ]
    assert number(tagged(nb, "coverage"), f"coverage at {slot}") == pytest.approx(
        float(expected.iloc[0])
    )
    top = result.gaps.iloc[0]
    gap = tagged(nb, "top-gap")
    assert f"largest gap: {top['level']} {top['area_id']} " in gap
    assert number(gap, "unmet") == pytest.approx(float(top["unmet_demand"]))
    assert number(tagged(nb, "gini"), "gini") == pytest.approx(result.gini)
    assert "<folium.folium.Map" in tagged(nb, "map")


@pytest.mark.slow  # a kernel start and a full sample run each (~10–15 s)
def test_03_siting(kernel_specs, result, tmp_path):
    nb = execute("03_siting", kernel_specs, tmp_path)
    s = result.scenario
    existing = result.facilities[result.facilities["kind"].isin(coverage.default_kinds())]
    proposal = siting.propose_sites(
        result.demand_points,
        existing,
        result.candidates,
        result.times,
        kind="kium_general",
        n_new=3,
        max_walk_min=s.max_walk_min,
        sido=s.sido,
    )
    first = proposal.sites.iloc[0]
    out = tagged(nb, "first-site")
    assert f"first-ranked site: {proposal.sites.index[0]} {first['name']} " in out
    assert number(out, "adds") == pytest.approx(float(first["marginal_demand"]))
    assert first["marginal_demand"] > 0 and len(proposal.sites) >= 1
