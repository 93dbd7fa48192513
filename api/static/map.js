/* wangge web map: grids coloured by household load (in the band of the version shown, from
   /versions), labels, toggles, click panel, search, scale bar, a URL hash for the view.
   Simplified Chinese first, English as a second language (the 中文 / English switch, kept in
   localStorage, or ?lang=en): every string the page shows is in STRINGS below, MapLibre's own
   (buttons, scale bar) included.
   When reads need a key, the page asks for one once, trades it at POST /auth/token for a
   short-lived read token (kept in sessionStorage; the key itself is never kept), sends the
   token as X-API-Key on every request (tiles too, through transformRequest) and trades it
   for a fresh one before it expires. */
"use strict";
(function () {
  const state = { ready: false, version: null, highlighted: null, panelCode: null, tiles: [] };
  window.wangge = state;
  const $ = (id) => document.getElementById(id);
  const LOAD_COLOURS = ["match", ["get", "load"], "under", "#4e79a7", "within", "#59a14f",
    "over", "#e15759", "dedicated", "#b07aa1", "#999999"];

  // ---- strings: one table, Simplified Chinese first ---------------------------------------
  const STRINGS = {
    zh: {
      htmlLang: "zh-CN", title: "网格地图", heading: "网格地图", langLabel: "界面语言",
      collapse: "收起", expand: "展开", collapseTitle: "收起或展开控制面板",
      searchPlaceholder: "地址 或 经度,纬度", searchLabel: "地址或坐标",
      searchTitle: "输入地址（简体、繁体均可）或坐标（经度,纬度）",
      crsLabel: "坐标系", search: "搜索", version: "版本", versionLabel: "方案版本",
      live: "现行", layers: "图层", units: "社区", grids: "网格", cells: "单元格",
      dedicated: "专属网格", underBand: "低于标准", withinBand: "在标准内", overBand: "高于标准",
      legendTitle: "每个网格的户数，按所显示版本的户数标准判定",
      under: (n) => `低于 ${n}`, over: (n) => `高于 ${n}`,
      band: (b, v) => `每个网格的户数：标准 ${b.min_households}–${b.max_households} 户，目标 ${b.target} 户（版本 ${v}）`,
      kind: "类型", households: "户数", parent: "所属", staff: "网格员", none: "—",
      kinds: { ordinary: "普通网格", dedicated: "专属网格" },
      loads: { under: "低于标准", within: "在标准内", over: "高于标准", dedicated: "专属网格" },
      roles: {}, photoAlt: "网格员照片", close: "关闭", paren: (x) => `（${x}）`,
      keyPrompt: "此地图需要访问密钥。请输入您的密钥（只用于换取短期令牌，不会保存在本页）。",
      keyLabel: "访问密钥", keyEnter: "进入", keyInvalid: "密钥无效，请重新输入",
      tokenExpired: "令牌已过期，请重新输入密钥",
      outside: "该位置不在任何网格内", offline: "无法连接服务，请检查网络后重试",
      needKey: "需要访问密钥（或令牌已过期）", forbidden: "此密钥无权进行该操作",
      notFound: "未找到所查询的内容", tooLarge: "请求太大，请分批提交",
      badInput: (m) => `输入有误：${m}`, unavailable: "服务暂时不可用，请稍后再试",
      tooMany: "请求过于频繁，请稍后再试",
      failed: (s) => `服务出错（${s}）`, noAddress: "未找到匹配的地址",
      ambiguous: (names) => `有多个可能的地址：${names}。请补充道路门牌、小区或区县`,
      exact: "精确匹配", probable: "可能匹配，请核对", found: (a, sure) => `${a}（${sure}）`,
      attribution: "© OpenStreetMap 贡献者",
      draftsOpen: "查看待审方案", draft: "待审方案", draftLabel: "与现行版本对照的待审方案",
      draftNone: "不显示", draftKey: "查看待审方案需要具有编制或审核权限的密钥。",
      states: { draft: "草稿", submitted: "待审核", rejected: "已退回", approved: "已批准" },
      draftOption: (v, st) => `第 ${v.id} 版（${st}）${v.author}`,
      noDrafts: "没有待审方案", added: "新增", changedGrid: "调整",
      draftShown: (id, a, c, u) => `第 ${id} 版：新增 ${a} 个网格，调整 ${c} 个，未变 ${u} 个（虚线为待审方案）`,
      maplibre: {
        "Map.Title": "地图", "Marker.Title": "地图标记", "NavigationControl.ZoomIn": "放大",
        "NavigationControl.ZoomOut": "缩小", "NavigationControl.ResetBearing": "恢复正北方向",
        "AttributionControl.ToggleAttribution": "显示或隐藏版权信息",
        "ScaleControl.Meters": "米", "ScaleControl.Kilometers": "公里", "ScaleControl.Feet": "英尺",
        "Popup.Close": "关闭",
      },
    },
    en: {
      htmlLang: "en", title: "Grid map", heading: "Grid map", langLabel: "Language",
      collapse: "Hide", expand: "Show", collapseTitle: "Hide or show the controls",
      searchPlaceholder: "Address or lon,lat", searchLabel: "Address or coordinate",
      searchTitle: "An address (Simplified or Traditional Chinese) or a coordinate (lon,lat)",
      crsLabel: "Coordinate system", search: "Search", version: "Version",
      versionLabel: "Plan version", live: "live", layers: "Layers", units: "Communities",
      grids: "Grids", cells: "Unit cells", dedicated: "Dedicated", underBand: "Under band",
      withinBand: "Within band", overBand: "Over band",
      legendTitle: "Households per grid, judged by the band of the version shown",
      under: (n) => `under ${n}`, over: (n) => `over ${n}`,
      band: (b, v) => `Households per grid: band ${b.min_households}–${b.max_households}, target ${b.target} (version ${v})`,
      kind: "Kind", households: "Households", parent: "Part of", staff: "Staff", none: "—",
      kinds: { ordinary: "ordinary grid", dedicated: "dedicated grid" },
      loads: { under: "under band", within: "within band", over: "over band", dedicated: "dedicated" },
      roles: { leader: "grid leader", worker: "grid worker", assistant: "grid assistant",
        instructor: "grid instructor" },
      photoAlt: "Photo of the grid worker", close: "Close", paren: (x) => ` (${x}) `,
      keyPrompt: "This map needs an access key. Enter yours (it is only traded for a short-lived token and never kept in this page).",
      keyLabel: "Access key", keyEnter: "Enter", keyInvalid: "Invalid key, please try again",
      tokenExpired: "The token has expired, please enter the key again",
      outside: "This place lies outside every grid",
      offline: "Cannot reach the service; check the network and try again",
      needKey: "An access key is needed (or the token has expired)",
      forbidden: "This key may not do that", notFound: "Nothing found",
      tooLarge: "Request too large; send it in parts", badInput: (m) => `Invalid input: ${m}`,
      unavailable: "Service unavailable for now; try again later",
      tooMany: "Too many requests; try again shortly",
      failed: (s) => `Service error (${s})`, noAddress: "No matching address",
      ambiguous: (names) => `Several addresses may match: ${names}. Add the road and door number, compound or district`,
      exact: "exact match", probable: "probable match, please check",
      found: (a, sure) => `${a} (${sure})`, attribution: "© OpenStreetMap contributors",
      draftsOpen: "Show plans in review", draft: "In review", draftLabel: "Plan in review, against the live version",
      draftNone: "none", draftKey: "Plans in review need a key with the author or reviewer role.",
      states: { draft: "draft", submitted: "submitted", rejected: "rejected", approved: "approved" },
      draftOption: (v, st) => `version ${v.id} (${st}) ${v.author}`,
      noDrafts: "No plans in review", added: "added", changedGrid: "changed",
      draftShown: (id, a, c, u) => `Version ${id}: ${a} grids added, ${c} changed, ${u} unchanged (dashed: the plan in review)`,
      maplibre: {
        "Map.Title": "Map", "Marker.Title": "Map marker", "NavigationControl.ZoomIn": "Zoom in",
        "NavigationControl.ZoomOut": "Zoom out", "NavigationControl.ResetBearing": "Reset bearing to north",
        "AttributionControl.ToggleAttribution": "Toggle attribution",
        "ScaleControl.Meters": "m", "ScaleControl.Kilometers": "km", "ScaleControl.Feet": "ft",
        "Popup.Close": "Close popup",
      },
    },
  };
  state.strings = STRINGS;
  const LANG_KEY = "wangge.lang";
  // ?lang=en (or zh) chooses, and is remembered; else the choice kept; else Chinese
  function chosenLanguage() {
    const asked = new URLSearchParams(location.search).get("lang");
    try {
      if (STRINGS[asked]) { localStorage.setItem(LANG_KEY, asked); }
      return [asked, localStorage.getItem(LANG_KEY)].find((l) => STRINGS[l]) || "zh";
    } catch (e) { return STRINGS[asked] ? asked : "zh"; }  // storage refused (private mode)
  }
  state.lang = chosenLanguage();
  const t = (key, ...args) => {
    const s = STRINGS[state.lang][key];
    return typeof s === "function" ? s(...args) : s;
  };

  function tileUrl(v) { return `${location.origin}/tiles/${v}/{z}/{x}/{y}.mvt`; }

  // ---- read tokens (reads that need a key) ------------------------------------------------
  const TOKEN_KEY = "wangge.readToken";
  function token() { return sessionStorage.getItem(TOKEN_KEY); }
  function headers() { const tk = token(); return tk ? { "X-API-Key": tk } : {}; }
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
          $("keymessage").textContent = err.status === 401 ? t("keyInvalid") : failure(err);
        }
      };
    });
  }

  // What the user reads when a request fails, by status, in the page's language.
  function failure(err) {
    if (!(err instanceof HttpError)) { return t("offline"); }
    if (err.status === 401) { return t("needKey"); }
    if (err.status === 403) { return t("forbidden"); }
    if (err.status === 404 && err.kind === "PointOutsideGridsError") { return t("outside"); }
    if (err.status === 404) { return t("notFound"); }
    if (err.status === 413) { return t("tooLarge"); }
    if (err.status === 422 || err.status === 400) { return t("badInput", err.message); }
    if (err.status === 429) { return t("tooMany"); }
    if (err.status === 503) { return t("unavailable"); }
    return t("failed", err.status);
  }

  function style(version) {
    return {
      version: 8,
      sources: {  // the attribution (OSM's, for the basemap) is the control's, in the page's language
        basemap: { type: "vector", tiles: [`${location.origin}/basemap/{z}/{x}/{y}.mvt`],
          minzoom: 10, maxzoom: 16 },
        plan: { type: "vector", tiles: [tileUrl(version)], minzoom: 0, maxzoom: 18 },
        draft: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
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
        { id: "draft-fill", type: "fill", source: "draft",
          filter: ["!=", ["get", "change"], "unchanged"],
          paint: { "fill-color": ["match", ["get", "change"], "added", "#f28e2b", "#edc948"], "fill-opacity": 0.35 } },
        { id: "draft-line", type: "line", source: "draft",
          paint: { "line-color": "#d62728", "line-width": 2, "line-dasharray": [3, 2] } },
        { id: "highlight", type: "line", source: "plan", "source-layer": "grids",
          filter: ["==", ["get", "grid_code"], ""],
          paint: { "line-color": "#ffd400", "line-width": 5 } },
      ],
    };
  }

  // JSON of a read; null for 204 No Content (a point outside every grid, when asked so)
  async function getJSON(url) {
    let r = await fetch(url, { headers: headers() });
    if (r.status === 401) {  // reads need a key, or the token ran out: ask, then once more
      await askForKey(token() ? t("tokenExpired") : "");
      r = await fetch(url, { headers: headers() });
    }
    if (r.status === 204) { return null; }
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

  // a message is kept as a function of the language, so the switch re-words it; its kind
  // (info, notice, error) gives its colour
  function message(render, kind = "error") {
    state.message = render ? [render, kind] : null;
    $("message").textContent = render ? render() : "";
    $("message").className = render ? kind : "";
  }

  // The legend shows the band of the version on the map (each version has its own band).
  function showBand(version) {
    state.shownVersion = version || null;
    const b = version && version.band;
    state.band = b || null;
    if (!b) { return; }
    $("legend-under").textContent = t("under", b.min_households);
    $("legend-within").textContent = `${b.min_households}–${b.max_households}`;
    $("legend-over").textContent = t("over", b.max_households);
    $("legend").title = t("band", b, version.id);
  }

  function highlight(code) {
    state.highlighted = code;
    map.setFilter("highlight", ["==", ["get", "grid_code"], code || ""]);
  }

  function esc(s) {
    return String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }

  function roleName(s) {
    if (state.lang === "zh") { return s.role_label || s.role; }
    return t("roles")[s.role] || String(s.role || "").replace(/_/g, " ");
  }

  function showPanel(result) {
    state.lastResult = result;
    if (!result) { $("panel").hidden = true; return; }
    const g = result.grid;
    state.panelCode = g.grid_code;
    const parents = result.parents.map((p) => `${esc(p.name || "")} ${esc(p.code)}`).join(" › ");
    const staff = result.staff.length
      ? result.staff.map((s) => `${esc(s.name)}${esc(t("paren", roleName(s)))}${esc(s.phone || "")}`).join("<br>")
      : t("none");
    const photo = (result.staff.find((s) => s.photo_url) || {}).photo_url;
    const panel = $("panel");
    panel.innerHTML = `<button type="button" class="close" aria-label="${esc(t("close"))}" title="${esc(t("close"))}">×</button>
      <h2 id="panel-code">${esc(g.grid_code)}</h2><dl>
      <dt>${esc(t("kind"))}</dt><dd id="panel-kind">${esc(t("kinds")[g.kind] || g.kind)}</dd>
      <dt>${esc(t("households"))}</dt><dd id="panel-households">${esc(g.households)}${esc(t("paren", t("loads")[g.load] || g.load))}</dd>
      <dt>${esc(t("parent"))}</dt><dd>${parents || t("none")}</dd>
      <dt>${esc(t("staff"))}</dt><dd id="panel-staff">${staff}${photo ? `<img class="photo" alt="${esc(t("photoAlt"))}" data-src="${esc(photo)}">` : ""}</dd>
      <dt>${esc(t("version"))}</dt><dd>v${esc(result.version.id)}</dd></dl>`;
    panel.querySelector(".close").onclick = () => { panel.hidden = true; highlight(null); };
    panel.hidden = false;
    if (photo) { showPhoto(photo).catch(() => {}); }
  }

  async function lookupAt(lon, lat, crs) {
    // if_outside=empty: a point outside every grid is a 204, an answer rather than an error
    const q = new URLSearchParams({ lon, lat, crs: crs || "wgs84", if_outside: "empty" });
    if (state.asOf) { q.set("as_of", state.asOf); }
    try {
      const result = await getJSON(`/lookup?${q}`);
      highlight(result ? result.grid.grid_code : null);
      showPanel(result);
      message(result ? null : () => t("outside"), "notice");
      return result;
    } catch (err) {
      highlight(null);
      showPanel(null);
      message(() => failure(err));
      return null;
    }
  }

  // Coordinates in ASCII or full-width digits; anything else is an address, sent as typed
  // (Simplified or Traditional: the server reads both).
  async function search(text) {
    const plain = text.normalize("NFKC");
    const m = plain.match(/^\s*(-?\d+(?:\.\d+)?)\s*[,，、\s]\s*(-?\d+(?:\.\d+)?)\s*$/);
    if (m) {
      const result = await lookupAt(m[1], m[2], $("crs").value);
      if (result) { map.flyTo({ center: [result.lon, result.lat], zoom: Math.max(map.getZoom(), 15) }); }
      return;
    }
    try {
      const found = await getJSON(`/lookup/address?${new URLSearchParams({ q: text, limit: 1 })}`);
      const best = found.candidates[0];
      if (found.match === "none" || !best) { message(() => t("noAddress"), "notice"); return; }
      if (found.match === "ambiguous") {
        const names = found.candidates.map((c) => c.address).join("；");
        message(() => t("ambiguous", names), "notice");
        return;
      }
      map.flyTo({ center: [best.lon, best.lat], zoom: Math.max(map.getZoom(), 15) });
      const result = await lookupAt(best.lon, best.lat, "wgs84");
      const sure = found.match === "exact" ? "exact" : "probable";
      if (result) { message(() => t("found", best.address, t(sure)), sure === "exact" ? "info" : "notice"); }
    } catch (err) { message(() => failure(err)); }
  }

  // ---- grid labels: community-qualified, never the same text twice ------------------------
  // "外滩北·0007": the community's short name (without 社区/居委会/村 and "(演示)") and the
  // grid's sequence in it; the full code wherever that would still repeat.
  function shortName(name) {
    return String(name || "").replace(/[（(][^）)]*[）)]/g, "")
      .replace(/(社区居民委员会|居民委员会|村民委员会|社区居委会|居委会|村委会|社区|演示)+$/u, "").trim();
  }

  function community(code, props, units) {
    let unitCode = props && props.parent_code;
    let name = props && props.parent_name;
    if (!name) {  // the community whose code starts the grid's (the longest such)
      for (const [c, n] of units) {
        if (code.startsWith(c) && (!unitCode || c.length > unitCode.length)) { unitCode = c; name = n; }
      }
    }
    return { unitCode: unitCode ? String(unitCode) : "", name: name || "" };
  }

  function labelTexts(codes, grids, units) {
    const texts = new Map();
    const count = new Map();
    for (const code of codes) {
      const c = community(code, grids.get(code), units);
      const short = shortName(c.name);
      const sequence = c.unitCode && code.startsWith(c.unitCode)
        ? code.slice(c.unitCode.length).replace(/^[-_.]/, "") : code.slice(-4);
      const text = short && sequence ? `${short}·${sequence}` : code;
      texts.set(code, { text, title: `${code}${c.name ? ` ${c.name}` : ""}` });
      count.set(text, (count.get(text) || 0) + 1);
    }
    for (const [code, v] of texts) { if (count.get(v.text) > 1) { v.text = code; } }
    return texts;
  }

  const markers = new Map();
  function updateLabels() {
    if (map.getZoom() < 13) { markers.forEach((mk) => mk.remove()); markers.clear(); state.labels = []; return; }
    const grids = new Map();
    for (const f of map.querySourceFeatures("plan", { sourceLayer: "grids" })) { grids.set(f.properties.grid_code, f.properties); }
    const units = new Map();
    for (const f of map.querySourceFeatures("plan", { sourceLayer: "units" })) {
      const p = f.properties;
      const c = p.unit_code || p.code;
      if (c) { units.set(String(c), p.unit_name || p.name || ""); }
    }
    const points = new Map();
    for (const f of map.querySourceFeatures("plan", { sourceLayer: "grid_labels" })) {
      if (!points.has(f.properties.grid_code)) { points.set(f.properties.grid_code, f.geometry.coordinates); }
    }
    const texts = labelTexts([...points.keys()], grids, units);
    for (const [code, lngLat] of points) {
      let mk = markers.get(code);
      if (!mk) {
        const el = document.createElement("div");
        el.className = "grid-label";
        mk = new maplibregl.Marker({ element: el }).setLngLat(lngLat).addTo(map);
        markers.set(code, mk);
      }
      const el = mk.getElement();
      el.textContent = texts.get(code).text;
      el.title = texts.get(code).title;
      el.setAttribute("aria-label", texts.get(code).title);
    }
    for (const [code, mk] of markers) { if (!points.has(code)) { mk.remove(); markers.delete(code); } }
    uncover();
    state.labels = [...markers.values()].map((mk) => mk.getElement())
      .filter((el) => !el.classList.contains("covered")).map((el) => el.textContent);
  }

  // A label that would overlap one placed before it (in code order) is hidden until the view
  // leaves room for it, as MapLibre's symbol layers would do (those need glyph files, which
  // this offline map does not load).
  function uncover() {
    const placed = [];
    for (const code of [...markers.keys()].sort()) {
      const el = markers.get(code).getElement();
      el.classList.remove("covered");
      const r = el.getBoundingClientRect();
      if (placed.some((p) => r.left < p.right && r.right > p.left && r.top < p.bottom && r.bottom > p.top)) {
        el.classList.add("covered");
      } else { placed.push(r); }
    }
  }

  // ---- plans in review: a draft drawn over the live plan, with what it changes --------------
  // Listed with a key (or its read token) that may read drafts; the page asks for one when
  // the one it has may not.
  async function draftList() {
    try { return await getJSON("/versions?drafts=true"); } catch (err) {
      if (err.status !== 403 && err.status !== 401) { throw err; }
      await askForKey(t("draftKey"));
      return getJSON("/versions?drafts=true");
    }
  }

  function fillDrafts() {
    const select = $("draft");
    const chosen = select.value;
    select.textContent = "";
    const none = document.createElement("option");
    none.value = ""; none.textContent = t("draftNone");
    select.appendChild(none);
    for (const v of state.drafts || []) {
      const o = document.createElement("option");
      o.value = v.id; o.textContent = t("draftOption", v, t("states")[v.state] || v.state);
      select.appendChild(o);
    }
    select.value = chosen;
  }

  async function openDrafts() {
    try {
      const all = await draftList();
      state.drafts = all.filter((v) => v.state === "draft" || v.state === "submitted");
      fillDrafts();
      $("drafts-pick").hidden = false;
      message(state.drafts.length ? null : () => t("noDrafts"), "notice");
    } catch (err) { message(() => failure(err)); }
  }

  async function showDraft(id) {
    const source = map.getSource("draft");
    state.draftReady = false;
    if (!id) {
      source.setData({ type: "FeatureCollection", features: [] });
      $("draft-legend").hidden = true; message(null); state.draftReady = true; return;
    }
    try {
      const grids = await getJSON(`/versions/${id}/grids`);
      source.setData(grids);
      const n = (k) => grids.features.filter((f) => f.properties.change === k).length;
      $("draft-legend").hidden = false;
      message(() => t("draftShown", id, n("added"), n("changed"), n("unchanged")), "info");
      state.draftShown = { id: Number(id), added: n("added"), changed: n("changed") };
    } catch (err) { message(() => failure(err)); }
    state.draftReady = true;
  }

  // ---- language ----------------------------------------------------------------------------
  function fillVersions() {
    const select = $("version");
    const chosen = select.value;
    select.textContent = "";
    for (const v of (state.versions || []).slice().reverse()) {
      const o = document.createElement("option");
      o.value = v.id;
      o.textContent = `v${v.id}${v.live ? t("paren", t("live")).trimEnd() : ""} ${v.valid_from.slice(0, 10)}`;
      select.appendChild(o);
    }
    select.value = chosen || state.version;
  }

  let mapControls = [];
  function addMapControls() {
    mapControls.forEach((c) => map.removeControl(c));
    // MapLibre 4 reads its own strings from the map's locale (no public setter after creation)
    if (map._locale) { Object.assign(map._locale, t("maplibre")); }
    mapControls = [
      [new maplibregl.AttributionControl({ compact: false, customAttribution: t("attribution") }), "bottom-right"],
      [new maplibregl.NavigationControl(), "bottom-right"],
      [new maplibregl.ScaleControl({ maxWidth: 120, unit: "metric" }), "bottom-left"],
    ].map(([c, where]) => { map.addControl(c, where); return c; });
    map.getCanvas().setAttribute("aria-label", t("maplibre")["Map.Title"]);
  }

  function showCollapse() {
    const collapsed = $("controls").classList.contains("collapsed");
    $("collapse").textContent = t(collapsed ? "expand" : "collapse");
    $("collapse").setAttribute("aria-expanded", String(!collapsed));
  }

  function applyLanguage() {
    document.documentElement.lang = t("htmlLang");
    document.title = t("title");
    for (const el of document.querySelectorAll("[data-i18n]")) { el.textContent = t(el.dataset.i18n); }
    for (const el of document.querySelectorAll("[data-i18n-placeholder]")) { el.placeholder = t(el.dataset.i18nPlaceholder); }
    for (const el of document.querySelectorAll("[data-i18n-title]")) { el.title = t(el.dataset.i18nTitle); }
    for (const el of document.querySelectorAll("[data-i18n-aria]")) { el.setAttribute("aria-label", t(el.dataset.i18nAria)); }
    for (const b of document.querySelectorAll("#lang button")) { b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang)); }
    showCollapse();
    showBand(state.shownVersion);
    fillVersions();
    fillDrafts();
    if (state.lastResult) { showPanel(state.lastResult); }
    if (state.message) { message(...state.message); }
    if (map) { addMapControls(); }
  }

  function setLanguage(lang) {
    state.lang = STRINGS[lang] ? lang : "zh";
    try { localStorage.setItem(LANG_KEY, state.lang); } catch (e) { /* private mode: not kept */ }
    const url = new URL(location.href);
    if (url.searchParams.has("lang")) { url.searchParams.set("lang", state.lang); history.replaceState(null, "", url); }
    applyLanguage();
  }

  // ---- start -----------------------------------------------------------------------------
  // a token kept from before a reload: trade it for a fresh one before it runs out
  function keepFresh() {
    const tk = token();
    const expires = tk ? Number(tk.split(".")[1]) * 1000 : NaN;
    if (!Number.isFinite(expires)) { return; }
    clearTimeout(state.refresh);
    state.refresh = setTimeout(() => trade(tk).catch(() => askForKey()), Math.max(0, expires - Date.now() - 60_000));
  }

  // room the opening view leaves for the controls box: beside it on a wide screen, below it
  // on a narrow one, so no grid starts hidden under it
  function viewPadding() {
    const box = $("controls").getBoundingClientRect();
    const pad = { top: 20, right: 20, bottom: 40, left: 20 };
    if (box.right < window.innerWidth * 0.5) { pad.left = box.right + 12; } else { pad.top = box.bottom + 12; }
    return pad;
  }

  function wireControls(select) {
    select.addEventListener("change", () => {
      state.version = Number(select.value);
      const v = state.versions.find((x) => x.id === state.version);
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
    $("drafts-open").addEventListener("click", openDrafts);
    $("draft").addEventListener("change", () => showDraft($("draft").value));
  }

  let map;
  async function start() {
    keepFresh();
    const versions = await getJSON("/versions");
    state.versions = versions;
    const live = versions.find((v) => v.live) || versions[versions.length - 1];
    state.version = live ? live.id : null;
    fillVersions();
    showBand(live);
    const tj = await getJSON(`/tiles/${state.version}/tilejson.json`);
    map = new maplibregl.Map({
      container: "map", style: style(state.version), hash: true, locale: t("maplibre"),
      bounds: [[tj.bounds[0], tj.bounds[1]], [tj.bounds[2], tj.bounds[3]]],
      fitBoundsOptions: { padding: viewPadding() }, attributionControl: false,
      // tiles need the read token too when reads need a key
      transformRequest: (url) => (token() && sameOrigin(url) ? { url, headers: headers() } : { url }),
    });
    state.map = map;
    addMapControls();
    map.on("error", (e) => {
      // MapLibre reports a cancelled request (the tiles of a version just left) as AbortError
      if (e.error && (e.error.name === "AbortError" || e.error.message === "AbortError")) { return; }
      console.error("map error", e.error && e.error.message);
    });
    map.on("idle", () => { updateLabels(); state.ready = true; });
    map.on("click", (e) => { state.lastClick = [e.lngLat.lng, e.lngLat.lat]; lookupAt(e.lngLat.lng, e.lngLat.lat, "wgs84"); });
    wireControls($("version"));
  }

  for (const b of document.querySelectorAll("#lang button")) { b.addEventListener("click", () => setLanguage(b.dataset.lang)); }
  $("collapse").addEventListener("click", () => { $("controls").classList.toggle("collapsed"); showCollapse(); });
  applyLanguage();
  start().catch((err) => { message(() => failure(err)); console.error(err); });
})();
