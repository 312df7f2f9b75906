// The operator pages' shared script (plain JavaScript, no build step).
// The API token lives in sessionStorage (this tab only) and goes out as
// a bearer header on the pages' fetches; the pages poll the JSON API.
"use strict";

const vox = (() => {
  const KEY = "vox-token";
  const $ = (id) => document.getElementById(id);

  let tokenAsked = false; // the token notice is up

  function token() { return sessionStorage.getItem(KEY) || ""; }

  // el builds an element: attrs (class, id, title, aria-*, data-*, on*
  // handlers, other properties) and children (nodes or text, never HTML).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "class" || k.startsWith("aria-") || k.startsWith("data-") || k === "for" || k === "scope") e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function notice(text, isError) {
    const n = $("notice");
    if (!text) { n.hidden = true; n.textContent = ""; return; }
    n.textContent = text;
    n.className = isError ? "notice error" : "notice";
    n.hidden = false;
  }

  // call fetches path with the token; answers {status, body} (body: the
  // parsed JSON or null). A 401 asks for the token.
  async function call(method, path, body) {
    const headers = { "Accept": "application/json" };
    const t = token();
    if (t) headers["Authorization"] = "Bearer " + t;
    const init = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let parsed = null;
    try { parsed = await res.json(); } catch (e) { parsed = null; }
    if (res.status === 401) {
      if (!tokenAsked) {
        notice("The API wants a token: enter it above (it is kept for this tab only).", true);
        $("token").focus({ preventScroll: true });
      }
      tokenAsked = true;
    } else if (tokenAsked && res.ok) {
      tokenAsked = false;
      notice("");
    }
    return { status: res.status, body: parsed };
  }

  function errorText(r) {
    if (r.body && r.body.error) return r.body.error + (r.body.code ? " (" + r.body.code + ")" : "");
    return "HTTP " + r.status;
  }

  // confirm asks in a modal dialog (keyboard: Tab, Enter, Escape).
  function confirm(text, okLabel) {
    const d = $("confirm");
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel || "Confirm";
    d.returnValue = "";
    return new Promise((resolve) => {
      d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
      d.showModal();
      $("confirm-cancel").focus();
    });
  }

  // Formatting.
  const num = (v, digits) => (v === undefined || v === null || Number.isNaN(v)) ? "–" :
    Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 0 : digits, minimumFractionDigits: digits === undefined ? 0 : digits });
  function dur(ms) {
    if (ms === undefined || ms === null) return "–";
    const neg = ms < 0; ms = Math.abs(ms);
    let s;
    if (ms < 1000) s = Math.round(ms) + " ms";
    else if (ms < 60000) s = (ms / 1000).toFixed(1) + " s";
    else if (ms < 3600000) s = Math.floor(ms / 60000) + " min " + Math.round((ms % 60000) / 1000) + " s";
    else s = Math.floor(ms / 3600000) + " h " + Math.round((ms % 3600000) / 60000) + " min";
    return neg ? "−" + s : s;
  }
  const since = (iso) => iso ? dur(Date.now() - Date.parse(iso)) + " ago" : "–";
  const until = (iso) => { if (!iso) return "–"; const d = Date.parse(iso) - Date.now(); return d >= 0 ? "in " + dur(d) : dur(-d) + " ago"; };

  // meter is a <meter> with its figures as text beside it.
  function meter(value, max, text, label) {
    const m = el("meter", { min: 0, max: Math.max(max, 1e-9), value: Math.min(value, Math.max(max, 1e-9)), "aria-label": label || text });
    return el("span", { class: "bar" }, m, el("span", {}, text));
  }

  // set writes text into #id (when it changed, so screen readers and
  // selections are not disturbed needlessly).
  function set(id, text, cls) {
    const e = $(id);
    if (!e) return;
    const t = String(text);
    if (e.textContent !== t) e.textContent = t;
    if (cls !== undefined) e.className = cls;
  }

  function replace(id, ...nodes) {
    const e = $(id);
    if (e) e.replaceChildren(...nodes.flat());
  }

  // poll runs step every interval (?interval=ms overrides), never two at
  // once, and says when the page last refreshed.
  function poll(step, interval) {
    const q = new URLSearchParams(location.search).get("interval");
    const every = q ? Math.max(200, Number(q)) : interval;
    let n = 0;
    async function tick() {
      const t0 = performance.now();
      try {
        await step();
        n++;
        set("live", "live: refreshed " + new Date().toLocaleTimeString() + " (every " + dur(every) + ")");
        document.body.dataset.polls = String(n);
      } catch (e) {
        set("live", "cannot reach the API: " + e.message);
      }
      setTimeout(tick, Math.max(0, every - (performance.now() - t0)));
    }
    tick();
  }


  // table keeps a table in #id in step with rows without rebuilding it
  // (focus and typed input survive a refresh): one <tr> per key(row),
  // cells from columns: {head, num, text(row)} or {head, make(row) → node
  // (made once), update(node, row)}. Rows are ordered as given.
  function table(id, spec, rows) {
    const box = $(id);
    if (!box) return;
    let t = box.querySelector("table");
    if (!t) {
      t = el("table", { id: id + "-table" },
        spec.caption ? el("caption", { class: "small" }, spec.caption) : null,
        el("thead", {}, el("tr", {}, spec.columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : "" }, c.head)))),
        el("tbody"));
      box.replaceChildren(t);
    }
    const body = t.tBodies[0];
    const old = new Map();
    for (const tr of body.rows) old.set(tr.dataset.key, tr);
    if (rows.length === 0) {
      body.replaceChildren(el("tr", { "data-key": "" }, el("td", { colSpan: spec.columns.length, class: "na" }, spec.empty || "none")));
      return;
    }
    const want = [];
    for (const row of rows) {
      const k = spec.key(row);
      let tr = old.get(k);
      if (!tr) {
        tr = el("tr", { "data-key": k });
        for (const c of spec.columns) {
          const td = el("td", { class: c.num ? "num" : "" });
          if (c.make) td.append(c.make(row));
          tr.append(td);
        }
      }
      spec.columns.forEach((c, i) => {
        const td = tr.cells[i];
        if (c.make) { if (c.update) c.update(td.firstChild, row); return; }
        const v = c.text(row);
        if (v instanceof Node) td.replaceChildren(v);
        else if (td.textContent !== String(v)) td.textContent = String(v);
      });
      want.push(tr);
    }
    want.forEach((tr, i) => { if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null); });
    while (body.rows.length > want.length) body.deleteRow(-1);
  }

  // unavailable replaces #id's content with a note (a section whose API
  // this server does not have, or cannot answer).
  function unavailable(id, why) {
    const box = $(id);
    if (!box) return;
    const p = box.querySelector("p.na");
    const text = "not available (" + why + ")";
    if (p && box.children.length === 1) { if (p.textContent !== text) p.textContent = text; return; }
    box.replaceChildren(el("p", { class: "na" }, text));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("token").value = token();
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(KEY, $("token").value.trim());
      notice("");
    });
    $("token-clear").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      $("token").value = "";
    });
  });

  return { table, unavailable, $, el, call, errorText, confirm, notice, num, dur, since, until, meter, set, replace, poll, token };
})();
