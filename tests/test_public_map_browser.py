"""The public 돌봄지도 in real headless Chromium (Playwright), over file:// and http://127.0.0.1.

External requests never leave the machine: ``page.route`` answers tiles with a blank PNG
(the "mapped" pages, with the Leaflet that careplan writes beside ``index.html``) or aborts
them. The list-only fallback is tested on a folder whose Leaflet is a city's own hosted copy
(``leaflet_js_url``) that cannot be reached, the one case left where the map cannot load.
Expected counts come from ``EXPECTED`` in tests/test_maps.py, worked out by hand.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import struct
import threading
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

_spec = importlib.util.spec_from_file_location(
    "_careplan_maps_testdata", Path(__file__).with_name("test_maps.py")
)
td = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(td)

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: A city's own Leaflet copy (the ``leaflet_js_url`` option); unreachable in these tests.
HOSTED = "https://maps.city.example/leaflet/1.9.3/"
LOCAL_PREFIXES = ("file://", "http://127.0.0.1", "data:", "blob:", "about:")


def _png(width: int, height: int) -> bytes:
    """A valid blank RGBA PNG (tile stand-in)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xee\xee\xee\xff" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


TILE = _png(256, 256)


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return td.build_public(tmp_path_factory.mktemp("site")).parent


@pytest.fixture(scope="module")
def hosted_site(tmp_path_factory) -> Path:
    """The folder made to load Leaflet from the city's own (here unreachable) server."""
    return td.build_public(
        tmp_path_factory.mktemp("hosted"),
        leaflet_js_url=HOSTED + "leaflet.js",
        leaflet_css_url=HOSTED + "leaflet.css",
    ).parent


@contextlib.contextmanager
def _serve(folder: Path):
    """``folder`` over http://127.0.0.1 (a city's web server, in small)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(site):
    with _serve(site) as base:
        yield base


@pytest.fixture(scope="module")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        yield b
        b.close()


class Page:
    """A page plus what it said: console errors, uncaught errors, dialogs, external requests."""

    def __init__(self, browser, *, tiles: bool, width: int = 1280, height: int = 800):
        self.context = browser.new_context(
            viewport={"width": width, "height": height}, locale="ko-KR"
        )
        self.page = self.context.new_page()
        self.console_errors: list[tuple[str, str]] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.external: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        self.page.on("dialog", self._on_dialog)
        self.context.route("**/*", functools.partial(self._route, tiles=tiles))

    def _on_console(self, msg):
        if msg.type == "error":
            self.console_errors.append((msg.text, msg.location.get("url", "")))

    def _on_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _route(self, route, *, tiles: bool):
        url = route.request.url
        if url.startswith(LOCAL_PREFIXES):
            return route.continue_()
        self.external.append(url)
        if tiles and "tile.openstreetmap.org" in url:
            return route.fulfill(body=TILE, content_type="image/png")
        return route.abort()

    def open(self, url: str, *, expect_map: bool):
        self.page.goto(url)
        self.page.wait_for_selector("body.has-map" if expect_map else "body.no-map", timeout=15_000)
        return self.page

    def unexpected_errors(self) -> list[tuple[str, str]]:
        """Console errors other than the browser's own note for an external request we aborted.

        Chromium logs "Failed to load resource: net::ERR_FAILED" for every aborted
        request; the app itself logs nothing. Only those notes, and only for URLs
        outside the site, are filtered.
        """
        return [
            (text, url)
            for text, url in self.console_errors
            if not (text.startswith("Failed to load resource") and url in self.external)
        ]

    def close(self):
        self.context.close()


def _count(page) -> int:
    return page.locator("#facility-list > li").count()


def _ids(page) -> list[str]:
    return page.eval_on_selector_all("#facility-list > li", "els => els.map(e => e.dataset.id)")


@pytest.fixture(scope="module")
def _offline_page(browser, hosted_site):
    p = Page(browser, tiles=False)
    yield p
    p.close()


@pytest.fixture
def offline(_offline_page, hosted_site):
    """A fresh load of the list-only fallback: the city's Leaflet unreachable, every external
    request aborted (one shared tab, reloaded)."""
    p = _offline_page
    p.page.emulate_media(media="screen")
    p.page.set_viewport_size({"width": 1280, "height": 800})
    page = p.open((hosted_site / "index.html").as_uri(), expect_map=False)
    yield page
    assert p.page_errors == [] and p.dialogs == []
    assert p.unexpected_errors() == []
    for seen in (p.console_errors, p.page_errors, p.dialogs, p.external):
        seen.clear()


@pytest.fixture(scope="module")
def _leaflet_page(browser, site):
    p = Page(browser, tiles=True)
    yield p
    p.close()


@pytest.fixture
def mapped(_leaflet_page, site):
    """A fresh load with the folder's own Leaflet and blank tiles: not one console error."""
    p = _leaflet_page
    p.page.set_viewport_size({"width": 1280, "height": 800})
    page = p.open((site / "index.html").as_uri(), expect_map=True)
    yield page
    assert p.console_errors == [] and p.page_errors == [] and p.dialogs == []
    for seen in (p.console_errors, p.page_errors, p.dialogs, p.external):
        seen.clear()


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("how", ["file", "http"])
def test_offline_page_draws_the_map_with_its_own_leaflet(browser, site, server, how):
    p = Page(browser, tiles=False)
    url = (site / "index.html").as_uri() if how == "file" else server + "/index.html"
    page = p.open(url, expect_map=True)
    assert _count(page) == td.EXPECTED["all"] == page.locator(".cp-marker").count()
    assert page.locator("#result-count").inner_text() == "시설 9곳"
    assert page.locator("#map-status").count() == 0
    # The only external requests were the optional tiles, and they failed quietly.
    assert p.external and all(u.startswith("https://tile.openstreetmap.org/") for u in p.external)
    assert p.page_errors == [] and p.dialogs == [] and p.unexpected_errors() == []
    p.close()


