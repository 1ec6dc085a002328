"""``--out`` never deletes a file careplan did not write (issue 18, items 3 and 7).

The rules live in ``careplan.outfolder`` and are used by every writer: ``run`` / ``demo``
(``report.write_outputs``), ``compare``, ``map`` (``runfolder.remake_maps``) and ``region``
(``scale.write_region``). Signals are sent to a real ``python -m careplan demo`` subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from careplan import outfolder, pipeline, report, runfolder, sample, scale
from careplan._errors import SettingsError
from careplan.cli import app

runner = CliRunner()
SCENARIO = sample.sample_dir() / "scenario.toml"
NOT_OURS = "the folder holds files careplan did not write"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def marker(folder: Path) -> dict:
    return json.loads((folder / outfolder.MARKER).read_text(encoding="utf-8"))


def hidden(parent: Path) -> list[str]:
    """Staging and old folders careplan may leave in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def result():
    return pipeline.run(pipeline.load_scenario(SCENARIO), progress=False)


@pytest.fixture(scope="module")
def run_dir(result, tmp_path_factory) -> Path:
    """A finished run folder (copied by the tests that change it)."""
    return report.write_outputs(result, tmp_path_factory.mktemp("run") / "run")


def copy_run(run_dir: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(run_dir, dest)
    return dest


# ------------------------------------------------------------------ the marker


def test_every_output_folder_has_a_marker_listing_what_careplan_wrote(run_dir):
    data = marker(run_dir)
    assert data["kind"] == "run" and data["format"] == "careplan-output-1"
    on_disk = sorted(
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob("*")
        if p.is_file() and p.name != outfolder.MARKER
    )
    assert data["files"] == on_disk and "public_map/index.html" in on_disk
    assert data["folders"] == ["public_map", "public_map/images"]  # Leaflet's images too
    assert hidden(run_dir.parent) == []  # no staging left beside it


@pytest.mark.parametrize(
    "bad",
    [
        {"files": ["../outside.txt"], "folders": []},
        {"files": ["/etc/passwd"], "folders": []},
        {"files": "report.md", "folders": []},
        {"files": [], "folders": [".."]},
    ],
)
def test_a_marker_pointing_outside_its_folder_is_not_careplans(tmp_path, bad):
    out = tmp_path / "out"
    out.mkdir()
    (out / outfolder.MARKER).write_text(
        json.dumps({"format": "careplan-output-1", "kind": "run", **bad}), encoding="utf-8"
    )
    assert outfolder.read_marker(out) is None
    with pytest.raises(SettingsError, match=NOT_OURS):
        outfolder.check(out, "run", force=True)


# ------------------------------------------------------------------ run / demo


def test_a_users_file_survives_and_the_run_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "내 메모.txt").write_text("keep me", encoding="utf-8")
    for extra in ([], ["--force"]):  # --force does not open a folder careplan did not write
        res = invoke("run", SCENARIO, "--out", out, "-q", *extra)
        assert res.exit_code == 2
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and NOT_OURS in lines[0]
        assert "choose a new or empty folder" in lines[0]
        assert "내 메모.txt" in lines[0] and "Traceback" not in res.output
    assert [p.name for p in out.iterdir()] == ["내 메모.txt"]
    assert (out / "내 메모.txt").read_text(encoding="utf-8") == "keep me"
    assert hidden(tmp_path) == []


def test_a_file_or_link_as_out_is_refused(tmp_path):
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path, target_is_directory=True)
    for name, what in (("file", "is a file"), ("link", "is a link")):
        res = invoke("demo", "--out", tmp_path / name, "-q")
        assert res.exit_code == 2 and what in res.stderr
    assert (tmp_path / "file").read_text(encoding="utf-8") == "mine"


