/* wangge web map: grids coloured by household load (in the band of the version shown, from
   /versions), labels, toggles, click panel, search. */
"use strict";
(function () {
  const state = { ready: false, version: null, highlighted: null, panelCode: null, tiles: [] };
  window.wangge = state;
  const $ = (id) => document.getElementById(id);
  const LOAD_COLOURS = ["match", ["get", "load"], "under", "#4e79a7", "within", "#59a14f",
    "over", "#e15759", "dedicated", "#b07aa1", "#999999"];

  function tileUrl(v) { return `${location.origin}/tiles/${v}/{z}/{x}/{y}.mvt`; }

  function style(version) {
    return {
      version: 8,
      sources: {
        basemap: { type: "vector", tiles: [`${location.origin}/basemap/{z}/{x}/{y}.mvt`],
          minzoom: 10, maxzoom: 16, attribution: "© OpenStreetMap contributors" },
        plan: { type: "vector", tiles: [tileUrl(version)], minzoom: 0, maxzoom: 18,
          attribution: "© OpenStreetMap contributors" },
      },
      layers: [
        { id: "background", type: "background", paint: { "background-color": "#f4f1ea" } },
        { id: "buildings", type: "fill", source: "basemap", "source-layer": "buildings",
          paint: { "fill-color": "#d9d0c1", "fill-outline-color": "#c4b9a6" } },
        { id: "roads", type: "line", source: "basemap", "source-layer": "roads",
          paint: { "line-color": "#ffffff", "line-width": 2 } },
        { id: "grids-fill", type: "fill", source: "plan", "source-layer": "grids",
          filter: ["!=", ["get", "kind"], "dedicated"],
          paint: { "fill-color": LOAD_COLOURS, "fill-opacity": 0.45 } },
        { id: "dedicated-fill", type: "fill", source: "plan", "source-layer": "grids",
          filter: ["==", ["get", "kind"], "dedicated"],
          paint: { "fill-color": "#b07aa1", "fill-opacity": 0.5 } },
        { id: "grids-line", type: "line", source: "plan", "source-layer": "grids",
          paint: { "line-color": "#333333", "line-width": 1.2 } },
        { id: "cells-line", type: "line", source: "plan", "source-layer": "cells",
          paint: { "line-color": "#666666", "line-width": 0.6, "line-dasharray": [2, 2] } },
        { id: "units-line", type: "line", source: "plan", "source-layer": "units",
          paint: { "line-color": "#000000", "line-width": 2.5 } },
        { id: "highlight", type: "line", source: "plan", "source-layer": "grids",
          filter: ["==", ["get", "grid_code"], ""],
          paint: { "line-color": "#ffd400", "line-width": 5 } },
      ],
    };
  }

  async function getJSON(url) {
    const r = await fetch(url);
    const body = await r.json();
    if (!r.ok) { throw new Error(body.detail || r.statusText); }
    return body;
  }

  function message(text) { $("message").textContent = text || ""; }

  // The legend shows the band of the version on the map (each version has its own band).
  function showBand(version) {
    const b = version && version.band;
    state.band = b || null;
    if (!b) { return; }
    $("legend-under").textContent = `under ${b.min_households}`;
    $("legend-within").textContent = `${b.min_households}–${b.max_households}`;
    $("legend-over").textContent = `over ${b.max_households}`;
    $("legend").title = `households per grid: band ${b.min_households}–${b.max_households}, target ${b.target} (version ${version.id})`;
  }

  function highlight(code) {
    state.highlighted = code;
    map.setFilter("highlight", ["==", ["get", "grid_code"], code || ""]);
  }

  function esc(s) {
    return String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }

  function showPanel(result) {
    const g = result.grid;
    state.panelCode = g.grid_code;
    const parents = result.parents.map((p) => `${esc(p.name || "")} ${esc(p.code)}`).join(" › ");
    const staff = result.staff.length
      ? result.staff.map((s) => `${esc(s.name)} (${esc(s.role)}) ${esc(s.phone || "")}`).join("<br>")
      : "—";
    const panel = $("panel");
    panel.innerHTML = `<h2 id="panel-code">${esc(g.grid_code)}</h2><dl>
      <dt>kind</dt><dd>${esc(g.kind)}</dd>
      <dt>households</dt><dd id="panel-households">${esc(g.households)} (${esc(g.load)})</dd>
      <dt>parent</dt><dd>${parents}</dd>
      <dt>worker</dt><dd>${staff}</dd>
      <dt>version</dt><dd>${esc(result.version.id)}</dd></dl>`;
    panel.hidden = false;
  }

  async function lookupAt(lon, lat, crs) {
    const q = new URLSearchParams({ lon, lat, crs: crs || "wgs84" });
    if (state.asOf) { q.set("as_of", state.asOf); }
    try {
      const result = await getJSON(`/lookup?${q}`);
      highlight(result.grid.grid_code);
      showPanel(result);
      message("");
      return result;
    } catch (err) {
      highlight(null);
      $("panel").hidden = true;
      message(err.message);
      return null;
    }
  }

  async function search(text) {
    const m = text.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)\s*$/);
    if (m) {
      const result = await lookupAt(m[1], m[2], $("crs").value);
      if (result) { map.flyTo({ center: [result.lon, result.lat], zoom: Math.max(map.getZoom(), 15) }); }
      return;
    }
    try {
      const found = await getJSON(`/lookup/address?${new URLSearchParams({ q: text, limit: 1 })}`);
      const best = found.candidates[0];
      if (found.match === "none" || !best) { message("未找到匹配的地址"); return; }
      if (found.match === "ambiguous") {
        const names = found.candidates.map((c) => c.address).join("；");
        message(`有多个可能的地址：${names}。请补充道路门牌、小区或区县`);
        return;
      }
      map.flyTo({ center: [best.lon, best.lat], zoom: Math.max(map.getZoom(), 15) });
      await lookupAt(best.lon, best.lat, "wgs84");
      const sure = found.match === "exact" ? "精确匹配" : "可能匹配，请核对";
      message(`${best.address}（${sure}）`);
    } catch (err) { message(err.message); }
  }

  const markers = new Map();
  function updateLabels() {
    if (map.getZoom() < 13) { markers.forEach((mk) => mk.remove()); markers.clear(); return; }
    const seen = new Set();
    for (const f of map.querySourceFeatures("plan", { sourceLayer: "grid_labels" })) {
      const code = f.properties.grid_code;
      if (seen.has(code)) { continue; }
      seen.add(code);
      if (!markers.has(code)) {
        const el = document.createElement("div");
        el.className = "grid-label";
        el.textContent = code.slice(-4);
        el.title = code;
        markers.set(code, new maplibregl.Marker({ element: el }).setLngLat(f.geometry.coordinates).addTo(map));
      }
    }
    for (const [code, mk] of markers) { if (!seen.has(code)) { mk.remove(); markers.delete(code); } }
  }

  let map;
  async function start() {
    const versions = await getJSON("/versions");
    const live = versions.find((v) => v.live) || versions[versions.length - 1];
    const select = $("version");
    for (const v of versions.slice().reverse()) {
      const o = document.createElement("option");
      o.value = v.id; o.textContent = `v${v.id}${v.live ? " (live)" : ""} ${v.valid_from.slice(0, 10)}`;
      select.appendChild(o);
    }
    state.version = live ? live.id : null;
    select.value = state.version;
    showBand(live);
    const tj = await getJSON(`/tiles/${state.version}/tilejson.json`);
    map = new maplibregl.Map({
      container: "map", style: style(state.version), bounds: [[tj.bounds[0], tj.bounds[1]], [tj.bounds[2], tj.bounds[3]]],
      fitBoundsOptions: { padding: 20 }, attributionControl: false,
    });
    map.addControl(new maplibregl.AttributionControl({ compact: false, customAttribution: "© OpenStreetMap contributors" }));
    map.addControl(new maplibregl.NavigationControl(), "bottom-right");
    state.map = map;
    map.on("error", (e) => {
      // MapLibre reports a cancelled request (the tiles of a version just left) as AbortError
      if (e.error && (e.error.name === "AbortError" || e.error.message === "AbortError")) { return; }
      console.error("map error", e.error && e.error.message);
    });
    map.on("idle", () => { updateLabels(); state.ready = true; });
    map.on("click", (e) => { state.lastClick = [e.lngLat.lng, e.lngLat.lat]; lookupAt(e.lngLat.lng, e.lngLat.lat, "wgs84"); });
    select.addEventListener("change", () => {
      state.version = Number(select.value);
      const v = versions.find((x) => x.id === state.version);
      state.asOf = v && !v.live ? v.valid_from : null;
      showBand(v);
      state.ready = false;
      map.getSource("plan").setTiles([tileUrl(state.version)]);
      markers.forEach((mk) => mk.remove()); markers.clear();
      highlight(null);
    });
    for (const box of document.querySelectorAll("#toggles input")) {
      box.addEventListener("change", () => {
        for (const id of box.dataset.layers.split(",")) {
          map.setLayoutProperty(id, "visibility", box.checked ? "visible" : "none");
        }
      });
    }
    $("search").addEventListener("submit", (e) => { e.preventDefault(); search($("q").value); });
  }
  start().catch((err) => { message(err.message); console.error(err); });
})();