@pytest.mark.parametrize("how", ["file", "http"])
def test_unreachable_hosted_leaflet_falls_back_to_list(browser, hosted_site, how):
    p = Page(browser, tiles=False)
    if how == "file":
        url = (hosted_site / "index.html").as_uri()
        page = p.open(url, expect_map=False)
    else:
        with _serve(hosted_site) as base:
            page = p.open(base + "/index.html", expect_map=False)
    assert _count(page) == td.EXPECTED["all"]
    assert page.locator("#result-count").inner_text() == "시설 9곳"
    assert "지도를 불러오지 못했습니다" in page.locator("#map-status").inner_text()
    # The only external requests were the city's Leaflet files, and they failed quietly.
    assert sorted(p.external) == [HOSTED + "leaflet.css", HOSTED + "leaflet.js"]
    assert p.page_errors == [] and p.dialogs == [] and p.unexpected_errors() == []
    p.close()


def test_reachable_hosted_leaflet_copy_is_the_one_loaded(browser, hosted_site, site):
    p = Page(browser, tiles=True)
    served = []

    def city(route):  # the city's server, answering with the same Leaflet files
        served.append(route.request.url)
        name = route.request.url.rsplit("/", 1)[-1]
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return route.fulfill(path=str(site / name), content_type=kind)

    p.page.route(HOSTED + "*", city)  # page routes come before the context's
    page = p.open((hosted_site / "index.html").as_uri(), expect_map=True)
    assert sorted(served) == [HOSTED + "leaflet.css", HOSTED + "leaflet.js"]
    assert page.locator(".cp-marker").count() == td.EXPECTED["all"]
    assert p.console_errors == [] and p.page_errors == [] and p.dialogs == []
    p.close()


@pytest.mark.parametrize("how", ["file", "http"])
def test_with_leaflet_no_console_errors_and_markers_mirror_list(browser, site, server, how):
    p = Page(browser, tiles=True)
    url = (site / "index.html").as_uri() if how == "file" else server + "/index.html"
    page = p.open(url, expect_map=True)
    assert p.console_errors == [] and p.page_errors == [] and p.dialogs == []
    assert page.locator(".cp-marker").count() == td.EXPECTED["all"]
    page.select_option("#until", "22")
    assert page.locator(".cp-marker").count() == td.EXPECTED["until_22"] == _count(page)
    p.close()