def test_an_out_under_a_file_is_refused_before_the_analysis(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    monkeypatch.setattr(pipeline, "run", lambda *a, **k: pytest.fail("the analysis ran"))
    res = invoke("demo", "--out", tmp_path / "file" / "sub" / "out", "-q")
    assert res.exit_code == 2
    assert f"{tmp_path / 'file'} is a file, not a folder; choose another path for --out" in res.stderr
    assert (tmp_path / "file").read_text(encoding="utf-8") == "mine"


def test_rerun_needs_force_which_replaces_the_run_and_keeps_the_users_files(run_dir, tmp_path):
    out = copy_run(run_dir, tmp_path / "run")
    # a file of the earlier run that this run does not write, and files the planner added
    (out / "old_table.csv").write_text("old", encoding="utf-8")
    data = marker(out)
    data["files"] = sorted([*data["files"], "old_table.csv"])
    (out / outfolder.MARKER).write_text(json.dumps(data), encoding="utf-8")
    (out / "guro.qgz").write_bytes(b"QGIS project")
    (out / "public_map" / "logo.png").write_bytes(b"PNG")
    (out / "notes").mkdir()
    (out / "notes" / "회의.txt").write_text("회의록", encoding="utf-8")
    (out / "report.md").write_text("stale report", encoding="utf-8")  # careplan's: replaced

    res = invoke("run", SCENARIO, "--out", out, "-q")
    assert res.exit_code == 2 and "--force" in res.stderr
    assert "earlier careplan run output" in res.stderr
    assert (out / "old_table.csv").is_file() and (out / "report.md").read_text() == "stale report"

    res = invoke("run", SCENARIO, "--out", out, "-q", "--force")
    assert res.exit_code == 0, res.output
    assert not (out / "old_table.csv").exists()  # the old run's, not written again
    assert "가상 데이터" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "guro.qgz").read_bytes() == b"QGIS project"
    assert (out / "public_map" / "logo.png").read_bytes() == b"PNG"
    assert (out / "notes" / "회의.txt").read_text(encoding="utf-8") == "회의록"
    assert (out / "public_map" / "index.html").is_file()
    data = marker(out)
    assert "old_table.csv" not in data["files"] and "guro.qgz" not in data["files"]
    assert hidden(tmp_path) == []


def test_a_users_file_named_like_a_new_output_is_refused_before_anything_changes(
    run_dir, result, tmp_path
):
    out = copy_run(run_dir, tmp_path / "run")
    data = marker(out)
    data["files"].remove("gaps.csv")  # as if the user had made gaps.csv after the earlier run
    (out / outfolder.MARKER).write_text(json.dumps(data), encoding="utf-8")
    (out / "gaps.csv").write_text("my own gaps", encoding="utf-8")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    with pytest.raises(SettingsError, match=r"gaps\.csv there has the name of a new careplan"):
        report.write_outputs(result, out, force=True)
    assert (out / "gaps.csv").read_text(encoding="utf-8") == "my own gaps"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    assert hidden(tmp_path) == []


def test_keyboard_interrupt_while_writing_leaves_no_staging(result, run_dir, tmp_path, monkeypatch):
    out = copy_run(run_dir, tmp_path / "run")
    before = (out / "report.md").read_bytes()

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_write_maps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.write_outputs(result, out, force=True)
    with pytest.raises(KeyboardInterrupt):
        report.write_outputs(result, tmp_path / "new")
    assert hidden(tmp_path) == [] and not (tmp_path / "new").exists()
    assert (out / "report.md").read_bytes() == before


def test_demo_replaces_an_earlier_demo_in_its_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("demo", "-q").exit_code == 0
    demo = tmp_path / "maps" / "demo"
    assert marker(demo)["kind"] == "demo"
    (demo / "내 메모.txt").write_text("keep", encoding="utf-8")
    res = invoke("demo", "-q")  # the README's first command, again: no --force needed
    assert res.exit_code == 0, res.output
    assert (demo / "내 메모.txt").read_text(encoding="utf-8") == "keep"
    assert (demo / "public_map" / "index.html").is_file() and hidden(demo.parent) == []
    # a run's folder is not the demo's: demo needs --force there
    run = tmp_path / "run"
    assert invoke("run", SCENARIO, "--out", run, "-q").exit_code == 0
    res = invoke("demo", "--out", run, "-q")
    assert res.exit_code == 2 and "--force" in res.stderr
    assert marker(run)["kind"] == "run"


# ------------------------------------------------------------------ signals and stale staging


def start_demo(out: Path) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "careplan", "demo", "--out", str(out), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stage = out.parent / f".{out.name}.partial"
    deadline = time.monotonic() + 120
    while not (stage / outfolder.STAGING_MARKER).is_file():  # the staging folder exists: it writes
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"demo never staged its outputs: {proc.communicate()}")
        time.sleep(0.005)
    return proc, stage


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_while_writing_leave_no_staging(tmp_path, sig, code):
    out = tmp_path / "demo"
    proc, stage = start_demo(out)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip() and "HiGHS" not in line]
    assert lines == [f"중단됨 interrupted ({sig.name}): unfinished outputs were removed"]
    assert not stage.exists() and not out.exists()
    assert hidden(tmp_path) == []


