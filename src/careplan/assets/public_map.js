/* careplan public 돌봄지도 — list, search and filters work without the map library.
 *
 * Rule: text from data enters the page only through textContent or attributes,
 * never through innerHTML, so a facility called "<img src=x onerror=...>" is shown
 * as those characters and runs nothing. */
(function () {
  "use strict";

  var D = window.CAREPLAN_DATA;
  var $ = function (id) { return document.getElementById(id); };
  var SVG_NS = "http://www.w3.org/2000/svg";

  if (!D) {
    $("result-count").textContent = "자료(data.js)를 불러오지 못했습니다.";
    return;
  }

  var state = { kinds: {}, until: 0, grade: "", fee: "", vac: false, sat: false, text: "", school: null };
  var byId = {};
  var cards = {};
  var map = null, markers = {}, markerLayer = null, schoolLayer = null, zoneLayer = null;

  D.facilities.forEach(function (f) { byId[f.id] = f; });
  Object.keys(D.kinds).forEach(function (k) { state.kinds[k] = true; });

  /* ---------- DOM helpers (text only) ---------- */
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function icon(kindKey, size) {
    var k = D.kinds[kindKey];
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("width", size || 22);
    svg.setAttribute("height", size || 22);
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var shape;
    if (k.shape === "circle") {
      shape = document.createElementNS(SVG_NS, "circle");
      shape.setAttribute("cx", "12"); shape.setAttribute("cy", "12"); shape.setAttribute("r", "10");
    } else if (k.shape === "square") {
      shape = document.createElementNS(SVG_NS, "rect");
      shape.setAttribute("x", "2.5"); shape.setAttribute("y", "2.5");
      shape.setAttribute("width", "19"); shape.setAttribute("height", "19"); shape.setAttribute("rx", "2");
    } else {
      shape = document.createElementNS(SVG_NS, "polygon");
      shape.setAttribute("points", k.shape === "diamond" ? "12,0.8 23.2,12 12,23.2 0.8,12" : "12,1 23.5,22 0.5,22");
    }
    shape.setAttribute("fill", k.colour);
    shape.setAttribute("stroke", "#FFFFFF");
    shape.setAttribute("stroke-width", "1.5");
    var text = document.createElementNS(SVG_NS, "text");
    text.setAttribute("x", "12");
    text.setAttribute("y", k.shape === "triangle" ? "19" : "16.5");
    text.setAttribute("text-anchor", "middle");
    text.setAttribute("font-size", "11");
    text.setAttribute("font-weight", "700");
    text.setAttribute("fill", k.text_colour);
    text.textContent = k.letter;
    svg.appendChild(shape);
    svg.appendChild(text);
    return svg;
  }

  function norm(s) { return String(s || "").replace(/\s+/g, "").toLowerCase(); }

  /* ---------- filters ---------- */
  function passesFilters(f) {
    if (!state.kinds[f.kind]) { return false; }
    if (state.until && !(f.term_close !== null && f.term_close >= state.until * 60)) { return false; }
    if (state.vac && !f.vacation) { return false; }
    if (state.sat && !f.saturday) { return false; }
    if (state.grade) {
      var band = state.grade.split("-").map(Number);
      // A facility fits the band when it serves at least one grade in it.
      if (f.min_grade === null || f.max_grade === null) { return false; }
      if (!(f.min_grade <= band[1] && f.max_grade >= band[0])) { return false; }
    }
    if (state.fee !== "") {
      if (f.fee_month === null || f.fee_month > Number(state.fee)) { return false; }
    }
    return true;
  }

  function visibleFacilities() {
    var list;
    if (state.school) {
      list = state.school.near.map(function (pair) {
        return { f: byId[pair[0]], minutes: pair[1] };
      }).filter(function (x) { return x.f && passesFilters(x.f); });
      list.sort(function (a, b) { return a.minutes - b.minutes; });
      return list;
    }
    var q = norm(state.text);
    list = D.facilities.filter(function (f) {
      return passesFilters(f) && (!q || norm(f.name).indexOf(q) >= 0 || norm(f.address).indexOf(q) >= 0);
    }).map(function (f) { return { f: f, minutes: null }; });
    return list;
  }

  function matchingSchools() {
    var q = norm(state.text);
    if (!q || state.school) { return []; }
    return D.schools.filter(function (s) {
      return norm(s.name).indexOf(q) >= 0 || norm(s.address).indexOf(q) >= 0;
    }).slice(0, 10);
  }

  /* ---------- facility card ---------- */
  function row(dl, label, value) {
    dl.appendChild(el("dt", null, label));
    dl.appendChild(el("dd", null, value));
  }

  function card(f, minutes) {
    var k = D.kinds[f.kind];
    var li = el("li", "facility");
    li.dataset.id = f.id;
    li.dataset.kind = f.kind;
    var art = el("article", "card");
    var head = el("h3", "card-title");
    head.appendChild(icon(f.kind, 22));
    head.appendChild(el("span", "card-name", f.name));
    art.appendChild(head);
    art.appendChild(el("p", "card-kind", k.label));
    if (minutes !== null) {
      art.appendChild(el("p", "card-walk", state.school.name + "에서 도보 약 " + Math.max(1, Math.ceil(minutes)) + "분"));
    }
    var dl = el("dl", "card-facts");
    row(dl, "정원", f.capacity_txt);
    row(dl, "학기 중", f.term_txt);
    row(dl, "방학 중", f.vacation_txt);
    row(dl, "토요일", f.saturday_txt);
    row(dl, "이용료", f.fee_txt);
    row(dl, "대상 학년", f.grades_txt);
    row(dl, "이용 대상", k.eligibility);
    row(dl, "주소", f.address || "미공개");
    if (f.phone) { row(dl, "전화", f.phone); }
    art.appendChild(dl);
    if (f.defaults_used) {
      art.appendChild(el("p", "card-note", "일부 값(운영시간·정원)은 시설 유형의 일반 기준이며 실제와 다를 수 있습니다."));
    }
    art.appendChild(el("p", "card-note", "데이터 기준일 " + (f.data_date || D.meta.data_date) + " · 운영기관 제출 자료(self-reported)"));
    if (map) {
      var btn = el("button", "show-on-map", "지도에서 보기");
      btn.type = "button";
      btn.setAttribute("aria-label", f.name + " 지도에서 보기");
      btn.addEventListener("click", function () { focusMarker(f.id); });
      art.appendChild(btn);
    }
    li.appendChild(art);
    return li;
  }

  /* ---------- render ---------- */
  function render() {
    var items = visibleFacilities();
    var list = $("facility-list");
    list.textContent = "";
    cards = {};
    items.forEach(function (x) {
      var c = card(x.f, x.minutes);
      cards[x.f.id] = c;
      list.appendChild(c);
    });

    var schools = matchingSchools();
    var sr = $("school-results");
    sr.textContent = "";
    schools.forEach(function (s) {
      var li = el("li");
      var b = el("button", "school-button", s.name);
      b.type = "button";
      b.appendChild(el("span", "school-address", s.address || ""));
      b.addEventListener("click", function () { selectSchool(s.id); });
      li.appendChild(b);
      sr.appendChild(li);
    });

    var msg = "시설 " + items.length + "곳";
    if (state.school) {
      msg = state.school.name + "에서 도보 " + D.meta.walk_minutes + "분 이내 시설 " + items.length + "곳";
    } else if (schools.length) {
      msg += " · 학교 " + schools.length + "곳 찾음 (학교를 고르면 도보 " + D.meta.walk_minutes + "분 이내 시설을 보여 줍니다)";
    }
    $("result-count").textContent = msg;
    updateMarkers(items);
  }

  /* ---------- school selection ---------- */
  function selectSchool(id) {
    var s = D.schools.filter(function (x) { return x.id === id; })[0];
    if (!s) { return; }
    state.school = s;
    $("q").value = s.name;
    $("selected-school").hidden = false;
    $("selected-school-text").textContent = "선택한 학교: " + s.name + " (" + D.meta.distance_label + ")";
    render();
    showSchoolOnMap(s);
    // The clicked result button is gone after render(); keep keyboard focus in the page.
    $("facility-list").focus();
  }

  function clearSchool() {
    state.school = null;
    state.text = "";
    $("q").value = "";
    $("selected-school").hidden = true;
    if (zoneLayer) { zoneLayer.clearLayers(); }
    render();
    $("q").focus();
  }

  /* ---------- controls ---------- */
  function buildKindFilter() {
    var fs = $("kind-filter");
    Object.keys(D.kinds).forEach(function (key) {
      var k = D.kinds[key];
      var label = el("label", "kind-option");
      var box = el("input");
      box.type = "checkbox";
      box.checked = true;
      box.value = key;
      box.addEventListener("change", function () { state.kinds[key] = box.checked; render(); });
      label.appendChild(box);
      label.appendChild(icon(key, 18));
      label.appendChild(el("span", "kind-label", k.label + " (" + k.count + ")"));
      label.appendChild(el("span", "kind-who", k.eligibility));
      fs.appendChild(label);
    });
  }

  function bindControls() {
    $("q").addEventListener("input", function (e) {
      if (state.school) { state.school = null; $("selected-school").hidden = true; if (zoneLayer) { zoneLayer.clearLayers(); } }
      state.text = e.target.value;
      render();
    });
    $("q").addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        var found = matchingSchools();
        if (found.length) { selectSchool(found[0].id); }
      }
    });
    $("clear-school").addEventListener("click", clearSchool);
    $("until").addEventListener("change", function (e) { state.until = Number(e.target.value) || 0; render(); });
    $("grade").addEventListener("change", function (e) { state.grade = e.target.value; render(); });
    $("fee").addEventListener("change", function (e) { state.fee = e.target.value; render(); });
    $("vac").addEventListener("change", function (e) { state.vac = e.target.checked; render(); });
    $("sat").addEventListener("change", function (e) { state.sat = e.target.checked; render(); });
    $("reset").addEventListener("click", function () {
      ["until", "grade", "fee"].forEach(function (id) { $(id).value = ""; });
      $("vac").checked = false; $("sat").checked = false;
      Array.prototype.forEach.call(document.querySelectorAll("#kind-filter input"), function (b) { b.checked = true; });
      state.until = 0; state.grade = ""; state.fee = ""; state.vac = false; state.sat = false;
      Object.keys(D.kinds).forEach(function (k) { state.kinds[k] = true; });
      render();
    });
  }

  /* ---------- print view per 행정동 ---------- */
  function buildPrint() {
    var sel = $("print-adm");
    D.adms.forEach(function (a) {
      var o = el("option", null, a.name + " (" + a.count + "곳)");
      o.value = a.code;
      sel.appendChild(o);
    });
    if (!D.adms.length) { $("print-section").hidden = true; return; }
    sel.addEventListener("change", function () { renderPrint(sel.value); });
    $("print-button").addEventListener("click", function () {
      if (!sel.value) { sel.focus(); return; }
      window.print();
    });
  }

  function renderPrint(code) {
    var sheet = $("print-sheet");
    sheet.textContent = "";
    var adm = D.adms.filter(function (a) { return a.code === code; })[0];
    if (!adm) { sheet.hidden = true; document.body.classList.remove("has-print-sheet"); return; }
    var fs = D.facilities.filter(function (f) { return f.adm === code; });
    sheet.appendChild(el("h2", null, adm.full_name + " 초등 돌봄 시설 안내 (" + fs.length + "곳)"));
    sheet.appendChild(el("p", null, "데이터 기준일 " + D.meta.data_date + " · 운영기관 제출 자료로 실제와 다를 수 있으니 이용 전 시설에 확인하세요."));
    if (!fs.length) {
      sheet.appendChild(el("p", "print-empty", "이 행정동에 등록된 돌봄 시설이 없습니다."));
    } else {
      var table = el("table", "print-table");
      var thead = el("thead"), tr = el("tr");
      ["시설명", "유형", "학기 중", "방학 중", "토요일", "이용료", "대상", "주소", "전화"].forEach(function (h) {
        var th = el("th", null, h); th.scope = "col"; tr.appendChild(th);
      });
      thead.appendChild(tr);
      table.appendChild(thead);
      var tbody = el("tbody");
      fs.forEach(function (f) {
        var r = el("tr");
        [f.name, D.kinds[f.kind].label, f.term_txt, f.vacation_txt, f.saturday_txt, f.fee_txt,
          f.grades_txt, f.address || "", f.phone || ""].forEach(function (v) { r.appendChild(el("td", null, v)); });
        tbody.appendChild(r);
      });
      table.appendChild(tbody);
      sheet.appendChild(table);
    }
    var src = el("p", "print-sources", "출처: " + D.meta.attributions.join(" · "));
    sheet.appendChild(src);
    sheet.hidden = false;
    document.body.classList.add("has-print-sheet");
  }

  /* ---------- map (optional: only when Leaflet loads) ---------- */
  function mapUnavailable() {
    var status = $("map-status");
    status.textContent = "지도를 불러오지 못했습니다 (오프라인이거나 지도 서버에 연결할 수 없음). 목록에서 모든 시설을 볼 수 있습니다.";
    document.body.classList.add("no-map");
  }

  function loadLeaflet() {
    var jsUrl = document.body.getAttribute("data-leaflet-js");
    var cssUrl = document.body.getAttribute("data-leaflet-css");
    if (!jsUrl) { mapUnavailable(); return; }
    if (cssUrl) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = cssUrl;
      document.head.appendChild(link);
    }
    var script = document.createElement("script");
    script.src = jsUrl;
    script.async = true;
    // A failed load is expected offline: fall back to the list, log nothing.
    script.onerror = mapUnavailable;
    script.onload = function () {
      if (window.L && typeof window.L.map === "function") { initMap(); } else { mapUnavailable(); }
    };
    document.head.appendChild(script);
    // A CDN that never answers fires neither event for a long time: say so after
    // 10 s (the list works meanwhile); a late load still brings the map in.
    window.setTimeout(function () { if (!map) { mapUnavailable(); } }, 10000);
  }

  function textNode(text) { return el("span", null, text); }

  function initMap() {
    var L = window.L;
    if (map) { return; }
    document.body.classList.remove("no-map");
    $("map-status").remove();
    map = L.map("map", { zoomControl: true });
    L.tileLayer(D.meta.tile_url, { maxZoom: 19, attribution: D.meta.tile_attribution_html }).addTo(map);
    L.control.scale({ imperial: false }).addTo(map);
    zoneLayer = L.layerGroup().addTo(map);
    schoolLayer = L.layerGroup().addTo(map);
    markerLayer = L.layerGroup().addTo(map);
    D.facilities.forEach(function (f) {
      var wrapper = el("div", "marker-icon");
      wrapper.appendChild(icon(f.kind, 24));
      var m = L.marker([f.lat, f.lon], {
        icon: L.divIcon({ html: wrapper, className: "cp-marker", iconSize: [24, 24], iconAnchor: [12, 12] }),
        title: f.name,
        alt: f.name + " (" + D.kinds[f.kind].label + ")",
        keyboard: true
      });
      m.bindTooltip(textNode(f.name));
      m.bindPopup(function () { var c = card(f, null); return c; }, { maxWidth: 320 });
      m.on("click", function () { highlightCard(f.id); });
      markers[f.id] = m;
    });
    D.schools.forEach(function (s) {
      var cm = L.circleMarker([s.lat, s.lon], { radius: 5, color: "#000", weight: 2, fillColor: "#fff", fillOpacity: 1 });
      cm.bindTooltip(textNode(s.name));
      cm.on("click", function () { selectSchool(s.id); });
      schoolLayer.addLayer(cm);
    });
    var b = D.meta.bounds;
    map.fitBounds([[b[1], b[0]], [b[3], b[2]]], { padding: [20, 20] });
    document.body.classList.add("has-map");
    render();
    if (state.school) { showSchoolOnMap(state.school); }
  }

  function updateMarkers(items) {
    if (!map) { return; }
    markerLayer.clearLayers();
    items.forEach(function (x) { markerLayer.addLayer(markers[x.f.id]); });
  }

  function showSchoolOnMap(s) {
    if (!map) { return; }
    zoneLayer.clearLayers();
    var bounds = L.latLngBounds([[s.lat, s.lon], [s.lat, s.lon]]);
    s.zones.forEach(function (zid) {
      var z = D.zones[zid];
      if (!z) { return; }
      var g = L.geoJSON(z.geometry, { style: { color: "#0072B2", weight: 2, fillOpacity: 0.08 } });
      g.bindTooltip(textNode(z.name));
      zoneLayer.addLayer(g);
      bounds.extend(g.getBounds());
    });
    zoneLayer.addLayer(L.circleMarker([s.lat, s.lon], { radius: 9, color: "#D55E00", weight: 3, fillOpacity: 0 }));
    s.near.forEach(function (pair) { var f = byId[pair[0]]; if (f) { bounds.extend([f.lat, f.lon]); } });
    map.fitBounds(bounds, { padding: [20, 20] });
  }

  function focusMarker(id) {
    var m = markers[id];
    if (!map || !m) { return; }
    map.setView(m.getLatLng(), Math.max(map.getZoom(), 16));
    m.openPopup();
  }

  function highlightCard(id) {
    Object.keys(cards).forEach(function (k) { cards[k].classList.remove("active"); });
    var c = cards[id];
    if (c) {
      c.classList.add("active");
      c.scrollIntoView({ block: "nearest" });
    }
  }

  buildKindFilter();
  bindControls();
  buildPrint();
  render();
  loadLeaflet();
})();
