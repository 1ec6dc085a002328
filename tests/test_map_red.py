"""`careplan map` on run folders edited in QGIS or by hand, and the edges of `check` / `network`.

One demo run per module; every case edits a copy of it the way a QGIS user (or a hand) would
and expects either exit 0 with honest maps, or exit 2 with one sentence — never a traceback,
never a lost user file, never evaluated text.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import GeometryCollection, MultiPoint, Point, Polygon
from typer.testing import CliRunner

from careplan.cli import app

sys.path.insert(0, str(Path(__file__).parent))
from _hostile import payloads  # noqa: E402

runner = CliRunner()
GPKG = "careplan.gpkg"
SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def invoke(*args) -> object:
    return runner.invoke(app, [str(a) for a in args])


def errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_sentence(result, *fragments: str) -> None:
    """Exit 2, no traceback, one ``오류 error:`` line holding every fragment."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = errors(result)
    assert len(lines) == 1 and lines[0].startswith("오류 error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("red") / "demo"
    result = invoke("demo", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def run(demo, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(demo, copy, symlinks=True)
    return copy


def layer(run: Path, name: str) -> gpd.GeoDataFrame:
    return gpd.read_file(run / GPKG, layer=name)


def save(run: Path, name: str, frame) -> None:
    pyogrio.write_dataframe(frame, run / GPKG, layer=name, driver="GPKG")


def edit(name: str, change):
    def apply(run: Path) -> None:
        save(run, name, change(layer(run, name)))
    return apply


def first_only(frame, geometry) -> gpd.GeoDataFrame:
    return frame.set_geometry([geometry, *frame.geometry[1:]], crs=frame.crs)


def drop_layer(name: str):
    def apply(run: Path) -> None:
        with sqlite3.connect(run / GPKG) as db:
            db.execute(f'DROP TABLE "{name}"')
            for table in ("gpkg_contents", "gpkg_geometry_columns"):
                db.execute(f"DELETE FROM {table} WHERE table_name = ?", (name,))
    return apply


def replace_gpkg(content):
    def apply(run: Path) -> None:
        path = run / GPKG
        data = path.read_bytes()
        path.unlink()
        if content == "folder":
            path.mkdir()
        elif content == "/dev/zero":
            path.symlink_to("/dev/zero")
        elif content == "dangling":
            path.symlink_to(run / "nowhere.gpkg")
        elif content == "truncated":
            path.write_bytes(data[: len(data) // 3])
        else:
            path.write_bytes(content)
    return apply


def run_json(text: str):
    def apply(run: Path) -> None:
        (run / "run.json").write_text(text, encoding="utf-8")
    return apply


# ---------------------------------------------------- refused edits: one sentence, maps kept

REFUSED = {
    "capacity as text": (edit("facilities", lambda f: f.assign(capacity="스무명")),
                         ["layer 'facilities'", "column 'capacity'", "'스무명'", "QGIS"]),
    "rank as text": (edit("proposed_sites", lambda f: f.assign(rank="first")),
                     ["column 'rank'", "'first'"]),
    "rank emptied": (edit("proposed_sites", lambda f: f.assign(rank=None)), ["no rank"]),
    "pupils as text": (edit("schools", lambda f: f.assign(pupils_total="many")),
                       ["layer 'schools'", "column 'pupils_total'"]),
    "hours as words": (edit("facilities", lambda f: f.assign(term_open="아침")),
                       ["column 'term_open'", "HH:MM"]),
    "synthetic as maybe": (edit("facilities", lambda f: f.assign(synthetic="maybe")),
                           ["column 'synthetic'", "yes/no"]),
    "name column deleted": (edit("facilities", lambda f: f.drop(columns="name")),
                            ["lacks column(s) ['name']"]),
    "kind column deleted": (edit("facilities", lambda f: f.drop(columns="kind")),
                            ["lacks column(s) ['kind']"]),
    "facility_id deleted": (edit("facilities", lambda f: f.drop(columns="facility_id")),
                            ["no 'facility_id' column"]),
    "zone_id deleted": (edit("school_zones", lambda f: f.drop(columns="zone_id")),
                        ["no 'zone_id' column"]),
    "unknown kind": (edit("facilities", lambda f: f.assign(kind="외계돌봄")),
                     ["kind careplan does not know", "외계돌봄", "dahamkke"]),
    "empty kind": (edit("facilities", lambda f: f.assign(kind=None)), ["(empty)"]),
    "polygon facilities": (edit("facilities", lambda f: f.set_geometry(f.buffer(50))),
                           ["must hold points", "are Polygon", "Centroids"]),
    "two-point facility": (
        edit("facilities", lambda f: first_only(f, MultiPoint([(9.5e5, 1.95e6), (9.6e5, 1.95e6)]))),
        ["must hold points", "MultiPoint"]),
    "point zones": (edit("school_zones", lambda f: f.set_geometry(f.centroid)),
                    ["must hold polygons", "are Point"]),
    "collection zones": (edit("school_zones", lambda f: f.set_geometry(
        [GeometryCollection([g]) for g in f.geometry], crs=f.crs)), ["GeometryCollection"]),
    "null geometry": (edit("facilities", lambda f: first_only(f, None)),
                      ["without usable geometry"]),
    "empty geometry": (edit("facilities", lambda f: first_only(f, Point())),
                       ["without usable geometry"]),
    "NaN coordinates": (edit("facilities", lambda f: first_only(f, Point(np.nan, np.nan))),
                        ["without usable geometry"]),
    "infinite coordinate": (edit("facilities", lambda f: first_only(f, Point(np.inf, 0))),
                            ["without usable geometry"]),
    "10,000 km away": (edit("facilities", lambda f: first_only(
        f, Point(f.geometry[0].x + 1e7, f.geometry[0].y))), ["outside Korea", "CRS"]),
    "CRS label wrong": (edit("school_zones", lambda f: f.to_crs(4326).set_crs(
        5179, allow_override=True)), ["layer 'school_zones'", "outside Korea"]),
    "CRS dropped": (edit("facilities", lambda f: f.set_crs(None, allow_override=True)),
                    ["no coordinate system", "EPSG:5179"]),
    "table without geometry": (
        edit("facilities", lambda f: pd.DataFrame(f.drop(columns="geometry"))),
        ["without geometry"]),
    "layer renamed": (lambda r: (save(r, "facilities_edit", layer(r, "facilities")),
                                 drop_layer("facilities")(r)), ["lacks layer(s) ['facilities']"]),
    "all facilities closed": (edit("facilities", lambda f: f.assign(status="폐지")),
                              ["none has status '정상'", "폐지"]),
    "gpkg is a zip": (replace_gpkg(b"PK\x03\x04" + bytes(200)), ["cannot be read as a GeoPackage"]),
    "gpkg 0 bytes": (replace_gpkg(b""), ["cannot be read as a GeoPackage"]),
    "gpkg truncated": (replace_gpkg("truncated"), ["cannot be read as a GeoPackage"]),
    "gpkg is text": (replace_gpkg(b"a,b\n1,2\n"), ["cannot be read as a GeoPackage"]),
    "gpkg is a folder": (replace_gpkg("folder"), ["(a folder), not a file"]),
    "gpkg -> /dev/zero": (replace_gpkg("/dev/zero"), ["character device"]),
    "gpkg dangling link": (replace_gpkg("dangling"), ["a link to nothing"]),
    "run.json nested deep": (run_json("[" * 100_000 + "]" * 100_000), ["run.json is damaged"]),
    "run.json huge": (run_json(json.dumps({"name": "x" * 2_000_000})), ["run.json is damaged"]),
    "run.json walk NaN": (run_json('{"max_walk_min": NaN}'), ["run.json is damaged"]),
    "run.json a folder": (lambda r: ((r / "run.json").unlink(), (r / "run.json").mkdir()),
                          ["run.json is 폴더 (a folder)"]),
    "run.json catalog label a number": (
        lambda r: run_json(json.dumps({"catalog": {"dahamkke": {"label_ko": 5}}}))(r),
        ["catalog overrides are damaged", "label_ko"]),
    "run.json catalog three hours": (
        lambda r: run_json(json.dumps({"catalog": {"dahamkke": {"term_hours": [1, 2, 3]}}}))(r),
        ["catalog overrides are damaged", "term_hours"]),
    "public_map a file": (lambda r: (shutil.rmtree(r / "public_map"),
                                     (r / "public_map").write_text("mine")),
                          ["public_map is not listed as careplan's"]),
    "marker lists ../": (lambda r: (r / ".careplan.json").write_text(json.dumps(
        {**json.loads((r / ".careplan.json").read_text()), "files": ["../victim"]})),
        ["not listed as careplan's"]),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_map_refuses_a_broken_edit_in_one_sentence(run, case):
    change, fragments = REFUSED[case]
    change(run)
    maps = (run / "planner_map.html", run / "public_map" / "index.html")
    before = {p: p.read_bytes() for p in maps if p.is_file()}
    assert_one_sentence(invoke("map", run), *fragments)
    for path, data in before.items():  # the earlier maps stay as they were
        assert path.read_bytes() == data, path
    assert not [p for p in run.iterdir() if p.name.endswith(".partial")]


# ------------------------------------------------------------ accepted edits: honest maps

def public_data(run: Path) -> str:
    return (run / "public_map" / "data.js").read_text(encoding="utf-8")


ACCEPTED = {
    "hours typed HH:MM": (
        edit("facilities", lambda f: f.assign(term_open="09:00", term_close=" 18:30 ")),
        lambda r: "09:00–18:30" in public_data(r)),
    "numbers typed as text": (
        edit("facilities", lambda f: f.assign(capacity="1,234")),
        lambda r: "정원 1234명" in public_data(r)),
    "synthetic typed yes": (
        edit("facilities", lambda f: f.assign(synthetic="yes")),
        lambda r: "가상" in (r / "planner_map.html").read_text(encoding="utf-8")),
    "kind with trailing spaces": (
        edit("facilities", lambda f: f.assign(kind=f["kind"] + "  ")),
        lambda r: "다함께" in public_data(r)),
    "numbers emptied": (
        edit("facilities", lambda f: f.assign(capacity=None, term_open=None, fee_month=None)),
        lambda r: (r / "planner_map.html").is_file()),
    "zones emptied": (
        edit("school_zones", lambda f: f.iloc[:0]), lambda r: (r / "planner_map.html").is_file()),
    "facilities in EPSG:5186": (
        edit("facilities", lambda f: f.to_crs(5186)), lambda r: "다함께" in public_data(r)),
    "zones in EPSG:4326": (
        edit("school_zones", lambda f: f.to_crs(4326)),
        lambda r: (r / "planner_map.html").is_file()),
    "7,200 facilities": (
        edit("facilities", lambda f: gpd.GeoDataFrame(pd.concat([f] * 200, ignore_index=True),
                                                      crs=f.crs).assign(
            facility_id=lambda x: [f"F{i}" for i in range(len(x))])),
        lambda r: public_data(r).count('"id"') >= 7200),
    "extra layer and no optional layers": (
        lambda r: (save(r, "my_notes", layer(r, "facilities").head(2)),
                   drop_layer("admin_areas")(r), drop_layer("demand_points")(r)),
        lambda r: (r / "planner_map.html").is_file()),
    "one-part MultiPoints (QGIS save)": (
        edit("facilities", lambda f: f.set_geometry([MultiPoint([g]) for g in f.geometry],
                                                    crs=f.crs)),
        lambda r: "다함께" in public_data(r)),
    "self-crossing zone ring": (
        edit("school_zones", lambda f: first_only(f, Polygon([(9.5e5, 1.94e6), (9.6e5, 1.95e6),
                                                              (9.6e5, 1.94e6), (9.5e5, 1.95e6)]))),
        lambda r: (r / "public_map" / "index.html").is_file()),
    "synthetic column dropped everywhere": (
        lambda r: [edit(n, lambda f: f.drop(columns="synthetic", errors="ignore"))(r)
                   for n, _ in pyogrio.list_layers(r / GPKG)],
        lambda r: '"synthetic":true' in public_data(r).replace(" ", "")),
    "user file inside public_map": (
        lambda r: (r / "public_map" / "mine.txt").write_text("mine"),
        lambda r: (r / "public_map" / "mine.txt").read_text() == "mine"),
}


@pytest.mark.parametrize("case", ACCEPTED, ids=list(ACCEPTED))
def test_map_accepts_a_qgis_edit(run, case):
    change, check = ACCEPTED[case]
    change(run)
    (run / "planner_map.html").unlink()
    result = invoke("map", run)
    assert result.exit_code == 0, result.output
    assert "planner_map.html" in result.output and check(run)


def test_hostile_text_in_every_column_of_every_layer_is_shown_not_run(run, tmp_path):
    marker = tmp_path / "pwned"
    texts = payloads(marker)
    for name, _ in pyogrio.list_layers(run / GPKG):
        frame = layer(run, name)
        for column in frame.columns:
            if column in {"kind", "status", "geometry"} or frame[column].dtype.kind in "biuf":
                continue
            frame[column] = [f"{texts[i % len(texts)]}#{i}" for i in range(len(frame))]
        save(run, name, frame)
    run_json(json.dumps({"name": texts[4], "distance_method_label": texts[6],
                         "data_date": "{#", "max_walk_min": 10}))(run)
    result = invoke("map", run, "--title", "{{ 7*7 }}{% for x in range(3) %}XYZ{% endfor %}")
    assert result.exit_code == 0, result.output
    planner = (run / "planner_map.html").read_text(encoding="utf-8")
    public = (run / "public_map" / "index.html").read_text(encoding="utf-8")
    assert not marker.exists() and not (Path.cwd() / marker.name).exists()
    for syntax in ("{{", "{%", "{#", "<script>alert", "<img src=x", "XYZXYZ"):
        assert syntax not in planner, syntax
    assert "XYZXYZ" not in public and "<script>alert" not in public
    assert "{{ 7*7 }}" in public  # the public page is not a template: the title shows as typed


# ------------------------------------------------------------ --out and --walk-min


def test_map_out_never_replaces_a_run_even_with_force(demo, run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(demo, other)
    result = invoke("map", run, "--out", other, "--force")
    assert_one_sentence(result, "careplan demo output", "never replaces")
    assert (other / GPKG).read_bytes() == (demo / GPKG).read_bytes()
    assert (other / "report.md").is_file()


@pytest.mark.parametrize("where", ["inside", "same", "same via ..", "same via link"])
def test_map_out_inside_or_equal_to_the_run(run, where):
    out = {"inside": run / "maps2", "same": run, "same via ..": run / ".." / run.name,
           "same via link": run.parent / "link"}[where]
    if where == "same via link":
        out.symlink_to(run)
    kept = sorted(p.name for p in run.iterdir())
    result = invoke("map", run, "--out", out)
    assert result.exit_code == 0, result.output
    assert set(kept) <= {p.name for p in run.iterdir()}  # nothing of the run removed
    assert (run / GPKG).is_file() and (run / "report.md").is_file()
    target = run / "maps2" if where == "inside" else run
    assert (target / "public_map" / "index.html").is_file()


@pytest.mark.parametrize("where,fragment", [
    ("parent", "files careplan did not write"),
    ("file", "is a file, not a folder"),
    ("gpkg", "is a file, not a folder"),
])
def test_map_out_refused(run, where, fragment):
    (run.parent / "note.txt").write_text("mine")
    out = {"parent": run.parent, "file": run.parent / "note.txt", "gpkg": run / GPKG}[where]
    assert_one_sentence(invoke("map", run, "--out", out, "--force"), fragment)
    assert (run.parent / "note.txt").read_text() == "mine" and (run / GPKG).is_file()


def test_map_run_dir_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    assert_one_sentence(invoke("map", tmp_path / "f"), "is a file, not a folder")


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "100000"])
def test_map_walk_min_out_of_range(run, value):
    assert_one_sentence(invoke("map", run, "--walk-min", value), "--walk-min", "at most 120")


# ------------------------------------------------------------ careplan network


OSM_NO_WAYS = b"<?xml version='1.0'?><osm version='0.6'><node id='1' lat='37.5' lon='126.9'/></osm>"


@pytest.mark.parametrize("source,fragment", [
    ("fifo.graphml", "named pipe"),
    ("folder.osm", "(a folder)"),
    ("noways.osm", "no ways"),
    ("empty.graphml", "could not read walk network"),
    ("page.osm", "could not read walk network"),
    ("bad.osm.pbf", "could not read walk network"),
    ("missing.osm", "does not exist"),
])
def test_network_bad_source(tmp_path, source, fragment):
    path = tmp_path / source
    if source.startswith("fifo"):
        os.mkfifo(path)
    elif source.startswith("folder"):
        path.mkdir()
    elif source != "missing.osm":
        path.write_bytes({"noways.osm": OSM_NO_WAYS, "page.osm": b"<html><body>404</body></html>",
                          "bad.osm.pbf": b"\x00\x00\x00\x0dgarbage"}.get(source, b""))
    assert_one_sentence(invoke("network", path, tmp_path / "out.npz"), fragment)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("out,fragment", [
    ("user.npz", "not a careplan walk graph"),
    ("folder.npz", "a folder or special file"),
    ("link.npz", "is a link"),
    ("walk.graphml", "ending in .npz"),
    ("user.npz/walk.npz", "not below a file"),
    ("walk", "ending in .npz"),
    (".npz", "e.g. walk.npz"),
])
def test_network_out_never_overwrites_what_careplan_did_not_write(tmp_path, out, fragment):
    source = tmp_path / "walk.graphml"
    shutil.copy(SAMPLE / "walk.graphml", source)
    (tmp_path / "user.npz").write_bytes(b"mine")
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "link.npz").symlink_to(tmp_path / "user.npz")
    assert_one_sentence(invoke("network", source, tmp_path / out), fragment)
    assert (tmp_path / "user.npz").read_bytes() == b"mine"
    assert source.read_bytes() == (SAMPLE / "walk.graphml").read_bytes()


def test_network_replaces_its_own_graph_atomically(tmp_path):
    out = tmp_path / "new" / "walk.npz"
    for _ in range(2):  # the second run replaces the careplan graph the first wrote
        result = invoke("network", SAMPLE / "walk.graphml", out)
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == ["walk.npz"]  # no .partial left


# ------------------------------------------------------------ careplan check options


@pytest.mark.parametrize("args,fragment", [
    (["--crs", "abc"], "is not a coordinate system"),
    (["--crs", "99999"], "is not a coordinate system"),
    (["--crs", " "], "is not a coordinate system"),
    (["--layer", "x"], "without layers"),
    (["--kind", "zones"], "no geometry"),
    (["--kind", "nope"], "is not a kind careplan reads"),
])
def test_check_options_on_a_csv(args, fragment):
    assert_one_sentence(invoke("check", SAMPLE / "daycare.csv", *args), fragment)


@pytest.mark.parametrize("layer_name,kind,rows", [
    ("facilities", "facilities", 36), ("schools", "schools", 8), ("school_zones", "zones", 9),
    ("admin_areas", "admin_areas", 8), ("candidate_sites", "candidates", 25),
    ("proposed_sites", "candidates", 6),
])
def test_check_reads_every_layer_of_a_run_gpkg(demo, layer_name, kind, rows):
    """careplan's own column names (school_id, zone_id …) are recognised and read."""
    result = invoke("check", demo / GPKG, "--layer", layer_name)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"[{kind}] careplan.gpkg: 읽음 read {rows} · 유지 kept {rows} ")


def test_check_demand_points_layer_is_not_guessed(demo):
    result = invoke("check", demo / GPKG, "--layer", "demand_points")
    assert_one_sentence(result, "cannot tell what this file is", "point_id")


def test_check_map_given_twice():
    twice = ("--map", "name=어린이집명", "--map", "name=주소")
    result = invoke("check", SAMPLE / "daycare.csv", *twice)
    assert_one_sentence(result, "--map name is given twice", "keep one")