def test_a_killed_runs_staging_is_removed_by_the_next_run_and_look_alikes_stay(tmp_path):
    proc, stage = start_demo(tmp_path / "demo")
    proc.kill()
    proc.communicate(timeout=60)
    assert (stage / outfolder.STAGING_MARKER).is_file()  # SIGKILL: nothing can clean up
    look_alike = tmp_path / ".x.partial"  # a folder that looks like staging, without the marker
    look_alike.mkdir()
    (look_alike / "data.csv").write_text("mine", encoding="utf-8")
    staging_marker(tmp_path / ".busy.partial", os.getppid(), role="stage")  # its process runs
    res = invoke("demo", "--out", tmp_path / "again", "-q")
    assert res.exit_code == 0, res.output
    assert not stage.exists(), sorted(p.name for p in stage.iterdir())
    assert (look_alike / "data.csv").read_text(encoding="utf-8") == "mine"
    assert (tmp_path / ".busy.partial" / outfolder.STAGING_MARKER).is_file()
    assert hidden(tmp_path) == [".busy.partial", ".x.partial"]


def test_a_look_alike_at_the_staging_path_is_refused_not_deleted(result, tmp_path):
    stage = tmp_path / ".run.partial"
    stage.mkdir()
    (stage / "mine.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(SettingsError, match="not a careplan staging folder"):
        report.write_outputs(result, tmp_path / "run")
    assert (stage / "mine.txt").read_text(encoding="utf-8") == "mine"
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ compare, map, region


def test_compare_follows_the_same_rules(tmp_path):
    out = tmp_path / "cmp"
    out.mkdir()
    (out / "mine.xlsx").write_bytes(b"PK")
    res = invoke("compare", SCENARIO, SCENARIO, "--out", out, "-q", "--force")
    assert res.exit_code == 2 and NOT_OURS in res.stderr
    assert [p.name for p in out.iterdir()] == ["mine.xlsx"]

    out = tmp_path / "cmp2"
    assert invoke("compare", SCENARIO, SCENARIO, "--out", out, "-q").exit_code == 0
    assert marker(out)["files"] == ["compare_map.html", "compare_확인지표.csv"]
    (out / "mine.xlsx").write_bytes(b"PK")
    res = invoke("compare", SCENARIO, SCENARIO, "--out", out, "-q")
    assert res.exit_code == 2 and "earlier careplan compare output" in res.stderr
    res = invoke("compare", SCENARIO, SCENARIO, "--out", out, "-q", "--force")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == [
        outfolder.MARKER,
        "compare_map.html",
        "compare_확인지표.csv",
        "mine.xlsx",
    ]
    assert hidden(tmp_path) == []


def test_map_in_the_run_folder_replaces_only_careplans_maps(run_dir, tmp_path):
    out = copy_run(run_dir, tmp_path / "run")
    (out / "guro.qgz").write_bytes(b"QGIS")
    (out / "public_map" / "logo.png").write_bytes(b"PNG")
    written = runfolder.remake_maps(out, title="새 제목")
    assert written == [out / "planner_map.html", out / "public_map" / "index.html"]
    assert "새 제목" in (out / "public_map" / "index.html").read_text(encoding="utf-8")
    assert (out / "public_map" / "logo.png").read_bytes() == b"PNG"
    assert (out / "guro.qgz").read_bytes() == b"QGIS"
    data = marker(out)
    assert data["kind"] == "run" and "public_map/logo.png" not in data["files"]
    assert "public_map/index.html" in data["files"] and "careplan.gpkg" in data["files"]
    assert hidden(out) == [outfolder.MARKER] and hidden(tmp_path) == []
    # a planner_map.html careplan did not write (not in the marker) is refused, kept
    data["files"].remove("planner_map.html")
    (out / outfolder.MARKER).write_text(json.dumps(data), encoding="utf-8")
    (out / "planner_map.html").write_text("my own map", encoding="utf-8")
    res = invoke("map", out, "--planner")
    assert res.exit_code == 2 and "careplan cannot tell it wrote it" in res.stderr
    assert (out / "planner_map.html").read_text(encoding="utf-8") == "my own map"
    assert hidden(out) == [outfolder.MARKER]


def test_map_out_elsewhere_follows_the_out_rules(run_dir, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "index.html").write_text("my site", encoding="utf-8")
    res = invoke("map", run_dir, "--out", mine, "--force")
    assert res.exit_code == 2 and NOT_OURS in res.stderr
    assert [p.name for p in mine.iterdir()] == ["index.html"]

    maps_dir = tmp_path / "maps"
    assert invoke("map", run_dir, "--out", maps_dir, "--planner").exit_code == 0
    assert marker(maps_dir) == {**marker(maps_dir), "kind": "map", "files": ["planner_map.html"]}
    res = invoke("map", run_dir, "--out", maps_dir, "--public")
    assert res.exit_code == 2 and "earlier careplan map output" in res.stderr
    res = invoke("map", run_dir, "--out", maps_dir, "--public", "--force")
    assert res.exit_code == 0, res.output
    assert not (maps_dir / "planner_map.html").exists()  # the earlier map output's, replaced
    assert (maps_dir / "public_map" / "index.html").is_file()
    assert hidden(tmp_path) == []


def region_result(point_files: list[str]) -> scale.RegionResult:
    frame = pd.DataFrame({"sigungu_code": ["11530"], "value": [1.5]})
    return scale.RegionResult(
        scenario=None,
        demand_points=None,
        point_sigungu=None,
        coverage=None,
        coverage_total=frame,
        coverage_by_zone=frame,
        coverage_by_adm=frame,
        coverage_by_sigungu=frame,
        access=None,
        gaps=frame,
        gini=0.1,
        proposed=None,
        proposals_by_sigungu=frame,
        summary=frame,
        partitions=frame,
        times=None,
        distance_method="straight_line",
        seconds={},
        point_files=point_files,
    )


def test_write_region_follows_the_same_rules_and_adopts_the_workers_points(tmp_path):
    out = tmp_path / "region"
    out.mkdir()
    (out / "mine.csv").write_text("mine", encoding="utf-8")
    with pytest.raises(SettingsError, match=NOT_OURS):
        scale.write_region(region_result([]), out, force=True)
    assert [p.name for p in out.iterdir()] == ["mine.csv"]

    out = tmp_path / "region2"
    points = outfolder.side_stage(out, "points")  # as `careplan region --no-points` does
    (points / "points-11530.parquet").write_bytes(b"PAR1")
    written = scale.write_region(region_result([str(points / "points-11530.parquet")]), out)
    assert written["points"] == out / "points" and written["summary.csv"] == out / "summary.csv"
    assert (out / "points" / "points-11530.parquet").read_bytes() == b"PAR1"
    assert not points.exists() and "points/points-11530.parquet" in marker(out)["files"]
    assert marker(out)["kind"] == "region"

    (out / "my_chart.png").write_bytes(b"PNG")
    with pytest.raises(SettingsError, match="--force"):
        scale.write_region(region_result([]), out)
    written = scale.write_region(region_result([]), out, force=True)
    assert "points" not in written and not (out / "points").exists()  # the earlier run's points
    assert (out / "my_chart.png").read_bytes() == b"PNG"
    assert hidden(tmp_path) == []


def test_write_region_leaves_a_callers_own_points_dir_where_it_is(tmp_path):
    own = tmp_path / "own_points"
    own.mkdir()
    (own / "points-11530.parquet").write_bytes(b"PAR1")
    written = scale.write_region(region_result([str(own / "points-11530.parquet")]), tmp_path / "r")
    assert written["points"] == own and (own / "points-11530.parquet").is_file()
    assert not (tmp_path / "r" / "points").exists()


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def staging_marker(folder: Path, pid: int, **extra) -> None:
    folder.mkdir()
    head = {"format": "careplan-staging-1", "pid": pid, "host": socket.gethostname()}
    (folder / outfolder.STAGING_MARKER).write_text(json.dumps({**head, **extra}), encoding="utf-8")


def test_map_in_place_removes_a_killed_maps_staging(run_dir, tmp_path):
    out = copy_run(run_dir, tmp_path / "run")
    staging_marker(out / ".maps.partial", dead_pid(), role="stage")
    (out / ".maps.partial" / "planner_map.html").write_text("half", encoding="utf-8")
    assert invoke("map", out, "--planner").exit_code == 0
    assert hidden(out) == [outfolder.MARKER]


def test_an_unfinished_swaps_old_folder_loses_only_careplans_files(result, tmp_path):
    """SIGKILL between the swap and moving the user's files: the next write deletes only what the
    old folder's staging marker lists as careplan's; the user's file stays where it is."""
    old = tmp_path / ".prev.old"
    staging_marker(old, dead_pid(), role="trash", files=["report.md", ".careplan.json"], folders=[])
    (old / "report.md").write_text("old report", encoding="utf-8")
    (old / "mine.txt").write_text("mine", encoding="utf-8")
    report.write_outputs(result, tmp_path / "next")
    assert sorted(p.name for p in old.iterdir()) == ["mine.txt"]
