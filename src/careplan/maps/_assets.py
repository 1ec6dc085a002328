"""Web assets written with careplan's HTML outputs: nothing is loaded from a CDN.

Leaflet (``XStatic-Leaflet``), jQuery (``XStatic-jQuery``, folium's popups call ``$(…)``) and
d3 (``XStatic-D3``, branca's colour legends) come from installed packages. The planner and
comparison maps carry them inline, so each is one self-contained HTML file (e-mailed and
printed for 결재); the public 돌봄지도 gets Leaflet as files beside its ``index.html``.

folium's other default assets (bootstrap, glyphicons, font-awesome, awesome-markers and its
rotate CSS) are dropped: careplan draws DivIcons and circle markers only. The plugins careplan
used are replaced by :data:`HELPERS_JS`, careplan's own few lines (a fullscreen control and
the map sync DualMap calls) — see docs/design-changes.md.
"""

from __future__ import annotations

import base64
import functools
import re
import shutil
from pathlib import Path

from branca.element import CssLink, Element, JavascriptLink
from folium.template import Template

from .._errors import SettingsError
from ._common import LiteralMacroElement

__all__ = [
    "FOLIUM_DROPPED",
    "HELPERS_JS",
    "FullscreenControl",
    "OfflineAssets",
    "add_offline_assets",
    "leaflet_css_inline",
    "library_text",
    "write_leaflet_files",
]

#: folium/branca script links that careplan replaces with inline library text:
#: link name -> (XStatic package, file). ``leaflet_css`` becomes :func:`leaflet_css_inline`.
_INLINE = {
    "leaflet": ("leaflet", "leaflet.js"),
    "jquery": ("jquery", "jquery.min.js"),
    "d3": ("d3", "d3.js"),
}

#: folium default assets (and plugin scripts) that nothing careplan draws needs.
FOLIUM_DROPPED = frozenset(
    {
        "bootstrap",
        "awesome_markers",
        "bootstrap_css",
        "glyphicons_css",
        "awesome_markers_font_css",
        "awesome_markers_css",
        "awesome_rotate_css",
        "Leaflet.Sync",  # careplan's own ``sync`` in HELPERS_JS
    }
)

#: careplan's own Leaflet additions: a fullscreen control (browser Fullscreen API) and the
#: ``map.sync(other)`` that folium's DualMap template calls.
HELPERS_JS = """(function () {
  if (!window.L) { return; }
  var doc = document;
  function fullElement() { return doc.fullscreenElement || doc.webkitFullscreenElement || null; }
  L.Control.CareplanFullscreen = L.Control.extend({
    options: {position: "topleft", title: "전체 화면", titleCancel: "전체 화면 종료"},
    onAdd: function () {
      var bar = L.DomUtil.create("div", "leaflet-bar careplan-fullscreen");
      var link = L.DomUtil.create("a", "careplan-fullscreen-button", bar);
      var options = this.options;
      link.href = "#";
      link.setAttribute("role", "button");
      link.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">' +
        '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" ' +
        'stroke-width="2"/></svg>';
      function label() {
        var text = fullElement() ? options.titleCancel : options.title;
        link.title = text;
        link.setAttribute("aria-label", text);
      }
      label();
      L.DomEvent.disableClickPropagation(bar);
      L.DomEvent.on(link, "click", function (e) {
        L.DomEvent.preventDefault(e);
        var done = fullElement() ? doc.exitFullscreen() : doc.documentElement.requestFullscreen();
        if (done && done.catch) { done.catch(function () { label(); }); }
      });
      doc.addEventListener("fullscreenchange", label);
      return bar;
    }
  });
  L.control.careplanFullscreen = function (o) { return new L.Control.CareplanFullscreen(o); };
  L.Map.include({
    sync: function (other) {
      var self = this;
      self.on("move zoomend", function () {
        if (self._careplanSyncing) { return; }
        var centre = self.getCenter(), zoom = self.getZoom(), there = other.getCenter();
        if (zoom === other.getZoom() && centre.equals(there)) { return; }
        other._careplanSyncing = true;
        try { other.setView(centre, zoom, {animate: false}); }
        finally { other._careplanSyncing = false; }
      });
      return self;
    }
  });
})();"""

_FULLSCREEN_CSS = (
    "<style>.careplan-fullscreen a {display: flex; align-items: center; justify-content: center;"
    " cursor: pointer;}</style>"
)


def _package_dir(name: str) -> Path:
    if name == "leaflet":
        import xstatic.pkg.leaflet as pkg
    elif name == "jquery":
        import xstatic.pkg.jquery as pkg
    else:
        import xstatic.pkg.d3 as pkg
    return Path(pkg.BASE_DIR)


