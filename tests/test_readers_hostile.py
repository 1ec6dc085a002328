"""Readers against hostile and malformed files, through ``careplan check``.

Every bad input must end in one of two ways: exit 2 with one sentence on stderr
(never a traceback), or a row report whose summary adds up:
read == kept + fixed + rejected + excluded.
"""

from __future__ import annotations

import csv
import io as _io
import json
import os
import random
import re
import socket
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon
from typer.testing import CliRunner

from careplan import io, sample
from careplan._errors import CRSError, UnreadableFileError
from careplan.cli import app

runner = CliRunner()
SAMPLE = sample.sample_dir()
BASE = {"schools": "schools.csv", "students": "students.csv", "zones": "school_zones.geojson",
        "population": "population.csv", "admin_areas": "admin_areas.geojson",
        "facilities": "kium_centers.csv", "candidates": "candidates.csv"}
SUMMARY = re.compile(r"읽음 read ([\d,]+) · 유지 kept ([\d,]+) · 수정 fixed ([\d,]+) · "
                     r"오류 제외 rejected ([\d,]+) · 범위 밖 excluded ([\d,]+)")
HEADER = "시설명,유형,주소,정원,경도,위도\n"
ROW = "해님센터,다함께돌봄센터,서울특별시 구로구 해님로 1,20,126.85,37.49\n"


