"""careplan's HTML outputs work on a closed network: no CDN, only (optional) tiles from outside.

``careplan demo`` and ``careplan compare`` (dual and overlay) write the pages once per module.
The files are read for every URL they would load; then each page is opened in headless
Chromium with every request that is not file:// or 127.0.0.1 aborted, and must draw its
layers, open popups and run its controls without one console or page error.
Expected counts come from the run's own files (careplan.gpkg, the comparison CSV).
"""

from __future__ import annotations

import importlib.util
import re
from html.parser import HTMLParser
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from typer.testing import CliRunner

from careplan import sample
from careplan.cli import app

TILE = re.compile(r"^https://tile\.openstreetmap\.org/\d+/\d+/\d+\.png$")
TILE_TEMPLATE = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
#: The only https:// texts a page may hold: the tile template and credits, none of them loaded
#: by the page (Leaflet's own credit link and licence comment, OpenStreetMap's copyright page).
ALLOWED_HTTPS = {TILE_TEMPLATE, "https://leafletjs.com", "https://www.openstreetmap.org/copyright"}
LOCAL = ("file://", "http://127.0.0.1", "data:", "blob:", "about:")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NAME_B = "B안 (지역아동센터 제외)"


def _scenario(path: Path, *, drop: str | None = None, name: str | None = None) -> Path:
    folder = sample.sample_dir()
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    text = text.replace('dir = "."', f'dir = "{folder.as_posix()}"')
    if drop:
        text = "\n".join(line for line in text.splitlines() if drop not in line)
    if name:
        text = re.sub(r'^name = ".*"$', f'name = "{name}"', text, count=1, flags=re.MULTILINE)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("offline")
    a = _scenario(root / "a.toml")
    b = _scenario(root / "b.toml", drop="local_child_centers.csv", name=NAME_B)
    runner = CliRunner()
    done = {"demo": root / "demo", "dual": root / "dual", "overlay": root / "overlay"}
    result = runner.invoke(app, ["demo", "--out", str(done["demo"]), "-q"])
    assert result.exit_code == 0, result.output
    for layout in ("dual", "overlay"):
        args = ["compare", str(a), str(b), "--out", str(done[layout]), "--layout", layout, "-q"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return done


def _pages(outputs) -> list[Path]:
    return [
        outputs["demo"] / "planner_map.html",
        outputs["demo"] / "public_map" / "index.html",
        outputs["dual"] / "compare_map.html",
        outputs["overlay"] / "compare_map.html",
    ]


# ------------------------------------------------------------------ the files


class _Links(HTMLParser):
    """``<script src>``, ``<link href>``, ``<img src>`` and the text of ``<style>`` blocks."""

    def __init__(self):
        super().__init__()
        self.sources: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, key in (("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src")):
            if tag == name and attrs.get(key):
                self.sources.append(attrs[key])
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _css_urls(css: str) -> list[str]:
    return [u.strip("'\" ") for u in re.findall(r"url\(([^)]*)\)", css)]


def test_outputs_load_nothing_from_the_internet(outputs):
    files = [p for folder in outputs.values() for p in sorted(folder.rglob("*"))
             if p.suffix in {".html", ".js", ".css"}]
    assert {p.name for p in files} >= {"planner_map.html", "compare_map.html", "index.html",
                                       "leaflet.js", "leaflet.css", "data.js", "public_map.js"}
    texts = {p: p.read_text(encoding="utf-8") for p in files}
    found = set()
    for text in texts.values():
        found |= {u.rstrip("\\") for u in re.findall(r"https://[^\s\"'()<>`]+", text)}
    assert found == ALLOWED_HTTPS
    sources, css_urls = [], []
    for path, text in texts.items():
        if path.suffix == ".html":
            parser = _Links()
            parser.feed(text)
            sources += [(path.name, s) for s in parser.sources]
            css_urls += [(path.name, u) for css in parser.styles for u in _css_urls(css)]
        elif path.suffix == ".css":
            css_urls += [(path.name, u) for u in _css_urls(text)]
    # Every script and stylesheet the pages name is a file of the public_map folder; the
    # report's charts are data: images.
    named = sorted(s for _, s in sources if not s.startswith("data:"))
    assert named == ["data.js", "public_map.css", "public_map.js"]
    images = [(name, s[:22]) for name, s in sources if s.startswith("data:")]
    assert images and set(images) == {("report.html", "data:image/png;base64,")}
    # Inlined Leaflet CSS carries its images as data: URIs; the folder's leaflet.css names
    # its images/ beside it; "#default#VML" is an old IE behaviour, not a request.
    inline = [u for name, u in css_urls if name.endswith(".html") and u != "#default#VML"]
    assert len(inline) == 3 * 3  # layers, layers-2x, marker-icon in each folium page
    assert all(u.startswith("data:image/png;base64,") for u in inline), inline
    in_folder = {u for name, u in css_urls if name == "leaflet.css"}
    assert in_folder == {"#default#VML", "images/layers.png", "images/layers-2x.png",
                         "images/marker-icon.png"}
    for image in in_folder - {"#default#VML"}:
        assert (outputs["demo"] / "public_map" / image).stat().st_size > 100


def test_folium_pages_inline_leaflet_and_none_of_the_dropped_assets(outputs):
    for path in _pages(outputs)[::2] + [outputs["overlay"] / "compare_map.html"]:
        text = path.read_text(encoding="utf-8")
        assert text.count('t.version="1.9.3"') == 1, path  # Leaflet once, inline
        assert text.count("/*! jQuery v3.7.1 ") == 1  # folium's popups call $(…)
        assert len(re.findall(r'd3 = \{\s+version: "3\.5\.\d+"', text)) == 1  # legends
        for gone in ("bootstrap", "font-awesome", "fontawesome", "glyphicon", "awesome-markers",
                     "awesome.rotate", "L.Map.Sync", "sourceMappingURL"):
            assert gone not in text.lower(), (path.name, gone)


def test_a_map_that_would_load_a_cdn_plugin_is_not_written(tmp_path):
    import folium.plugins

    from careplan import maps
    from careplan._errors import SettingsError

    here = Path(__file__).with_name("test_maps.py")
    spec = importlib.util.spec_from_file_location("_maps_data", here)
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    m = maps.planner_map(facilities=td.make_facilities(), distance_method_label="직선거리",
                         synthetic=True)
    folium.plugins.MiniMap().add_to(m)
    with pytest.raises(SettingsError, match=r"leaflet-minimap.*must work offline"):
        maps.save_planner_map(m, tmp_path / "plan.html")
    assert not (tmp_path / "plan.html").exists()


# ------------------------------------------------------------------ in Chromium, offline


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        yield b
        b.close()


class Offline:
    """A page whose every outside request is aborted; errors and outside requests recorded."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="ko-KR")
        self.external: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error"
                     and self.console.append((m.text, m.location.get("url", ""))))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.goto(path.as_uri())

    def _route(self, route):
        url = route.request.url
        if url.startswith(LOCAL):
            return route.continue_()
        self.external.append(url)
        return route.abort()

    def assert_clean(self):
        """No page error, no console error but Chromium's note on an aborted tile; only tiles
        were asked for outside."""
        assert self.errors == []
        own = [(t, u) for t, u in self.console
               if not (t.startswith("Failed to load resource") and u in self.external)]
        assert own == []
        assert [u for u in self.external if not TILE.match(u)] == []

    def close(self):
        self.context.close()


MAPS = """() => Object.keys(window).filter(k => k.startsWith('map_') && window[k] instanceof L.Map)
  .map(k => window[k]).sort((a, b) => a.getContainer().getBoundingClientRect().left
                                      - b.getContainer().getBoundingClientRect().left)"""


def _overlay_labels(page, container: str = "body") -> list[str]:
    return page.eval_on_selector_all(
        f"{container} .leaflet-control-layers-overlays label",
        "ls => ls.map(l => l.textContent.trim())",
    )


def test_planner_map_offline(browser, outputs):
    run = outputs["demo"]
    facilities = gpd.read_file(run / "careplan.gpkg", layer="facilities")
    schools = gpd.read_file(run / "careplan.gpkg", layer="schools")
    demand = gpd.read_file(run / "careplan.gpkg", layer="demand_points")
    proposed = pd.read_csv(run / "proposed_sites.csv", encoding="utf-8-sig")
    visit = Offline(browser, run / "planner_map.html")
    page = visit.page
    page.locator(".careplan-marker").first.wait_for(state="attached")
    assert page.evaluate("() => window.L && L.version") == "1.9.3"
    assert page.evaluate(f"() => ({MAPS})().length") == 1
    assert page.locator(".careplan-marker").count() == len(facilities) == 36
    labels = _overlay_labels(page)
    kinds = facilities["kind"].value_counts()
    assert sorted(int(re.search(r"\((\d+)\)$", t).group(1)) for t in labels
                  if t.startswith("시설: ")) == sorted(kinds.tolist())
    assert f"초등학교 ({len(schools)})" in labels
    assert f"제안 입지 (proposed, {len(proposed)})" in labels
    total = f"{demand['demand'].sum():,.0f}"
    assert f"돌봄 수요 (수요점 demand points, 합계 {total}명)" in labels
    # The demand layer is off at first; on, it draws one circle per point with demand.
    before = page.locator("path.leaflet-interactive").count()
    page.get_by_text(f"돌봄 수요 (수요점 demand points, 합계 {total}명)").click()
    after = page.locator("path.leaflet-interactive").count()
    assert after - before == int((demand["demand"] > 0).sum()) == 1611
    # A facility popup opens with its Korean rows.
    page.locator(".careplan-marker").first.dispatch_event("click")
    popup = page.locator(".leaflet-popup-content").last
    assert "시설명" in popup.inner_text() and "이용료" in popup.inner_text()
    name = popup.locator("td").first.inner_text()
    assert name in set(facilities["name"])
    # A proposed site's popup (folium Popup, built with jQuery).
    page.evaluate("() => document.querySelectorAll('.leaflet-popup-close-button')"
                  ".forEach(b => b.click())")
    page.get_by_text("1", exact=True).first.dispatch_event("click")
    assert "제안 순위" in page.locator(".leaflet-popup-content").last.inner_text()
    # Fullscreen: careplan's button switches the page in and out.
    button = page.locator(".careplan-fullscreen a")
    assert button.count() == 1 and button.get_attribute("aria-label") == "전체 화면"
    button.click()
    page.wait_for_function("() => document.fullscreenElement === document.documentElement")
    assert button.get_attribute("aria-label") == "전체 화면 종료"
    button.click()
    page.wait_for_function("() => document.fullscreenElement === null")
    page.wait_for_function("() => document.querySelector('.careplan-fullscreen a')"
                           ".getAttribute('aria-label') === '전체 화면'", timeout=5_000)
    # The scale bar replaces the dropped measure tool; no minimap.
    assert page.locator(".leaflet-control-scale").count() == 1
    assert page.locator(".leaflet-control-minimap").count() == 0
    visit.assert_clean()
    assert visit.external, "the tile requests were expected (and aborted)"
    visit.close()


def _compare_counts(folder: Path) -> dict[str, int]:
    table = pd.read_csv(folder / "compare_확인지표.csv", encoding="utf-8-sig").set_index("지표")
    row = table.loc["돌봄시설 수"]
    return {"A": int(row.iloc[0]), "B": int(row.iloc[1])}


def test_dual_compare_map_offline_moves_together(browser, outputs):
    counts = _compare_counts(outputs["dual"])
    assert counts == {"A": 16, "B": 9}
    visit = Offline(browser, outputs["dual"] / "compare_map.html")
    page = visit.page
    page.locator(".careplan-marker").first.wait_for(state="attached")
    assert page.evaluate("() => window.L && L.version") == "1.9.3"
    ids = page.evaluate(f"() => ({MAPS})().map(m => m.getContainer().id)")
    assert len(ids) == 2
    left, right = (f"#{i}" for i in ids)
    assert page.locator(f"{left} .careplan-marker").count() == counts["A"]
    assert page.locator(f"{right} .careplan-marker").count() == counts["B"]
    assert f"A · 돌봄시설 ({counts['A']})" in _overlay_labels(page, left)
    assert f"B · 돌봄시설 ({counts['B']})" in _overlay_labels(page, right)
    state = f"() => ({MAPS})().map(m => [m.getCenter().lat, m.getCenter().lng, m.getZoom()])"
    start = page.evaluate(state)
    assert start[0] == start[1]
    # Drag the left map with the mouse: the right one follows.
    box = page.locator(left).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 120, y + 60, steps=6)
    page.mouse.up()
    page.wait_for_timeout(800)  # Leaflet's inertia glides on a little after the release
    moved = page.evaluate(state)
    assert moved[0] != start[0]
    assert moved[1][0] == pytest.approx(moved[0][0], abs=1e-9)
    assert moved[1][1] == pytest.approx(moved[0][1], abs=1e-9)
    # Zoom the right map: the left one follows (and nothing loops back and forth).
    page.evaluate(f"() => {{ const r = ({MAPS})()[1]; r.setZoom(r.getZoom() + 1, "
                  "{animate: false}); }")
    zoomed = page.evaluate(state)
    assert zoomed[0][2] == zoomed[1][2] == moved[0][2] + 1
    assert zoomed[0][:2] == pytest.approx(zoomed[1][:2], abs=1e-9)
    page.locator(f"{right} .careplan-marker").first.dispatch_event("click")
    assert "시설명" in page.locator(f"{right} .leaflet-popup-content").inner_text()
    visit.assert_clean()
    visit.close()


def test_overlay_compare_map_offline(browser, outputs):
    counts = _compare_counts(outputs["overlay"])
    visit = Offline(browser, outputs["overlay"] / "compare_map.html")
    page = visit.page
    page.locator(".careplan-marker").first.wait_for(state="attached")
    assert page.evaluate(f"() => ({MAPS})().length") == 1
    assert page.locator(".careplan-marker").count() == counts["A"] + counts["B"] == 25
    labels = _overlay_labels(page)
    assert f"A · 돌봄시설 ({counts['A']})" in labels and f"B · 돌봄시설 ({counts['B']})" in labels
    page.locator(".careplan-marker").last.dispatch_event("click")
    assert "시설명" in page.locator(".leaflet-popup-content").inner_text()
    visit.assert_clean()
    visit.close()


def test_public_map_offline_draws_the_map(browser, outputs):
    folder = outputs["demo"] / "public_map"
    visit = Offline(browser, folder / "index.html")
    page = visit.page
    page.wait_for_selector("body.has-map", timeout=15_000)
    assert page.evaluate("() => window.L && L.version") == "1.9.3"
    listed = page.locator("#facility-list > li").count()
    data = page.evaluate("() => window.CAREPLAN_DATA.facilities.length")
    assert page.locator(".cp-marker").count() == listed == data > 0
    page.locator("#facility-list > li .show-on-map").first.click()
    first = page.locator("#facility-list > li .card-name").first.inner_text()
    assert first in page.locator(".leaflet-popup-content").inner_text()
    visit.assert_clean()
    assert visit.external and all(TILE.match(u) for u in visit.external)
    visit.close()