_SOURCE_MAP = re.compile(r"^\s*//[#@] sourceMappingURL=.*$", re.MULTILINE)


@functools.cache
def library_text(package: str, filename: str) -> str:
    """A library file's text, without its source-map comment (nothing to fetch).

    Refuses a text that would end an inline ``<script>`` early.
    """
    text = (_package_dir(package) / filename).read_text(encoding="utf-8")
    text = _SOURCE_MAP.sub("", text).rstrip() + "\n"
    if re.search(r"</script|<!--", text, flags=re.IGNORECASE):
        msg = f"{package}/{filename} cannot be inlined: it contains '</script' or '<!--'"
        raise RuntimeError(msg)
    return text


@functools.cache
def _leaflet_css() -> str:
    """leaflet.css without its comments (one names a bug tracker's URL: nothing a page loads)."""
    return re.sub(r"/\*.*?\*/", "", library_text("leaflet", "leaflet.css"), flags=re.DOTALL)


@functools.cache
def leaflet_css_inline() -> str:
    """leaflet.css (comments removed) with its ``url(images/…)`` images as ``data:`` URIs."""
    images = _package_dir("leaflet") / "images"

    def data_uri(match: re.Match) -> str:
        raw = (images / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(raw).decode('ascii')})"

    return re.sub(r"url\(images/([\w.-]+\.png)\)", data_uri, _leaflet_css())


def write_leaflet_files(folder: Path) -> list[Path]:
    """Copy leaflet.js, leaflet.css and its images/ into ``folder``; returns the files written."""
    source = _package_dir("leaflet")
    written = []
    for name, text in (("leaflet.js", library_text("leaflet", "leaflet.js")),
                       ("leaflet.css", _leaflet_css())):
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    (folder / "images").mkdir(exist_ok=True)
    for image in sorted((source / "images").glob("*.png")):
        shutil.copyfile(image, folder / "images" / image.name)
        written.append(folder / "images" / image.name)
    return written


class _Inline(Element):
    """Library text placed in the page as a value: never compiled as a Jinja template."""

    def __init__(self, text: str):
        super().__init__()
        self._name = "InlineAsset"
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


def _inline_for(name: str) -> list[tuple[str, Element]]:
    if name == "leaflet_css":
        return [("leaflet_css", _Inline(f"<style>\n{leaflet_css_inline()}</style>"))]
    package, filename = _INLINE[name]
    items = [(name, _Inline(f"<script>\n{library_text(package, filename)}</script>"))]
    if name == "leaflet":
        items.append(("careplan_helpers", _Inline(f"<script>\n{HELPERS_JS}\n</script>")))
        items.append(("careplan_helpers_css", _Inline(_FULLSCREEN_CSS)))
    return items


class OfflineAssets(Element):
    """Swaps the page's CDN links for inline library text; must render after every other child.

    Runs in the first pass of branca's render (children render before the page template), when
    every element has added its links to the page header. A link this module does not know
    stops the render: careplan's outputs load nothing from the internet.
    """

    def __init__(self):
        super().__init__()
        self._name = "CareplanOfflineAssets"

    def render(self, **kwargs) -> str:
        header = self.get_root().header
        items: list[tuple[str, Element]] = []
        for key, child in header._children.items():
            if not isinstance(child, JavascriptLink | CssLink):
                items.append((key, child))
            elif key in FOLIUM_DROPPED:
                continue
            elif key in _INLINE or key == "leaflet_css":
                items.extend(_inline_for(key))
            else:
                msg = (
                    f"the map was not written: it would load {child.url!r} ({key}) from the "
                    "internet, and careplan's outputs must work offline (docs/design-changes.md); "
                    "draw the layer with plain Leaflet instead of that plugin"
                )
                raise SettingsError(msg)
        header._children = type(header._children)(items)
        for _key, child in items:
            child._parent = header
        return ""


class FullscreenControl(LiteralMacroElement):
    """careplan's fullscreen button on a map (the code is in :data:`HELPERS_JS`)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.careplanFullscreen({title: "전체 화면", titleCancel: "전체 화면 종료"})
          .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self):
        super().__init__()
        self._name = "CareplanFullscreen"


_ASSETS_NAME = "careplan_offline_assets"


def add_offline_assets(root: Element) -> None:
    """Make :class:`OfflineAssets` a child of ``root`` placed last (idempotent)."""
    root._children.pop(_ASSETS_NAME, None)
    root.add_child(OfflineAssets(), name=_ASSETS_NAME)
