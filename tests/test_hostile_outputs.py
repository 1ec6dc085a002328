"""End to end with the hostile payload corpus: run, compare and map, then every output read back.

The corpus (tests/_hostile.py) puts XSS, Jinja (``{{ }}``, ``{% %}``, ``{#``), formula cells,
newlines, U+2028, a 5,000-character name, quotes and backslashes into every text field of
every input kind and into every free-text setting. Each command runs once (module
fixtures). The CSVs must hold no live formula, report.md no raw tags, and every HTML page,
opened in headless Chromium with every popup, tooltip, layer, search and filter exercised,
must run no payload, evaluate no template and show each payload as typed.
"""

from __future__ import annotations

import csv
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from _hostile import AREA, build_corpus, norm
from careplan.catalog import DEFAULT_CATALOG

MARKER_NAME = "hostile_marker_must_not_exist"
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")
DEFAULT_LABELS = {norm(kind.label_ko) for kind in DEFAULT_CATALOG.values()}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    marker = tmp_path_factory.mktemp("marker") / MARKER_NAME
    data = tmp_path_factory.mktemp("hostile_data")
    built, a, b = build_corpus(data, marker)
    title = ("제목 {{ 7*7 }} {# <script>alert(1)</script> "
             "{% for x in range(3) %}XYZ{% endfor %} ${alert(1)}")
    return {"marker": marker, "corpus": built, "a": a, "b": b, "title": title}