def check(*args) -> tuple[int, str, list[str], list[int] | None]:
    """Run ``careplan check``; return exit code, stdout, stderr lines, summary counts (or None)."""
    result = runner.invoke(app, ["check", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"check {args} raised {result.exception!r}") from result.exception
    found = SUMMARY.search(result.stdout)
    counts = [int(v.replace(",", "")) for v in found.groups()] if found else None
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    return result.exit_code, result.stdout, errors, counts


def assert_sentence_or_rows(code, out, errors, counts, what):
    """The contract for any input: one sentence and exit 2, or rows that add up."""
    assert "Traceback" not in out + "".join(errors), what
    assert code in (0, 2), (what, code, out, errors)
    if counts is None:
        assert code == 2 and len(errors) == 1 and errors[0].startswith("오류 error: "), (what, errors)
        assert len(errors[0]) > 40, (what, errors)  # a sentence, not a bare exception name
    else:
        read, kept, fixed, rejected, excluded = counts
        assert read == kept + fixed + rejected + excluded, (what, counts)
        if code == 2:
            assert errors == ["오류 error: no usable rows — nothing in this file can be used."], (what, errors)


def sample_text(kind: str) -> str:
    return io.decode_bytes((SAMPLE / BASE[kind]).read_bytes())[0]  # UTF-8 (BOM dropped) or CP949


def xlsx_bytes(sheets: dict[str, list[list]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = _io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def mutations(kind: str) -> dict[str, bytes]:
    """Many malformed versions of the sample file of ``kind``."""
    data = (SAMPLE / BASE[kind]).read_bytes()
    text = sample_text(kind)
    lines = text.splitlines(keepends=True)
    lines += ["\n"] * max(0, 4 - len(lines))
    noise = random.Random(7)
    archive = _io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("읽어보기.txt", "no data here")
    cases = {
        "empty": b"",
        "blank": b"  \n\n \r\n",
        "header only": lines[0].encode(),
        "binary garbage": bytes(noise.randrange(256) for _ in range(6000)),
        "html error page": "<!DOCTYPE html><html><body>서비스 점검 중</body></html>".encode(),
        "truncated": data[: len(data) * 6 // 10],
        "nul bytes": data[: len(data) // 2] + b"\x00\x00" + data[len(data) // 2:],
        "bom in the middle": "".join([*lines[:2], "\ufeff" + lines[2], *lines[3:]]).encode(),
        "very long line": "".join([*lines[:2], lines[2].rstrip("\r\n") + "가" * 300_000 + "\n",
                                   *lines[3:]]).encode(),
        "cp949 line in utf-8": "".join(lines[:2]).encode() + lines[2].encode("cp949", "replace")
        + "".join(lines[3:]).encode(),
        "cr line ends": text.replace("\r\n", "\n").replace("\n", "\r").encode(),
        "utf-16": text.encode("utf-16"),
        "json object": b'{"foo": 1}',
        "json list": b"[1, 2, 3]",
        "one column": b"a\n1\n2\n",
        "gzip": b"\x1f\x8b\x08\x00" + b"x" * 100,
        "old xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500,
        "zip without data": archive.getvalue(),
        "pdf": b"%PDF-1.7\n" + b"x" * 200,
    }
    if BASE[kind].endswith(".csv"):
        rows = list(csv.reader(_io.StringIO(text)))
        first = lines[0].split(",")
        cases |= {
            "duplicate header": (lines[0].replace(first[1], first[0], 1) + "".join(lines[1:])).encode(),
            "blank header": ("," + lines[0] + "".join("," + line for line in lines[1:])).encode(),
            "extra fields": "".join([*lines[:2], lines[2].rstrip("\r\n") + ",x,y,z\n", *lines[3:]]).encode(),
            "missing fields": "".join([*lines[:2], ",".join(rows[2][:3]) + "\n", *lines[3:]]).encode(),
            "unterminated quote": "".join([*lines[:2], '"' + lines[2], *lines[3:]]).encode(),
            "xlsx named csv": xlsx_bytes({"data": rows}),
            **{f"{label} delimited": _delimited(rows, d) for label, d in (("tab", "\t"), ("semicolon", ";"),
                                                                            ("pipe", "|"))},
            "repeated header row": "".join([*lines, lines[0]]).encode(),
            "line separators in a cell": "".join([*lines[:2], lines[2].replace(",", "\u2028\x85\x0c\r,", 1),
                                                  *lines[3:]]).encode(),
        }
    else:
        doc = json.loads(text)
        point = {"type": "Point", "coordinates": [126.88, 37.50]}
        null_geometry, points, collections = json.loads(text), json.loads(text), json.loads(text)
        null_geometry["features"][0]["geometry"] = None
        for feature in points["features"]:
            feature["geometry"] = point
        first = collections["features"][0]
        first["geometry"] = {"type": "GeometryCollection", "geometries": [first["geometry"], point]}
        collections["features"][1]["geometry"] = {"type": "GeometryCollection", "geometries": [point]}
        cases |= {
            "null geometry": json.dumps(null_geometry).encode(),
            "points": json.dumps(points).encode(),
            "geometry collections": json.dumps(collections).encode(),
            "one feature, no collection": json.dumps(doc["features"][0]).encode(),
            "no features": b'{"type": "FeatureCollection", "features": []}',
            "not geojson": json.dumps({"type": "Topology", "objects": 3}).encode(),
        }
    return cases


def _delimited(rows: list[list[str]], delimiter: str) -> bytes:
    buffer = _io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode()


# ---------------------------------------------------------------- the fuzz table


@pytest.mark.parametrize("kind", list(BASE))
def test_every_malformed_input_gives_a_sentence_or_rows_that_add_up(kind, tmp_path):
    suffix = Path(BASE[kind]).suffix
    outcomes = {}
    for name, data in mutations(kind).items():
        path = tmp_path / f"{name.replace(' ', '_')}{suffix}"
        path.write_bytes(data)
        code, out, errors, counts = check(path, "--kind", kind)
        assert_sentence_or_rows(code, out, errors, counts, f"{kind}: {name}")
        outcomes[name] = (code, errors[0] if errors else "", counts)
    sentence = {"empty": "is empty", "blank": "is empty", "binary garbage": "binary", "html error page": "HTML",
                "gzip": "gzip", "old xls": "Excel 97–2003", "zip without data": "zip archive without", "pdf": "PDF"}
    sentence |= ({"header only": "no data rows"} if suffix == ".csv" else
                 {"points": "no polygon", "no features": "has no features",
                  "truncated": "GeoJSON file must be one complete JSON object"})
    for name, words in sentence.items():
        assert outcomes[name][0] == 2 and words in outcomes[name][1], (name, outcomes[name])
    if suffix == ".csv":  # these read every row of the sample (read as with other line ends)
        read = outcomes["cr line ends"][2][0]
        for name in ("xlsx named csv", "tab delimited", "pipe delimited", "utf-16", "bom in the middle",
                     "line separators in a cell", "cp949 line in utf-8"):
            assert outcomes[name][2] is not None and outcomes[name][2][0] == read, (name, outcomes[name])
        assert outcomes["extra fields"][2][3] >= 1  # that row rejected, the others read


# ---------------------------------------------------------------- special and huge files


def test_special_files_are_refused_before_opening(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # opening it would block: the refusal must come from stat alone
    code, _, errors, _ = check(fifo)
    assert code == 2 and "(a named pipe, FIFO), not a data file" in errors[0]
    sock_path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        code, _, errors, _ = check(sock_path, "--kind", "facilities")
    assert code == 2 and "a socket" in errors[0]
    if Path("/dev/zero").exists():
        for kind in BASE:
            code, _, errors, _ = check("/dev/zero", "--kind", kind)
            assert code == 2 and errors == ["오류 error: /dev/zero is 문자 장치 (a character device), not a data file; "
                                            "give the path of a saved CSV, XLSX, GeoJSON, GPKG or SHP file."]


def test_a_sparse_huge_file_is_refused_with_size_limit_and_fix(tmp_path, monkeypatch):
    huge = tmp_path / "huge.csv"
    huge.write_bytes((HEADER + ROW).encode())
    os.truncate(huge, 10 * 1024**3)
    code, _, errors, _ = check(huge, "--kind", "facilities")
    assert code == 2 and len(errors) == 1
    assert "10.0 GB" in errors[0] and "256.0 MB" in errors[0] and "CAREPLAN_MAX_INPUT_MB=10241" in errors[0]
    geo = tmp_path / "huge.geojson"
    geo.write_bytes(b'{"type": "FeatureCollection", "features": [')
    os.truncate(geo, 10 * 1024**3)
    code, _, errors, _ = check(geo, "--kind", "zones")
    assert code == 2 and "10.0 GB" in errors[0] and "2.0 GB careplan reads for spatial files" in errors[0]
    small = tmp_path / "small.csv"
    small.write_bytes((HEADER + ROW * 3000).encode())
    monkeypatch.setenv("CAREPLAN_MAX_INPUT_MB", "0.1")
    code, _, errors, _ = check(small, "--kind", "facilities")
    assert code == 2 and "larger than the 102.4 KB" in errors[0]
    monkeypatch.setenv("CAREPLAN_MAX_INPUT_MB", "1")
    code, _, _, counts = check(small, "--kind", "facilities")
    assert code == 0 and counts[0] == 3000


def test_a_file_name_with_a_newline_still_gives_one_line(tmp_path):
    path = tmp_path / "두 줄\n이름.csv"
    path.write_text("<html><body>오류</body></html>", encoding="utf-8")
    code, _, errors, _ = check(path)
    assert code == 2 and len(errors) == 1 and "두 줄 이름.csv is an HTML/XML page" in errors[0]


def test_sniffing_reads_only_the_head(tmp_path, monkeypatch):
    raw = tmp_path / "B1.json"
    ring = [127_000_000, 37_500_000, 1000, 0, 0, 1000, -1000, 0, 0, -1000]
    raw.write_text(json.dumps({"zones": [{"id": "Z1", "name": "가", "rings": [ring]}]}), encoding="utf-8")

    def refuse(self):
        raise AssertionError(f"whole-file read of {self}")

    big = tmp_path / "big.csv"
    big.write_text(HEADER + ROW * 2000, encoding="utf-8")  # > 64 KB: detection reads its head only
    assert big.stat().st_size > 2 * 65536
    monkeypatch.setattr(Path, "read_bytes", refuse)
    monkeypatch.setattr(Path, "read_text", refuse)
    assert io.detect_kind(raw) == "zones" and io.detect_kind(tmp_path) == "zones"
    assert io.detect_kind(big) == "facilities"
    with pytest.raises(UnreadableFileError, match="whole-file read"):  # the reader itself reads it all, once
        io.read_facilities(big)


# ---------------------------------------------------------------- encodings and delimiters


def test_cp949_lines_in_a_utf8_file_are_fixed_and_named(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_bytes((HEADER + ROW).encode() + ROW.replace("해님", "별빛").encode("cp949")
                     + ROW.replace("해님", "달빛").encode())
    code, out, _, counts = check(path, "--rows")
    assert code == 0 and counts == [3, 2, 1, 0, 0]
    assert re.search(r"^\s*2\s+fixed\s+줄 3: UTF-8 파일 속 CP949 줄", out, flags=re.MULTILINE)
    data, report = io.read_facilities(path)
    assert data["name"].tolist() == ["해님센터", "별빛센터", "달빛센터"]
    assert "utf-8 (일부 줄 CP949)" in report.notes[0]


def test_utf8_lines_in_a_cp949_file_are_fixed_and_named(tmp_path):
    path = tmp_path / "mixed.csv"
    legacy = (HEADER + ROW + ROW.replace("해님", "별빛")).encode("cp949")
    path.write_bytes(legacy + ROW.replace("해님", "달빛").encode())
    code, out, _, counts = check(path, "--rows")
    assert code == 0 and counts == [3, 2, 1, 0, 0] and "cp949 (일부 줄 UTF-8)" in out
    assert re.search(r"^\s*3\s+fixed\s+줄 4: CP949 파일 속 UTF-8 줄", out, flags=re.MULTILINE)
    data, _ = io.read_facilities(path)
    assert data["name"].tolist() == ["해님센터", "별빛센터", "달빛센터"]


def test_undecodable_bytes_in_one_line_are_replaced_and_noted(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes((HEADER + ROW).encode() + b"\xff\xfe\xff" + ROW.encode())
    code, out, _, counts = check(path, "--rows")
    assert code == 0 and counts == [2, 1, 1, 0, 0] and "undecodable bytes replaced" in out
    data, _ = io.read_facilities(path)
    assert data["name"].tolist() == ["해님센터", "\ufffd\ufffd\ufffd해님센터"]


@pytest.mark.parametrize(("delimiter", "label"), [("\t", "탭 tab"), (";", "세미콜론 semicolon"), ("|", "세로줄 pipe")])
def test_delimiters_are_detected_and_named(tmp_path, delimiter, label):
    path = tmp_path / "f.txt"
    path.write_text((HEADER + ROW).replace(",", delimiter), encoding="utf-8")
    code, out, _, counts = check(path)
    assert code == 0 and counts == [1, 1, 0, 0, 0] and f"구분자 delimiter: {label}" in out
    unknown = tmp_path / "u.csv"
    unknown.write_text(f"foo{delimiter}bar\n1{delimiter}2\n", encoding="utf-8")
    code, _, errors, _ = check(unknown)
    assert code == 2 and f"read with 구분자 delimiter: {label}" in errors[0] and "--kind" in errors[0]


def test_excel_whatever_its_name(tmp_path):
    rows = [HEADER.strip().split(","), ROW.strip().split(","), ROW.replace("해님", "별빛").strip().split(",")]
    named_csv = tmp_path / "export.csv"
    named_csv.write_bytes(xlsx_bytes({"목록": rows, "설명": [["이 시트는 설명"]]}))
    code, out, _, counts = check(named_csv)
    assert code == 0 and counts == [2, 2, 0, 0, 0]
    assert "Excel 통합 문서" in out and "시트 sheet '목록' 사용" in out and "--layer" in out
    code, _, errors, _ = check(named_csv, "--kind", "facilities", "--layer", "설명")
    assert code == 2 and "has a header (이 시트는 설명 …) but no data rows" in errors[0]
    code, _, errors, _ = check(named_csv, "--layer", "없음")
    assert code == 2 and "no sheet '없음'" in errors[0] and "'목록', '설명'" in errors[0]
    old = tmp_path / "old.csv"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1000))
    code, _, errors, _ = check(old)
    assert code == 2 and "Excel 97–2003 .xls" in errors[0] and "Save As" in errors[0]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(named_csv.read_bytes()[:2000])
    code, _, errors, _ = check(broken)
    assert code == 2 and "truncated" in errors[0]


def test_json_ods_and_cp949_geojson_are_said(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    code, _, errors, _ = check(path)
    assert code == 2 and "holds JSON" in errors[0] and ".geojson" in errors[0]
    with zipfile.ZipFile(tmp_path / "f.ods", "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        z.writestr("content.xml", "<x/>")
    code, _, errors, _ = check(tmp_path / "f.ods")
    assert code == 2 and "OpenDocument" in errors[0] and ".xlsx" in errors[0]
    legacy = tmp_path / "z.geojson"
    legacy.write_bytes((SAMPLE / "school_zones.geojson").read_text(encoding="utf-8").encode("cp949"))
    code, _, errors, _ = check(legacy)
    assert code == 2 and "not UTF-8 (probably CP949)" in errors[0]


# ---------------------------------------------------------------- geometries


def square(x: float, y: float, d: float = 0.002) -> Polygon:
    return Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])


def zones_file(tmp_path, geometries, name="z.geojson"):
    n = len(geometries)
    gdf = gpd.GeoDataFrame({"HAKGUDO_ID": [f"Z{i}" for i in range(1, n + 1)],
                            "HAKGUDO_NM": [f"가{i}초통학구역" for i in range(1, n + 1)],
                            "school_ids": [f"B{i}" for i in range(1, n + 1)]},
                           geometry=gpd.GeoSeries(geometries, dtype="geometry"), crs=4326)
    gdf.to_file(tmp_path / name)
    return tmp_path / name


def test_zone_geometries_null_point_and_collection(tmp_path):
    from shapely.geometry import GeometryCollection, LineString

    path = zones_file(tmp_path, [square(126.85, 37.49), None, Point(126.86, 37.49),
                                 GeometryCollection([square(126.87, 37.49), LineString([(126.87, 37.49),
                                                                                        (126.88, 37.5)])]),
                                 GeometryCollection([Point(126.9, 37.5)])])
    code, out, _, counts = check(path, "--rows")
    assert code == 0 and counts == [5, 1, 1, 3, 0]
    assert re.search(r"^\s*2\s+rejected\s+도형 없음", out, flags=re.MULTILINE)
    assert re.search(r"^\s*3\s+rejected\s+폴리곤이 아님: Point", out, flags=re.MULTILINE)
    assert re.search(r"^\s*4\s+fixed\s+GeometryCollection → 폴리곤 부분만 사용", out, flags=re.MULTILINE)
    assert re.search(r"^\s*5\s+rejected\s+폴리곤이 아님: GeometryCollection", out, flags=re.MULTILINE)
    zones, _ = io.read_school_zones(path)
    assert list(zones.index) == ["Z1", "Z4"] and set(zones.geom_type) == {"MultiPolygon"}
    only_points = zones_file(tmp_path, [Point(126.86, 37.49), Point(126.87, 37.49)], "p.geojson")
    code, _, errors, _ = check(only_points)
    assert code == 2 and "no polygon to use as school zones" in errors[0] and "Point 2" in errors[0]


def test_admin_areas_must_be_polygons(tmp_path):
    gdf = gpd.GeoDataFrame({"adm_cd2": ["1199051000", "1199052000", "1199053000"], "adm_nm": ["가", "나", "다"]},
                           geometry=gpd.GeoSeries([square(126.85, 37.49), None, Point(126.9, 37.5)]), crs=4326)
    gdf.to_file(tmp_path / "a.geojson")
    code, _, _, counts = check(tmp_path / "a.geojson")
    assert code == 0 and counts == [3, 1, 0, 2, 0]
    gdf.iloc[[2]].to_file(tmp_path / "p.geojson")
    code, _, errors, _ = check(tmp_path / "p.geojson", "--kind", "admin_areas")
    assert code == 2 and "no polygon to use as 행정동 boundaries" in errors[0]
    csv_areas = tmp_path / "a.csv"
    csv_areas.write_text("adm_cd2,adm_nm\n1199051000,가\n", encoding="utf-8")
    code, _, errors, _ = check(csv_areas)
    assert code == 2 and "has no geometry" in errors[0]


def test_point_layers_take_polygons_at_a_representative_point(tmp_path):
    gdf = gpd.GeoDataFrame({"시설명": [f"{n} 다함께돌봄센터" for n in "가나다라"]},
                           geometry=gpd.GeoSeries([Point(126.85, 37.49), square(126.86, 37.49), None,
                                                   Point(139.7, 35.7)]), crs=4326)
    gdf.to_file(tmp_path / "f.geojson")
    code, out, _, counts = check(tmp_path / "f.geojson", "--kind", "facilities", "--rows")
    assert code == 0 and counts == [4, 1, 1, 2, 0]
    assert "대표점" in out and "좌표 없음" in out and "한국 밖" in out
    data, _ = io.read_facilities(tmp_path / "f.geojson")
    assert data.geom_type.tolist() == ["Point", "Point"]
    schools = gpd.GeoDataFrame({"학교ID": ["B1", "B2"], "학교명": ["가초등학교", "나초등학교"],
                                "학교급구분": ["초등학교", "초등학교"]},
                               geometry=gpd.GeoSeries([Point(126.85, 37.49), square(126.86, 37.49)]), crs=4326)
    schools.to_file(tmp_path / "s.gpkg", layer="schools")
    data, report = io.read_schools(tmp_path / "s.gpkg")
    assert list(data.index) == ["B1", "B2"] and data.crs.to_epsg() == 5179 and report.fixed_rows == 1


def test_shapefile_parts_and_zips(tmp_path):
    path = zones_file(tmp_path, [square(126.85, 37.49)], "z.shp")
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("z.*"):
            if part.suffix != ".zip":
                z.write(part, part.name)
    code, _, _, counts = check(archive)
    assert code == 0 and counts == [1, 1, 0, 0, 0]
    (tmp_path / "z.dbf").unlink()
    code, _, errors, _ = check(path, "--kind", "zones")
    assert code == 2 and "needs its companion file(s) z.dbf" in errors[0]


def test_geopackage_layers(tmp_path):
    path = zones_file(tmp_path, [square(126.85, 37.49), square(126.87, 37.49)], "z.gpkg")
    gpd.read_file(path).iloc[:1].to_file(path, layer="old_zones")
    code, _, errors, _ = check(path)
    assert code == 2 and "has 2 layers" in errors[0] and "--layer NAME" in errors[0] and 'layer = "NAME"' in errors[0]
    assert "'old_zones'" in errors[0]
    code, _, _, counts = check(path, "--layer", "old_zones")
    assert code == 0 and counts[0] == 1
    code, _, errors, _ = check(path, "--layer", "nope", "--kind", "zones")
    assert code == 2 and "no layer 'nope'" in errors[0] and "'old_zones'" in errors[0]
    zones, _ = io.read_school_zones(path, layer="z")
    assert len(zones) == 2
    styled = zones_file(tmp_path, [square(126.85, 37.49)], "styled.gpkg")
    import pyogrio

    pyogrio.write_dataframe(pd.DataFrame({"styleName": ["qgis"]}), styled, layer="layer_styles")
    code, _, _, counts = check(styled)  # an attribute table QGIS adds is not a layer to choose
    assert code == 0 and counts == [1, 1, 0, 0, 0]
    for reader in (io.read_school_zones, io.read_admin_areas, io.read_facilities, io.read_candidates,
                   io.read_schools, io.read_students, io.read_population):
        with pytest.raises(UnreadableFileError, match="has 2 layers"):
            reader(path)


# ---------------------------------------------------------------- folders


def test_folders_are_named_for_what_they_hold(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.json").write_text('{"a": 1}', encoding="utf-8")
    code, _, errors, _ = check(empty)
    assert code == 2 and "holds none" in errors[0] and "a file (CSV" in errors[0]
    code, _, errors, _ = check(empty, "--kind", "zones")
    assert code == 2 and "folder without raw 학구 JSON files" in errors[0]
    code, _, errors, _ = check(empty, "--kind", "schools")
    assert code == 2 and "is 폴더 (a folder), not a data file" in errors[0]
    raw = tmp_path / "raw"
    raw.mkdir()
    ring = [127_000_000, 37_500_000, 1000, 0, 0, 1000, -1000, 0, 0, -1000]
    zones = [{"id": "Z1", "rings": [ring]}, "not a zone", {"id": "Z2", "rings": "garbage"},
             {"id": "Z3", "rings": [[1, 2, 3]]}, {"name": "no id", "rings": [ring]}]
    (raw / "B1.json").write_text(json.dumps({"zones": zones}), encoding="utf-8")
    (raw / "B2.json").write_text(json.dumps([1, 2]), encoding="utf-8")
    code, out, _, counts = check(raw, "--rows")
    assert code == 0 and counts == [5, 1, 0, 4, 0] and "not raw 학구 JSON, skipped): B2.json" in out
    (raw / "B3.json").write_text('{"zones": [', encoding="utf-8")
    code, _, errors, _ = check(raw)
    assert code == 2 and "B3.json is not a raw 학구 JSON file" in errors[0]


# ---------------------------------------------------------------- counts


def test_dash_means_zero_pupils(tmp_path):
    cols = ["학교명", *[f"{g}학년 학생수" for g in range(1, 7)], "학생수(계)"]
    rows = [["가온초등학교", "10", "-", "－", "", "—", "10", "20"],
            ["나래초등학교", "abc", "1", "1", "1", "1", "1", "6"],
            ["다온초등학교", "-3", "1", "1", "1", "1", "1", "2"],
            ["라온초등학교", "1", "1", "1", "1", "1", "1", "-"]]
    pd.DataFrame(rows, columns=cols).to_csv(tmp_path / "s.csv", index=False)
    code, out, _, counts = check(tmp_path / "s.csv", "--rows")
    assert code == 0 and counts == [4, 0, 2, 2, 0]
    assert re.search(r"^\s*1\s+fixed\s+빈 칸 또는 '-' 학생수 → 0", out, flags=re.MULTILINE)
    assert re.search(r"^\s*2\s+rejected\s+학생수가 숫자가 아님", out, flags=re.MULTILINE)
    assert re.search(r"^\s*3\s+rejected\s+음수 학생수", out, flags=re.MULTILINE)
    students, _ = io.read_students(tmp_path / "s.csv")
    first = students.iloc[0]
    assert [first[f"pupils_g{g}"] for g in range(1, 7)] == [10, 0, 0, 0, 0, 10] and first["pupils_total"] == 20
    assert students.iloc[1]["pupils_total"] == 6


# ---------------------------------------------------------------- options


def test_check_options_never_trace_back(tmp_path):
    files = {kind: SAMPLE / name for kind, name in BASE.items()}
    option_sets = [["--sigungu", "가온구"], ["--sido", "서울특별시"], ["--map", "name"], ["--map", "name="],
                   ["--map", "nmae=시설명"], ["--map", "name=없는 열"], ["--layer", "x"], ["--crs", "5186"],
                   ["--crs", "EPSG:4326"], ["--crs", "foo"], ["--rows"], ["--kind", "nope"],
                   ["--sigungu", "가온구", "--map", "name=학교명", "--rows"]]
    for kind, path in files.items():
        for options in option_sets:
            args = [path, *(["--kind", kind] if "--kind" not in options else []), *options]
            code, out, errors, counts = check(*args)
            assert_sentence_or_rows(code, out, errors, counts, f"{kind} {options}")
    code, _, errors, _ = check(files["facilities"], "--map", "name")
    assert code == 2 and "--map takes canonical=column" in errors[0]
    code, _, errors, _ = check(files["candidates"], "--sigungu", "구로구")
    assert errors == ["오류 error: --sigungu does not apply to candidates files (it applies to schools, population, "
                      "admin_areas, facilities)."]
    code, _, errors, _ = check(files["facilities"], "--map", "nmae=시설명")
    assert code == 2 and "did you mean 'name'" in errors[0]
    code, _, errors, _ = check(files["facilities"], "--map", "name=없는 열")
    assert code == 2 and "mapped to '없는 열', which is not a column" in errors[0]
    code, _, errors, _ = check(files["zones"], "--map", "name=x")
    assert code == 2 and "--map does not apply to zones" in errors[0]


def test_metres_without_crs_say_something_true(tmp_path):
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 5186, always_xy=True).transform(126.85, 37.49)
    path = tmp_path / "m.csv"
    path.write_text(f"시설명,x,y\n가 다함께돌봄센터,{x:.1f},{y:.1f}\n", encoding="utf-8")
    with pytest.raises(CRSError) as caught:
        io.read_facilities(path)
    assert "careplan check --crs 5186" in str(caught.value) and "on the command line" not in str(caught.value)
    code, out, _, counts = check(path, "--crs", "5186")
    assert code == 0 and counts == [1, 1, 0, 0, 0] and "EPSG:5186" in out
    saved = gpd.GeoDataFrame({"시설명": ["가 다함께돌봄센터"], "x": [x], "y": [y]},  # QGIS keeps the x/y columns
                             geometry=[Point(x, y)], crs=5186)
    saved.to_file(tmp_path / "m.gpkg")
    code, _, _, counts = check(tmp_path / "m.gpkg")  # the advice works: the layer's CRS decides
    assert code == 0 and counts == [1, 1, 0, 0, 0]


def test_summary_splits_kept_and_fixed(tmp_path):
    swapped = ROW.replace("126.85,37.49", "37.49,126.85")
    path = tmp_path / "f.csv"
    path.write_text(HEADER + ROW + swapped + ROW.replace("126.85", "x"), encoding="utf-8")
    code, _, _, counts = check(path)
    assert code == 0 and counts == [3, 1, 1, 1, 0]
    _, report = io.read_facilities(path)
    assert report.kept == 2 and report.fixed_rows == 1


def test_nan_coordinates_and_broken_rings_are_rejected_per_row(tmp_path):
    doc = json.loads((SAMPLE / "school_zones.geojson").read_text(encoding="utf-8"))
    geometries = [[[[float("nan"), 37.5], [126.9, 37.5], [126.9, 37.6], [float("nan"), 37.5]]],
                  [[[126.9, 400], [127, 400], [127, 401], [126.9, 400]]],  # latitude 400°
                  [[[126.9, 37.5], [127, 37.5], [127, 37.6]]],  # ring not closed: closed on reading
                  [[[126.9, 37.5], [127, 37.5]]]]  # two points: no polygon
    for feature, rings in zip(doc["features"], geometries, strict=False):
        feature["geometry"] = {"type": "Polygon", "coordinates": rings}
    path = tmp_path / "z.geojson"
    path.write_text(json.dumps(doc), encoding="utf-8")  # json writes NaN, which GDAL reads
    code, out, _, counts = check(path, "--rows")
    assert code == 0 and counts[0] == len(doc["features"]) and counts[3] == 3
    reasons = "(한국 밖의 폴리곤|좌표가 유한하지 않음|도형 없음)"
    for row in (1, 2):
        assert re.search(rf"^\s*{row}\s+rejected\s+{reasons}", out, flags=re.MULTILINE)
    assert re.search(r"^\s*4\s+rejected\s+폴리곤 없음", out, flags=re.MULTILINE)
    zones, _ = io.read_school_zones(path)
    assert "Z990000103" in zones.index and len(zones) == len(doc["features"]) - 3
    facilities = tmp_path / "f.csv"
    facilities.write_text(HEADER + ROW + ROW.replace("126.85", "1e999") + ROW.replace("37.49", "nan"),
                          encoding="utf-8")
    code, _, _, counts = check(facilities)
    assert code == 0 and counts == [3, 1, 0, 2, 0]


def test_dash_means_zero_people(tmp_path):
    text = sample_text("population")
    lines = text.splitlines(keepends=True)
    cells = next(csv.reader([lines[3]]))
    cells[10] = "-"  # one age column of one 행정동
    buffer = _io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerow(cells)
    path = tmp_path / "p.csv"
    path.write_text("".join([*lines[:3], buffer.getvalue(), *lines[4:]]), encoding="utf-8")
    code, out, _, counts = check(path, "--rows")
    assert code == 0 and counts[2] == 1 and counts[3] == 0
    assert re.search(r"^\s*3\s+fixed\s+인구수 '-' → 0", out, flags=re.MULTILINE)


def test_an_unforeseen_failure_is_still_one_sentence(tmp_path, monkeypatch):
    from careplan.io import facilities

    def broken(*_args, **_kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(facilities, "dedupe_ids", broken)
    path = tmp_path / "f.csv"
    path.write_text(HEADER + ROW, encoding="utf-8")
    with pytest.raises(UnreadableFileError, match=r"f\.csv could not be read as a care facility list \(KeyError"):
        io.read_facilities(path)
    code, _, errors, _ = check(path)
    assert code == 2 and len(errors) == 1 and "report this careplan bug" in errors[0]
    with pytest.raises(TypeError):  # a wrong call is the caller's bug, not the file's
        io.read_facilities(path, no_such_option=1)
