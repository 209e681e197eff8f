/* govchain portal core: language, routing, API access and small rendering helpers.
 *
 * Every page is rendered in the browser from the node's public REST API. Modules add
 * pages with Portal.route("/path/{param}", render), strings with Portal.strings(...),
 * search resolvers with Portal.searcher(fn) and links on a transaction page with
 * Portal.txLink(fn). The server serves the same layout for every declared page path
 * (govchain.web.portal); nothing here knows a contract.
 */
(function () {
  "use strict";
  const config = window.PORTAL_CONFIG || {};
  const LANG_KEY = "govchain.lang";
  const LANGS = ["zh-CN", "en"];
  const strings = { "zh-CN": {}, en: {} };
  const routes = [];
  const searchers = [];
  const txLinks = [];
  let cleanups = [];
  let lang = "zh-CN";
  try { lang = LANGS.includes(localStorage.getItem(LANG_KEY)) ? localStorage.getItem(LANG_KEY) : "zh-CN"; } catch (e) { /* storage off */ }

  class PortalError extends Error {
    /* kind: "offline" (node unreachable), "not_found", "bad_input" or "error" */
    constructor(kind, message, code) { super(message); this.kind = kind; this.code = code || kind; }
  }

  function esc(value) {
    return String(value === undefined || value === null ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }

  function t(key, vars) {
    let text = strings[lang][key];
    if (text === undefined) text = strings["zh-CN"][key];
    if (text === undefined) text = key;
    if (vars) for (const [k, v] of Object.entries(vars)) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  function addStrings(table) {
    for (const l of LANGS) Object.assign(strings[l], table[l] || {});
  }

  function compile(pattern) {
    const names = [];
    const source = pattern.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_, name) => {
      names.push(name);
      return "([^/]+)";
    });
    return { regex: new RegExp("^" + source + "/?$"), names };
  }

  async function api(path, options) {
    let res;
    try {
      res = await fetch(path, Object.assign({ headers: { accept: "application/json" } }, options || {}));
    } catch (e) {
      throw new PortalError("offline", t("err.offline"));
    }
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const err = (body && body.error) || {};
      const kind = res.status === 404 ? "not_found" : res.status < 500 ? "bad_input" : "error";
      throw new PortalError(kind, err.message || t("err.status", { status: res.status }), err.code);
    }
    return body;
  }

  function timeText(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return String(ms);
    const d = new Date(ms);
    const local = d.toLocaleString(lang === "en" ? "en-GB" : "zh-CN", { hour12: false });
    return local + " (" + d.toISOString().replace("T", " ").replace(".000Z", "Z") + ")";
  }

  function short(hex, n) {
    n = n || 10;
    hex = String(hex || "");
    return hex.length > 2 * n + 1 ? hex.slice(0, n) + "…" + hex.slice(-6) : hex;
  }

  function kv(pairs) {
    return '<dl class="kv">' + pairs.filter(Boolean).map(([k, v]) => "<dt>" + esc(k) + "</dt><dd>" + v + "</dd>").join("") + "</dl>";
  }

  function message(kind, text) {
    return '<div class="msg ' + esc(kind) + '" role="alert">' + esc(text) + "</div>";
  }

  function errorText(err) {
    if (err instanceof PortalError) {
      if (err.kind === "offline") return t("err.offline");
      if (err.kind === "not_found") return t("err.not_found") + " " + err.message;
      if (err.kind === "bad_input") return t("err.bad_input") + " " + err.message;
      return t("err.node") + " " + err.message;
    }
    return t("err.unexpected") + " " + ((err && err.message) || String(err));
  }

  function applyStatic() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.placeholder = t(e.dataset.i18nPlaceholder); });
    document.querySelectorAll("[data-zh]").forEach((e) => { e.textContent = lang === "en" ? e.dataset.en : e.dataset.zh; });
    const button = document.getElementById("lang");
    if (button) button.textContent = lang === "en" ? "中文" : "English";
    document.title = lang === "en" ? "govchain" : t("brand") + " · govchain";
  }

  function leave() {
    const fns = cleanups;
    cleanups = [];
    for (const fn of fns) { try { fn(); } catch (e) { /* already gone */ } }
  }

  let generation = 0;

  async function render() {
    leave();
    const gen = ++generation;
    const alive = () => gen === generation;
    const main = document.getElementById("page");
    const path = location.pathname.replace(/\/index\.html$/, "/");
    let found = null;
    for (const r of routes) {
      const m = r.regex.exec(path);
      if (m) { found = { r, params: Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) }; break; }
    }
    if (!found && routes.length === 1) found = { r: routes[0], params: {} }; // a saved standalone page
    if (!found) { main.innerHTML = message("error", t("err.no_page")); return; }
    // Each render draws into its own container, so a superseded one writes nowhere visible.
    const el = document.createElement("div");
    el.innerHTML = '<p class="muted">' + esc(t("loading")) + "</p>";
    main.replaceChildren(el);
    // A page rendered again (the language switch) while it was still loading: the old
    // render sees alive() turn false, and what it opens late is closed at once.
    const onLeave = (fn) => { if (alive()) cleanups.push(fn); else fn(); };
    try {
      await found.r.render({ el, params: found.params, query: new URLSearchParams(location.search), alive, onLeave });
    } catch (err) {
      if (alive()) el.innerHTML = message("error", errorText(err));
    }
  }

  async function health() {
    const banner = document.getElementById("banner");
    if (!banner || Portal.offlineFile) return;
    let key = null;
    try {
      const s = await api("/v1/status");
      key = !s.healthy ? "banner.unhealthy" : s.catching_up ? "banner.catching_up" : null;
    } catch (e) {
      key = "err.offline";
    }
    // data-i18n: the language switch translates the banner like the rest of the page
    if (key) { banner.dataset.i18n = key; banner.textContent = t(key); banner.hidden = false; }
    else { delete banner.dataset.i18n; banner.hidden = true; }
  }

  function markNav() {
    const path = location.pathname;
    document.querySelectorAll("#nav a").forEach((a) => {
      const href = a.getAttribute("href");
      a.classList.toggle("active", href === "/" ? path === "/" : path.startsWith(href));
    });
  }

  function start() {
    const button = document.getElementById("lang");
    if (button) button.addEventListener("click", () => Portal.setLang(lang === "en" ? "zh-CN" : "en"));
    if (Portal.offlineFile) document.querySelectorAll(".online-only").forEach((e) => { e.hidden = true; e.style.display = "none"; });
    applyStatic();
    markNav();
    render();
    health();
    setInterval(health, 15000); // a node that falls behind, or recovers, shows it without a reload
  }

  addStrings({
    "zh-CN": {
      brand: "政务区块链", foot: "govchain · 联盟链政务服务", "foot.api": "API 文档", loading: "加载中…",
      "search.placeholder": "区块高度 / 交易哈希 / 文件摘要", "search.go": "搜索",
      "err.offline": "无法连接节点：请检查节点是否在运行，或稍后再试。",
      "err.not_found": "未找到：", "err.bad_input": "输入有误：", "err.node": "节点返回错误：",
      "err.unexpected": "出现意外错误：", "err.no_page": "没有这个页面。", "err.status": "HTTP 状态 {status}",
      "banner.unhealthy": "节点状态异常：区块生产已停止，显示的数据可能不是最新的。",
      "banner.catching_up": "节点正在同步区块，显示的数据可能不是最新的。",
    },
    en: {
      brand: "govchain", foot: "govchain · consortium chain for government services", "foot.api": "API docs", loading: "Loading…",
      "search.placeholder": "Block height / tx hash / file digest", "search.go": "Search",
      "err.offline": "Cannot reach the node: check that it is running, or try again later.",
      "err.not_found": "Not found:", "err.bad_input": "Invalid input:", "err.node": "The node returned an error:",
      "err.unexpected": "Unexpected error:", "err.no_page": "There is no such page.", "err.status": "HTTP status {status}",
      "banner.unhealthy": "The node is unhealthy: block production has stopped, so data may be out of date.",
      "banner.catching_up": "The node is catching up with the chain, so data may be out of date.",
    },
  });

  const Portal = {
    config,
    offlineFile: location.protocol === "file:",
    PortalError,
    get lang() { return lang; },
    setLang(next) {
      lang = LANGS.includes(next) ? next : "zh-CN";
      try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* storage off */ }
      applyStatic();
      render();
    },
    t, esc, api, short, kv, message, errorText, time: timeText,
    strings: addStrings,
    route(pattern, renderFn) { const c = compile(pattern); routes.push({ pattern, regex: c.regex, names: c.names, render: renderFn }); },
    searcher(fn) { searchers.push(fn); },
    searchers() { return searchers.slice(); },
    txLink(fn) { txLinks.push(fn); },
    txLinks(tx) { return txLinks.map((fn) => fn(tx)).filter(Boolean); },
    onLeave(fn) { cleanups.push(fn); },
    link(href, text) { return '<a href="' + esc(href) + '">' + esc(text) + "</a>"; },
    hex(value) { return '<code>' + esc(value) + "</code>"; },
    json(value) { return '<pre class="json">' + esc(JSON.stringify(value, null, 2)) + "</pre>"; },
    rerender: render,
  };
  window.Portal = Portal;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else setTimeout(start, 0);
})();