def _env() -> dict[str, str]:
    """This environment, with PYTHONPATH made absolute (the commands run elsewhere)."""
    env = os.environ.copy()
    parts = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if parts:
        env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def _careplan(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "careplan", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def outputs(corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_out")
    run, cmp, remap = root / "run", root / "compare", root / "map"
    done = {"run_dir": run, "compare_dir": cmp, "map_dir": remap}
    cwd = corpus["marker"].parent  # where the quote-free payload would create the marker
    done["run"] = _careplan(cwd, "run", corpus["a"], "--out", run)
    done["compare"] = _careplan(cwd, "compare", corpus["a"], corpus["b"], "--out", cmp)
    done["map"] = _careplan(cwd, "map", run, "--out", remap, "--title", corpus["title"])
    return done


# ------------------------------------------------------------------ commands, files


@pytest.mark.parametrize("command", ["run", "compare", "map"])
def test_command_succeeds_without_traceback(outputs, command):
    proc = outputs[command]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "TemplateSyntaxError" not in proc.stderr


def test_template_payload_never_runs_a_command(outputs, corpus):
    assert outputs["run"].returncode == 0  # the payload went through every command
    assert not corpus["marker"].exists()
    assert not list(corpus["marker"].parent.iterdir())


def _csv_files(outputs) -> list[Path]:
    files = [*sorted(outputs["run_dir"].rglob("*.csv")),
             *sorted(outputs["compare_dir"].rglob("*.csv"))]
    assert len(files) >= 5, files
    return files


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_csv_outputs_hold_no_live_formula(outputs):
    live, neutralised = [], 0
    for path in _csv_files(outputs):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for r, row in enumerate(csv.reader(fh)):
                for cell in row:
                    if cell.startswith(FORMULA_LEAD) and not _is_number(cell):
                        live.append((path.name, r, cell[:60]))
                    neutralised += cell.startswith("'") and cell[1:2] in "=+-@\t\r"
    assert live == []
    # Not vacuous: the formula payloads did reach the tables (facility, site and slot names).
    assert neutralised >= 5


def test_report_md_has_no_raw_html(outputs):
    text = (outputs["run_dir"] / "report.md").read_text(encoding="utf-8").lower()
    for tag in ("<script", "<img", "<svg"):
        assert tag not in text, tag
    assert "alert(1)" in text  # the scenario name and names are in it, as text


# ------------------------------------------------------------------ browser

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LOCAL = ("file://", "data:", "blob:", "about:")
#: The one thing careplan's pages fetch from outside (Leaflet, jQuery, d3 and careplan's own
#: controls are written with the pages): background tiles, answered here with a blank PNG.
TILES = "https://tile.openstreetmap.org/"

HOOKS = """window.__hostile = [];
['alert', 'confirm', 'prompt', 'print'].forEach(function (name) {
  window[name] = function () {
    window.__hostile.push(name + ':' + Array.from(arguments).join(','));
  };
});"""

# Every popup and tooltip of every Leaflet map on the page, opened as a click and a hover
# would (events fired on each layer, bubbling to the groups that bound them).
OPEN_ALL = """() => {
  const maps = Object.keys(window).filter(k => k.startsWith('map_') && window[k] instanceof L.Map)
    .map(k => window[k]);
  const popups = new Set(), tooltips = new Set(), rows = new Set();
  const keep = (set, node) => {
    set.add(node.textContent);
    node.querySelectorAll('*').forEach(e => set.add(e.textContent));
    node.querySelectorAll('tr').forEach(tr => {
      const th = tr.querySelector('th'), td = tr.querySelector('td');
      if (th && td) { rows.add(JSON.stringify([th.textContent, td.textContent])); }
    });
  };
  // The tooltip a hover on this layer shows: its own, or the one of the group that bound it.
  const tooltipOf = l => {
    if (l.getTooltip && l.getTooltip()) { return l.getTooltip(); }
    for (const parent of Object.values(l._eventParents || {})) {
      const t = tooltipOf(parent);
      if (t) { return t; }
    }
    return null;
  };
  // No auto-pan: 1,500 popups must not pan the map (and fetch tiles) 1,500 times.
  L.Popup.prototype.options.autoPan = false;
  let layers = 0;
  for (const map of maps) {
    map._fadeAnimated = false;  // closed popups and tooltips leave the DOM at once
    const leaves = [];
    map.eachLayer(l => {
      if (!(l instanceof L.LayerGroup) && !(l instanceof L.GridLayer)) { leaves.push(l); }
    });
    for (const l of leaves) {
      let at = l.getLatLng ? l.getLatLng() : null;
      if (!at && l.getBounds) { try { at = l.getBounds().getCenter(); } catch (e) { at = null; } }
      if (!at) { continue; }
      layers += 1;
      map.closePopup();
      l.fire('click', {latlng: at}, true);
      if (map._popup && map.hasLayer(map._popup)) { keep(popups, map._popup._contentNode); }
      l.fire('mouseover', {latlng: at}, true);
      const tip = tooltipOf(l);
      if (tip && tip.isOpen()) { keep(tooltips, tip._contentNode); }
      l.fire('mouseout', {latlng: at}, true);
      if (tip && tip.isOpen()) { map.closeTooltip(tip); }
    }
  }
  return {maps: maps.length, layers, popups: [...popups], tooltips: [...tooltips],
          rows: [...rows].map(r => JSON.parse(r))};
}"""

# Payload effects visible in the DOM: an element the markup would have created, a handler.
INJECTED = """() => {
  const handlers = Array.from(document.querySelectorAll('*')).filter(e =>
    Array.from(e.attributes).some(a => a.name.startsWith('on') && /alert/.test(a.value)));
  const italics = Array.from(document.querySelectorAll('i')).filter(e => e.textContent === '긴');
  return document.querySelectorAll('img[src="x"], svg[onload]').length + italics.length
    + handlers.length;
}"""


def _png() -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + tag + data + crc

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00\xee\xee\xee\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


TILE = _png()


def _serve(route, outside: list[str]) -> None:
    url = route.request.url
    if url.startswith(LOCAL):
        return route.continue_()
    outside.append(url)
    if url.startswith(TILES):
        return route.fulfill(body=TILE, content_type="image/png")
    return route.abort()


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        yield b
        b.close()


class Visit:
    """One page with dialogs, hooked calls, console and page errors recorded."""

    def __init__(self, browser, path: Path):
        assert path.exists(), path
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.outside: list[str] = []
        self.context.route("**/*", lambda route: _serve(route, self.outside))
        self.context.add_init_script(HOOKS)
        self.page = self.context.new_page()
        self.dialogs, self.errors = [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.goto(path.as_uri())

    def assert_clean(self) -> None:
        page = self.page
        assert self.dialogs == []
        assert page.evaluate("() => window.__hostile") == []
        assert self.errors == []
        assert [u for u in self.outside if not u.startswith(TILES)] == []  # nothing but tiles
        html = page.content()
        body = page.evaluate("() => document.body.textContent")
        for evaluated in ("XYZXYZXYZ", "XYZ XYZ XYZ"):
            assert evaluated not in html and evaluated not in body
        assert page.evaluate(INJECTED) == 0

    def close(self) -> None:
        self.context.close()


def _toggle_layers(page) -> int:
    """Click every layer-control input: overlays off and on again, each base layer once."""
    return page.evaluate("""() => {
      const inputs = Array.from(document.querySelectorAll('.leaflet-control-layers-selector'));
      for (const input of inputs) {
        if (input.type === 'checkbox') { input.click(); if (!input.checked) { input.click(); } }
      }
      inputs.filter(i => i.type === 'radio').forEach(i => i.click());
      return inputs.length;
    }""")


def _shown(texts: list[str]) -> set[str]:
    return {norm(t) for t in texts}


def _exercise_folium(browser, path: Path):
    visit = Visit(browser, path)
    page = visit.page
    page.wait_for_function("() => Object.keys(window).some(k => k.startsWith('map_'))")
    toggled = _toggle_layers(page)
    seen = page.evaluate(OPEN_ALL)
    return visit, toggled, seen


def _payload_names(corpus) -> list[str]:
    return corpus["corpus"].all


# Popup rows whose value is input text alone: names, and addresses (some keep the 시·구 prefix).
NAME_LABELS = ("시설명", "학교명", "후보지", "학구", "행정동", "주소")


def _literal_cells(seen, corpus) -> list[tuple[str, str]]:
    """Popup name and address cells that are not exactly a payload (e.g. an evaluated one)."""
    allowed = {norm(p) for p in _payload_names(corpus)}
    allowed |= {norm(AREA + p) for p in _payload_names(corpus)}
    cells = [(th, td) for th, td in seen["rows"] if th in NAME_LABELS]
    assert len(cells) >= 20, cells
    return [(th, td[:40]) for th, td in cells if norm(td) not in allowed]


@pytest.mark.browser
def test_planner_map_shows_every_payload_literally(browser, outputs, corpus):
    visit, toggled, seen = _exercise_folium(browser, outputs["run_dir"] / "planner_map.html")
    assert seen["maps"] == 1 and toggled >= 3 and seen["layers"] >= 40
    shown = _shown(seen["popups"]) | _shown(seen["tooltips"])
    missing = [p[:40] for p in _payload_names(corpus) if norm(p) not in shown]
    assert missing == []  # each is a facility name: a popup cell holds exactly it
    assert _literal_cells(seen, corpus) == []
    visit.assert_clean()
    visit.close()


@pytest.mark.browser
def test_compare_map_shows_payloads_literally(browser, outputs, corpus):
    visit, _, seen = _exercise_folium(browser, outputs["compare_dir"] / "compare_map.html")
    assert seen["maps"] >= 1 and seen["layers"] >= 10
    shown = _shown(seen["popups"]) | _shown(seen["tooltips"])
    hits = [p for p in _payload_names(corpus) if norm(p) in shown]
    assert len(hits) >= len(_payload_names(corpus)) - 3, shown  # after-school facilities only
    assert _literal_cells(seen, corpus) == []
    visit.assert_clean()
    visit.close()


@pytest.mark.browser
def test_remade_planner_map_shows_title_and_payloads(browser, outputs, corpus):
    visit, _, seen = _exercise_folium(browser, outputs["map_dir"] / "planner_map.html")
    shown = _shown(seen["popups"]) | _shown(seen["tooltips"])
    assert [p[:40] for p in _payload_names(corpus) if norm(p) not in shown] == []
    assert _literal_cells(seen, corpus) == []
    titles = visit.page.eval_on_selector_all("h1, title", "els => els.map(e => e.textContent)")
    assert norm(corpus["title"]) in _shown(titles)
    visit.assert_clean()
    visit.close()


def _shown_index(labels: list[str], text: str) -> int:
    return [norm(label) for label in labels].index(norm(text))


def _cards(page) -> list[str]:
    return page.eval_on_selector_all(
        "#facility-list .card-name", "els => els.map(e => e.textContent)"
    )


def _exercise_public(browser, index: Path, corpus) -> Visit:
    visit = Visit(browser, index)
    page = visit.page
    page.wait_for_selector("body.has-map", timeout=15_000)
    payloads = {norm(p) for p in _payload_names(corpus)}
    names = _cards(page)
    assert len(names) >= 10 and {norm(n) for n in names} <= payloads
    assert len({norm(n) for n in names}) >= 10
    # Kind labels: the scenario's [catalog] payload labels, or the defaults where the maps
    # are made without the scenario's catalog (the run folder does not keep it).
    labels = page.eval_on_selector_all(".card-kind", "els => els.map(e => e.textContent)")
    assert labels and {norm(t) for t in labels} <= payloads | DEFAULT_LABELS
    # Each card's map popup names the facility exactly; its marker's tooltip too.
    buttons = page.locator("#facility-list > li .show-on-map")
    for i in range(buttons.count()):
        buttons.nth(i).click()
        popup = page.locator(".leaflet-popup-content").last
        texts = popup.evaluate(
            "n => [n.textContent, ...Array.from(n.querySelectorAll('*'), e => e.textContent)]"
        )
        assert norm(names[i]) in _shown(texts), names[i][:40]
    # Marker tooltips hold the facility name alone, as a text node.
    page.keyboard.press("Escape")
    tips = []
    for marker in page.locator(".cp-marker").all():
        marker.dispatch_event("mouseover")
        tips += page.eval_on_selector_all(".leaflet-tooltip", "ts => ts.map(t => t.textContent)")
        marker.dispatch_event("mouseout")
    assert len(tips) >= len(names) and {norm(t) for t in tips} <= payloads
    # Search with payload text: each school's name finds that school, shown as typed.
    for school in corpus["corpus"].schools:
        page.fill("#q", school.strip())  # what the planner sees and types
        found = page.locator("#school-results button")
        found_names = found.evaluate_all("bs => bs.map(b => b.firstChild.textContent)")
        assert norm(school) in _shown(found_names), school[:40]
        found.nth(_shown_index(found_names, school)).click()
        assert {norm(n) for n in _cards(page)} <= payloads
        page.click("#clear-school")
    for text in ("{{ 7*7 }}", "<img src=x onerror=alert(1)>", "{#", "${alert(1)}", "\\"):
        page.fill("#q", text)
    page.fill("#q", "")
    # Filters, one at a time, then the print sheet per 행정동.
    for select in ("#until", "#grade", "#fee"):
        for value in page.eval_on_selector_all(f"{select} option", "os => os.map(o => o.value)"):
            page.select_option(select, value)
            assert {norm(n) for n in _cards(page)} <= payloads
        page.click("#reset")
    for box in ("#vac", "#sat"):
        page.check(box)
        page.click("#reset")
    for box in page.locator("#kind-filter input").all():
        box.uncheck()
    page.click("#reset")
    sheets = 0
    for value in page.eval_on_selector_all("#print-adm option", "os => os.map(o => o.value)")[1:]:
        page.select_option("#print-adm", value)
        assert page.locator("#print-sheet img, #print-sheet svg, #print-sheet i").count() == 0
        sheets += page.locator("#print-sheet tbody tr").count()
    assert sheets >= len(names)  # every listed facility is on some 행정동's sheet
    return visit


@pytest.mark.browser
@pytest.mark.parametrize("folder", ["run_dir", "map_dir"])
def test_public_map_cards_popups_search_filters(browser, outputs, corpus, folder):
    visit = _exercise_public(browser, outputs[folder] / "public_map" / "index.html", corpus)
    if folder == "map_dir":
        assert norm(corpus["title"]) in _shown([visit.page.title()])
    visit.assert_clean()
    visit.close()


@pytest.mark.browser
def test_report_html_shows_names_as_text(browser, outputs, corpus):
    visit = Visit(browser, outputs["run_dir"] / "report.html")
    body = norm(visit.page.evaluate("() => document.body.textContent"))
    hits = [p for p in _payload_names(corpus) if norm(p) in body]
    assert len(hits) >= 5 and norm("{{ 7*7 }}") in body
    visit.assert_clean()
    visit.close()
