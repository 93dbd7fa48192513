/* wangge web map: grids coloured by household load (in the band of the version shown, from
   /versions), labels, toggles, click panel, search.
   When reads need a key, the page asks for one once, trades it at POST /auth/token for a
   short-lived read token (kept in sessionStorage; the key itself is never kept), sends the
   token as X-API-Key on every request (tiles too, through transformRequest) and trades it
   for a fresh one before it expires. Messages shown to the user are Simplified Chinese. */
"use strict";
(function () {
  const state = { ready: false, version: null, highlighted: null, panelCode: null, tiles: [] };
  window.wangge = state;
  const $ = (id) => document.getElementById(id);
  const LOAD_COLOURS = ["match", ["get", "load"], "under", "#4e79a7", "within", "#59a14f",
    "over", "#e15759", "dedicated", "#b07aa1", "#999999"];

  function tileUrl(v) { return `${location.origin}/tiles/${v}/{z}/{x}/{y}.mvt`; }

  // ---- read tokens (reads that need a key) ------------------------------------------------
  const TOKEN_KEY = "wangge.readToken";
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function headers() { const t = token(); return t ? { "X-API-Key": t } : {}; }
  function sameOrigin(url) { return url.startsWith(location.origin) || url.startsWith("/"); }

  class HttpError extends Error {
    constructor(status, body) {
      super((body && body.detail) || `HTTP ${status}`);
      this.status = status; this.kind = body && body.error;
    }
  }

  async function trade(credential) {
    const r = await fetch("/auth/token", { method: "POST", headers: { "X-API-Key": credential } });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { throw new HttpError(r.status, body); }
    sessionStorage.setItem(TOKEN_KEY, body.token);
    state.tokenExpires = Date.parse(body.expires_at);
    // a fresh token a minute before this one ends (or half-way for short lives)
    const lead = Math.min(60, body.expires_in / 2) * 1000;
    clearTimeout(state.refresh);
    state.refresh = setTimeout(() => trade(body.token).catch(() => askForKey()), body.expires_in * 1000 - lead);
    return body.token;
  }

  function askForKey(text) {
    return new Promise((resolve) => {
      sessionStorage.removeItem(TOKEN_KEY);
      const form = $("keyform");
      $("keymessage").textContent = text || "";
      form.hidden = false;
      $("key").focus();
      form.onsubmit = async (e) => {
        e.preventDefault();
        try {
          await trade($("key").value.trim());
          $("key").value = "";
          form.hidden = true;
          resolve();
        } catch (err) {
          $("keymessage").textContent = err.status === 401 ? "密钥无效，请重新输入" : chinese(err);
        }
      };
    });
  }

  // What the user reads when a request fails: Simplified Chinese, by status.
  function chinese(err) {
    if (!(err instanceof HttpError)) { return "无法连接服务，请检查网络后重试"; }
    if (err.status === 401) { return "需要访问密钥（或令牌已过期）"; }
    if (err.status === 403) { return "此密钥无权进行该操作"; }
    if (err.status === 404 && err.kind === "PointOutsideGridsError") { return "该位置不在任何网格内"; }
    if (err.status === 404) { return "未找到所查询的内容"; }
    if (err.status === 413) { return "请求太大，请分批提交"; }
    if (err.status === 422) { return `输入有误：${err.message}`; }
    if (err.status === 503) { return "服务暂时不可用，请稍后再试"; }
    return `服务出错（${err.status}）`;
  }

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
    let r = await fetch(url, { headers: headers() });
    if (r.status === 401) {  // reads need a key, or the token ran out: ask, then once more
      await askForKey(token() ? "令牌已过期，请重新输入密钥" : "");
      r = await fetch(url, { headers: headers() });
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { throw new HttpError(r.status, body); }
    return body;
  }

  async function showPhoto(url) {
    const img = document.querySelector("#panel img.photo[data-src]");
    if (!img) { return; }
    if (!sameOrigin(url)) { img.src = url; return; }
    const r = await fetch(url, { headers: headers() });
    if (r.ok) { img.src = URL.createObjectURL(await r.blob()); }
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
      ? result.staff.map((s) => `${esc(s.name)} (${esc(s.role_label || s.role)}) ${esc(s.phone || "")}`).join("<br>")
      : "—";
    const photo = (result.staff.find((s) => s.photo_url) || {}).photo_url;
    const panel = $("panel");
    panel.innerHTML = `<h2 id="panel-code">${esc(g.grid_code)}</h2><dl>
      <dt>kind</dt><dd>${esc(g.kind)}</dd>
      <dt>households</dt><dd id="panel-households">${esc(g.households)} (${esc(g.load)})</dd>
      <dt>parent</dt><dd>${parents}</dd>
      <dt>worker</dt><dd>${staff}${photo ? `<img class="photo" alt="网格员照片" data-src="${esc(photo)}">` : ""}</dd>
      <dt>version</dt><dd>${esc(result.version.id)}</dd></dl>`;
    panel.hidden = false;
    if (photo) { showPhoto(photo).catch(() => {}); }
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
      message(chinese(err));
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
    } catch (err) { message(chinese(err)); }
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

  // a token kept from before a reload: trade it for a fresh one before it runs out
  function keepFresh() {
    const t = token();
    const expires = t ? Number(t.split(".")[1]) * 1000 : NaN;
    if (!Number.isFinite(expires)) { return; }
    clearTimeout(state.refresh);
    state.refresh = setTimeout(() => trade(t).catch(() => askForKey()), Math.max(0, expires - Date.now() - 60_000));
  }

  let map;
  async function start() {
    keepFresh();
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
      // tiles need the read token too when reads need a key
      transformRequest: (url) => (token() && sameOrigin(url) ? { url, headers: headers() } : { url }),
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
  start().catch((err) => { message(chinese(err)); console.error(err); });
})();