# ------------------------------------------------------------------ filters


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (lambda pg: pg.select_option("#until", "18"), "until_18"),
        (lambda pg: pg.select_option("#until", "20"), "until_20"),
        (lambda pg: pg.select_option("#until", "22"), "until_22"),
        (lambda pg: pg.check("#vac"), "vacation"),
        (lambda pg: pg.check("#sat"), "saturday"),
        (lambda pg: pg.select_option("#grade", "1-2"), "grade_1_2"),
        (lambda pg: pg.select_option("#grade", "3-4"), "grade_3_4"),
        (lambda pg: pg.select_option("#grade", "5-6"), "grade_5_6"),
        (lambda pg: pg.select_option("#fee", "0"), "fee_free"),
        (lambda pg: pg.select_option("#fee", "50000"), "fee_50k"),
        (lambda pg: pg.select_option("#fee", "100000"), "fee_100k"),
        (lambda pg: pg.uncheck("#kind-filter input[value=dahamkke]"), "no_dahamkke"),
        (lambda pg: (pg.select_option("#until", "20"), pg.check("#sat")), "until_20_and_saturday"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_filters_give_hand_computed_counts(offline, action, expected):
    page = offline
    action(page)
    n = td.EXPECTED[expected]
    assert _count(page) == n
    assert page.locator("#result-count").inner_text() == f"시설 {n}곳"
    page.click("#reset")
    assert _count(page) == td.EXPECTED["all"]


def test_grade_filter_hides_preschool_and_keeps_the_right_ids(offline):
    offline.select_option("#grade", "5-6")
    assert sorted(_ids(offline)) == ["F01", "F03", "F04", "F06", "F09"]


# ------------------------------------------------------------------ search and school selection


def test_search_finds_school_and_lists_walkable_facilities(offline):
    page = offline
    page.fill("#q", "개명")
    buttons = page.locator("#school-results button")
    assert buttons.count() == 1
    assert buttons.first.inner_text().startswith("서울개명초등학교")
    assert _ids(page) == ["F05"]  # "개명초 돌봄교실" matches the text too
    buttons.first.click()
    assert _ids(page) == td.EXPECTED["near_B001"]
    assert (
        page.locator("#result-count").inner_text() == "서울개명초등학교에서 도보 10분 이내 시설 5곳"
    )
    walks = page.locator("#facility-list .card-walk").all_inner_texts()
    # ceil of 0, 1.95, 5.85, 7.8, 9.75 minutes (at least 1)
    assert walks == [f"서울개명초등학교에서 도보 약 {m}분" for m in (1, 2, 6, 8, 10)]
    assert page.locator("#selected-school").is_visible()
    # Filters still apply within the walk list: only the free ones (F05, F03).
    page.select_option("#fee", "0")
    assert _ids(page) == ["F05", "F03"]
    page.click("#clear-school")
    assert _count(page) == td.EXPECTED["fee_free"]


def test_enter_selects_school_found_by_name(offline):
    offline.fill("#q", "천왕초")
    offline.press("#q", "Enter")
    assert _ids(offline) == td.EXPECTED["near_B002"]


def test_search_by_address_text_and_hostile_school_name_is_text(offline):
    offline.fill("#q", "신도림로")
    button = offline.locator("#school-results button")
    assert button.count() == 1
    assert button.first.inner_text().splitlines()[0] == td.XSS_SCHOOL
    assert offline.locator("#school-results b").count() == 0
    button.first.click()
    assert _count(offline) == 0
    assert offline.locator("#result-count").inner_text().endswith("도보 10분 이내 시설 0곳")


# ------------------------------------------------------------------ escaping


def test_hostile_facility_names_show_as_text_and_run_nothing(offline):
    page = offline
    for name in (td.XSS_IMG, td.XSS_SCRIPT, td.XSS_TEMPLATE):
        assert page.get_by_text(name, exact=True).first.is_visible(), name
    assert page.locator("#facility-list img").count() == 0
    assert page.locator("#facility-list script").count() == 0
    assert page.evaluate("() => window.__pwned === undefined")
    # Print sheet builds a table from the same strings.
    page.select_option("#print-adm", td.ADM_GAEBONG)
    assert page.locator("#print-sheet td", has_text="<img src=x").count() == 1
    assert page.locator("#print-sheet img").count() == 0


def test_hostile_name_in_map_popup_and_tooltip_is_text(mapped):
    page = mapped
    page.locator("#facility-list li[data-id=F03] .show-on-map").click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert td.XSS_IMG in popup.inner_text()
    assert popup.locator("img").count() == 0
    page.select_option("#fee", "0")
    page.locator(".cp-marker").first.hover()
    assert page.locator(".leaflet-tooltip img").count() == 0


def test_selecting_school_draws_its_zones_on_the_map(mapped):
    page = mapped
    before = page.locator("path.leaflet-interactive").count()  # the 3 school circles
    page.fill("#q", "개명초등")
    page.locator("#school-results button").first.click()
    # Z001 and Z002 (shared) polygons plus the selected-school ring.
    assert page.locator("path.leaflet-interactive").count() == before + 3
    assert page.locator(".cp-marker").count() == 5


# ------------------------------------------------------------------ accessibility


def test_keyboard_only_search_and_select(offline):
    page = offline
    assert page.get_attribute("#result-count", "aria-live") == "polite"
    page.focus("#q")
    page.keyboard.type("천왕")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.className")
    assert focused == "school-button"
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # :focus-visible style after keyboard navigation
    page.keyboard.press("Enter")
    assert _ids(page) == td.EXPECTED["near_B002"]
    assert page.evaluate("() => document.activeElement.id") == "facility-list"
    # Cards are a semantic list of articles with headings.
    assert page.locator("#facility-list > li > article h3").count() == 2


# ------------------------------------------------------------------ layouts, print, screenshots


def test_desktop_and_phone_screenshots(offline, tmp_path):
    page = offline
    shots = {}
    for label, (w, h) in {"desktop": (1280, 800), "phone": (390, 844)}.items():
        page.set_viewport_size({"width": w, "height": h})
        path = tmp_path / f"{label}.png"
        page.screenshot(path=str(path), full_page=True)
        shots[label] = path
        panel = page.locator(".panel").bounding_box()
        # Without the map library the list takes the whole width (cards flow in columns on desktop).
        assert panel["width"] == pytest.approx(w, abs=1)
        columns = page.evaluate(
            "() => getComputedStyle(document.getElementById('facility-list'))"
            ".gridTemplateColumns.split(' ').length"
        )
        assert columns == (1 if label == "phone" else 3)
    page.set_viewport_size({"width": 1280, "height": 800})
    for label, path in shots.items():
        width, height = png_size(path)
        assert width == (1280 if label == "desktop" else 390)
        assert height >= 800
        assert path.stat().st_size > 20_000  # a real rendering, not a blank page


def test_desktop_layout_puts_list_beside_map(mapped, tmp_path):
    page = mapped
    map_box, panel_box = (
        page.locator(".map-wrap").bounding_box(),
        page.locator(".panel").bounding_box(),
    )
    assert panel_box["width"] <= 420 and map_box["x"] >= panel_box["x"] + panel_box["width"] - 1
    assert map_box["width"] >= 1280 - 420 - 1
    page.screenshot(path=str(tmp_path / "desktop_map.png"))
    assert png_size(tmp_path / "desktop_map.png") == (1280, 800)


def test_phone_layout_puts_map_above_list(mapped, tmp_path):
    page = mapped
    page.set_viewport_size({"width": 390, "height": 844})
    map_box, panel_box = (
        page.locator(".map-wrap").bounding_box(),
        page.locator(".panel").bounding_box(),
    )
    assert map_box["y"] < panel_box["y"] and map_box["width"] == pytest.approx(390, abs=1)
    assert map_box["height"] == pytest.approx(0.45 * 844, abs=2)
    page.screenshot(path=str(tmp_path / "phone_map.png"))
    assert png_size(tmp_path / "phone_map.png") == (390, 844)


def test_print_view_per_admin_area(offline, tmp_path):
    page = offline
    options = page.locator("#print-adm option").all_inner_texts()
    assert options == ["선택하세요", "개봉1동 (6곳)", "천왕동 (3곳)"]
    page.select_option("#print-adm", td.ADM_CHEONWANG)
    assert page.locator("#print-sheet tbody tr").count() == td.EXPECTED["adm_cheonwang"]
    page.select_option("#print-adm", td.ADM_GAEBONG)
    assert page.locator("#print-sheet tbody tr").count() == td.EXPECTED["adm_gaebong"]
    assert (
        page.locator("#print-sheet h2").inner_text()
        == "서울특별시 구로구 개봉1동 초등 돌봄 시설 안내 (6곳)"
    )
    page.emulate_media(media="print")
    assert not page.locator(".layout").is_visible()
    assert not page.locator(".print-controls").is_visible()
    assert page.locator("#print-sheet").is_visible()
    assert page.locator(".site-footer").is_visible()  # data date and sources stay on paper
    pdf = tmp_path / "gaebong.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000


def test_footer_has_data_date_and_sources_and_no_synthetic_banner(offline):
    footer = offline.locator(".site-footer").inner_text()
    assert "데이터 기준일 2025-05-31" in footer
    assert "공공데이터포털 — 공공누리" in footer and "© OpenStreetMap contributors (ODbL)" in footer
    assert "직선거리 × 우회계수 1.3" in footer
    assert offline.locator(".synthetic-banner").count() == 0


def test_synthetic_banner_visible(browser, tmp_path):
    index = td.build_public(tmp_path, synthetic=True)
    p = Page(browser, tiles=False)
    page = p.open(index.as_uri(), expect_map=True)
    assert page.locator(".synthetic-banner").inner_text().startswith("가상 데이터 (synthetic)")
    assert page.locator(".synthetic-banner").is_visible()
    p.close()


# ---------------------------------------------------- planner map (folium) in the browser


def test_planner_map_markers_and_escaped_popups_in_chromium(browser, tmp_path):
    from careplan.maps import planner_map, save_planner_map

    m = planner_map(
        facilities=td.make_facilities(),
        schools=td.make_schools(),
        distance_method_label="직선거리",
        synthetic=True,
    )
    path = save_planner_map(m, tmp_path / "plan.html")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems, dialogs, external = [], [], []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # The page carries Leaflet, jQuery and careplan's controls inline: only tiles go outside.
    def route(r):
        url = r.request.url
        if url.startswith(LOCAL_PREFIXES):
            return r.continue_()
        external.append(url)
        if url.startswith("https://tile.openstreetmap.org/"):
            return r.fulfill(body=TILE, content_type="image/png")
        return r.abort()

    context.route("**/*", route)
    page.goto(path.as_uri())
    markers = page.locator(".careplan-marker")
    markers.first.wait_for(state="attached")
    assert markers.count() == 10  # every facility, closed F10 included (planners see it)
    assert page.locator("path.leaflet-interactive").count() == 3  # school circles
    texts = []
    for i in range(markers.count()):
        markers.nth(i).dispatch_event("click")
        texts.append(
            page.locator(".leaflet-popup-content").last.inner_text()
        )  # the old one may be fading
    joined = "\n".join(texts)
    for name in (td.XSS_IMG, td.XSS_SCRIPT, td.XSS_TEMPLATE):
        assert f"시설명\t{name}" in joined, name
    assert "정원\t정원 20명 (상시) · 일시 5명" in joined and "학기 운영\t13:00–19:00" in joined
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert "가상 데이터 (synthetic)" in page.locator(".careplan-info").inner_text()
    assert problems == [] and dialogs == []
    assert external and all(u.startswith("https://tile.openstreetmap.org/") for u in external)
    context.close()
