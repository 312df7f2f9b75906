// voxrouter's fleet page: polls /v1/status, /v1/pods, /v1/pools and
// /v1/drains (a section whose endpoint answers 404 says "not available"
// and the rest keeps working) and offers the fleet operations (a pool's
// weight, drains of pods and pools, their cancellation), each after a
// confirmation. Uses common.js (vox).
"use strict";

(() => {
  const { el, num, dur, since, meter, set, table, unavailable, call, errorText, confirm, notice } = vox;
  let refreshNow = () => {};

  async function act(question, okLabel, method, path, body, done) {
    if (!await confirm(question, okLabel)) return;
    const r = await call(method, path, body);
    if (r.status >= 200 && r.status < 300) {
      notice(done);
      vox.$("notice").className = "notice";
    } else {
      notice(done.replace(/\.$/, "") + " failed: " + errorText(r), true);
    }
    refreshNow();
  }

  function showStatus(st) {
    set("st-ready", st.ready ? "yes" : "no", st.ready ? "ok" : "bad");
    set("st-pods", num(st.pods));
    set("st-pods-placeable", num(st.pods_placeable));
    set("st-pods-stale", num(st.pods_stale), st.pods_stale > 0 ? "warn" : "");
    set("st-sessions", num(st.sessions));
    set("st-participants", num(st.participants));
    set("st-admissions-per-second", num(st.admissions_per_second, 1));
    set("st-p50", num(st.latency_p50_ms, 1));
    set("st-p90", num(st.latency_p90_ms, 1));
    set("st-p99", num(st.latency_p99_ms, 1));
    set("st-admissions", num(st.admissions));
    set("st-admissions-failed", num(st.admissions_failed), st.admissions_failed > 0 ? "warn" : "");
    set("st-retries", num(st.retries));
    set("st-no-pod", num(st.no_pod), st.no_pod > 0 ? "warn" : "");
    set("st-moves", num(st.moves));
    set("st-splits", num(st.splits));
  }

  // The warm pool: per pool from /v1/pools (refill), else /v1/status's.
  function showWarm(st, pools) {
    let rows = [];
    if (pools) rows = pools.filter((p) => p.refill).map((p) => Object.assign({ name: p.name }, p.refill));
    if (rows.length === 0 && st && st.pool) rows = [Object.assign({ name: st.pool.pool || "pool" }, st.pool)];
    if (rows.length === 0) { unavailable("warm", "no allocator: the pods are static"); return; }
    table("warm", {
      key: (r) => r.name,
      columns: [
        { head: "Pool", text: (r) => r.name },
        { head: "Free slots / target", text: (r) => meter(r.free_slots + r.future_slots, r.target_slots,
          num(r.free_slots) + " free + " + num(r.future_slots) + " coming / " + num(r.target_slots) + " target",
          "free and coming slots of the target") },
        { head: "Floor", num: true, text: (r) => num(r.floor) },
        { head: "Placeable pods", num: true, text: (r) => num(r.placeable_pods) },
        { head: "New sessions / s", num: true, text: (r) => num(r.new_sessions_per_second, 1) },
        { head: "Allocations in flight", num: true, text: (r) => num(r.in_flight) },
        { head: "Joining", num: true, text: (r) => num(r.joining) },
        { head: "Allocation latency", num: true, text: (r) => dur(r.allocation_latency_ms) },
        { head: "Allocated (retry / failed)", num: true, text: (r) => num(r.allocations) + " (" + num(r.alloc_retries) + " / " + num(r.alloc_failures) + ")" },
        { head: "Admissions waited (timed out)", num: true, text: (r) => num(r.admissions_waited) + " (" + num(r.wait_timeouts) + ")" },
        { head: "Backoff", num: true, text: (r) => r.backoff_ms > 0 ? dur(r.backoff_ms) : "no" },
      ],
    }, rows);
  }

  function showBudget(d) {
    const c = d.consolidation || {};
    const box = vox.$("budget");
    if (!vox.$("budget-grid")) {
      box.replaceChildren(el("dl", { class: "grid", id: "budget-grid" },
        el("div", {}, el("dt", {}, "Reconnect notices / s (assigned / budget)"), el("dd", { id: "bd-rate" })),
        el("div", {}, el("dt", {}, "Pods draining (max)"), el("dd", { id: "bd-draining" })),
        el("div", {}, el("dt", {}, "Consolidation"), el("dd", { id: "bd-consolidation" })),
        el("div", {}, el("dt", {}, "Surplus slots"), el("dd", { id: "bd-surplus" })),
        el("div", {}, el("dt", {}, "Chosen / cancelled"), el("dd", { id: "bd-chosen" }))));
    }
    vox.replace("bd-rate", meter(d.assigned, d.budget, num(d.assigned, 1) + " / " + num(d.budget, 1), "reconnect notices per second assigned of the budget"));
    vox.$("bd-rate").className = d.budget > 0 && d.assigned >= d.budget ? "warn" : "";
    set("bd-draining", num(d.draining) + " (" + num(d.max_draining) + ")");
    set("bd-consolidation", c.enabled ? "on" : "off");
    set("bd-surplus", c.enabled ? num(c.surplus_slots) + (c.surplus_for_ms ? " for " + dur(c.surplus_for_ms) : "") : "–");
    set("bd-chosen", num(c.chosen) + " / " + num(c.cancelled));
  }

  function progress(start, now) {
    if (!start) return num(now) + " left";
    const done = Math.max(0, start - now);
    return meter(done, start, num(now) + " of " + num(start) + " left", "participants moved");
  }

  function showDrains(d) {
    table("drains", {
      empty: "no drain",
      key: (x) => x.pod + "@" + x.started_at,
      columns: [
        { head: "Pod", text: (x) => x.pod },
        { head: "Pool", text: (x) => x.pool },
        { head: "Reason", text: (x) => x.reason },
        { head: "Phase", text: (x) => x.phase + (x.pod_phase ? " (pod: " + x.pod_phase + ")" : "") },
        { head: "Progress", text: (x) => progress(x.participants_at_start, x.participants) },
        { head: "Rate / s", num: true, text: (x) => num(x.rate, 1) },
        { head: "Started", text: (x) => since(x.started_at) },
        { head: "Grace until", text: (x) => vox.until(x.grace_until) },
        { head: "Ended", text: (x) => x.ended_at ? since(x.ended_at) : "–" },
      ],
    }, d.drains || []);
  }

  function showPools(pools) {
    table("pools", {
      empty: "no pool",
      key: (p) => p.name,
      columns: [
        { head: "Pool", text: (p) => p.name },
        { head: "Region", text: (p) => p.region || "–" },
        { head: "Allocator", text: (p) => p.allocator },
        {
          head: "Weight",
          make: (p) => {
            const id = "weight-" + p.name;
            const input = el("input", { id, type: "number", min: 0, step: "any", value: String(p.weight),
              oninput: () => { input.dataset.dirty = "1"; } });
            const f = el("form", { class: "weight", onsubmit: (ev) => {
              ev.preventDefault();
              const w = Number(input.value);
              if (!(w >= 0) || input.value === "") { notice("A weight is a number ≥ 0.", true); return; }
              delete input.dataset.dirty;
              act("Set pool " + p.name + "'s weight to " + w + "? New sessions follow the weights at once.", "Set weight",
                "PUT", "/v1/pools/" + encodeURIComponent(p.name), { weight: w }, "Pool " + p.name + ": weight set to " + w + ".");
            } },
            el("label", { for: id, class: "sr" }, "Weight of pool " + p.name), input,
            el("button", { type: "submit", id: "set-weight-" + p.name }, "Set"));
            return f;
          },
          update: (f, p) => {
            const input = f.querySelector("input");
            if (document.activeElement !== input && !input.dataset.dirty && input.value !== String(p.weight)) input.value = String(p.weight);
          },
        },
        { head: "Share", num: true, text: (p) => num(p.share * 100, 1) + " %" },
        { head: "Pods (placeable / all)", num: true, text: (p) => num(p.pods_placeable) + " / " + num(p.pods) },
        { head: "Sessions", num: true, text: (p) => num(p.sessions) },
        { head: "Participants", num: true, text: (p) => num(p.participants) },
        { head: "New sessions", num: true, text: (p) => num(p.new_sessions) },
        { head: "Draining", text: (p) => p.draining ? "yes" : "no" },
        {
          head: "Actions",
          make: (p) => el("span", {},
            el("button", { type: "button", id: "drain-pool-" + p.name, class: "danger", onclick: () =>
              act("Drain every pod of pool " + p.name + "? Its participants are asked to reconnect elsewhere, at the fleet's reconnect budget.",
                "Drain pool", "POST", "/v1/pools/" + encodeURIComponent(p.name) + "/drain", undefined, "Pool " + p.name + ": drain started.") }, "Drain pool"),
            " ",
            el("button", { type: "button", id: "cancel-pool-" + p.name, onclick: () =>
              act("Cancel the drain of pool " + p.name + "? Pods still in their grace take sessions again.",
                "Cancel drain", "DELETE", "/v1/pools/" + encodeURIComponent(p.name) + "/drain", undefined, "Pool " + p.name + ": drain cancelled.") }, "Cancel drain")),
          update: (span, p) => { span.children[0].disabled = p.draining; span.children[1].disabled = !p.draining; },
        },
      ],
    }, pools);
  }

  // podGrace is the grace typed for pod drains ("0s" when empty).
  function podGrace() {
    const v = vox.$("drain-grace").value.trim();
    return v === "" ? "0s" : v;
  }

  function showPods(pods, drains) {
    const byPod = new Map();
    for (const d of (drains || [])) if (!byPod.has(d.pod)) byPod.set(d.pod, d); // newest first
    table("pods", {
      empty: "no pod reports to this router",
      key: (p) => p.name,
      columns: [
        { head: "Pod", text: (p) => p.name },
        { head: "Pool", text: (p) => p.pool || "default" },
        { head: "State", text: (p) => el("span", { class: p.placeable ? "ok" : (p.stale ? "bad" : "warn") },
          p.state + (p.placeable || p.why === p.state ? "" : " (" + (p.why || "not placeable") + ")")) },
        { head: "Agones", text: (p) => p.gameserver_state || "–" },
        { head: "Sessions / capacity", text: (p) => meter(p.session_count + p.pending_sessions, p.limits.max_sessions,
          num(p.session_count) + (p.pending_sessions ? " + " + num(p.pending_sessions) : "") + " / " + num(p.limits.max_sessions), "sessions of the capacity") },
        { head: "Participants", num: true, text: (p) => num(p.participants) + (p.pending_participants ? " + " + num(p.pending_participants) : "") + " / " + num(p.limits.max_participants) },
        { head: "CPU", num: true, text: (p) => num(p.cpu_percent, 0) + " %" },
        { head: "Accepting", text: (p) => p.accepting ? "yes" : "no" },
        { head: "Drain", text: (p) => {
          const d = byPod.get(p.name);
          if (d && !d.ended_at) return el("span", { id: "drain-" + p.name }, d.phase + (p.drain_phase ? " / " + p.drain_phase : "") + ": ", progress(d.participants_at_start, p.participants));
          if (d) return el("span", { id: "drain-" + p.name }, d.phase);
          return el("span", { id: "drain-" + p.name }, p.drain_phase || "–");
        } },
        { head: "Last report", num: true, text: (p) => el("span", { class: p.stale ? "bad" : "" }, dur(p.last_report_ago_ms) + " ago") },
        {
          head: "Actions",
          make: (p) => el("span", {},
            el("button", { type: "button", id: "drain-pod-" + p.name, class: "danger", onclick: () =>
              act("Drain pod " + p.name + " (grace " + podGrace() + ")? The router stops placing on it, then asks its participants to reconnect elsewhere.",
                "Drain pod", "POST", "/v1/pods/" + encodeURIComponent(p.name) + "/drain", { grace: podGrace() }, "Pod " + p.name + ": drain started.") }, "Drain"),
            " ",
            el("button", { type: "button", id: "cancel-pod-" + p.name, onclick: () =>
              act("Cancel the drain of pod " + p.name + "? Only a drain still in its grace can be cancelled.",
                "Cancel drain", "DELETE", "/v1/pods/" + encodeURIComponent(p.name) + "/drain", undefined, "Pod " + p.name + ": drain cancelled.") }, "Cancel drain")),
          update: (span, p) => {
            const d = byPod.get(p.name);
            const active = !!(d && !d.ended_at);
            span.children[0].disabled = active;
            span.children[1].disabled = !(active && d.phase === "stopped");
          },
        },
      ],
    }, pods);
  }

  async function get(path) {
    const r = await call("GET", path);
    if (r.status === 200) return { ok: true, body: r.body };
    return { ok: false, why: r.status === 404 ? "this router has no " + path : errorText(r) };
  }

  async function step() {
    const [st, pods, pools, drains] = await Promise.all([get("/v1/status"), get("/v1/pods"), get("/v1/pools"), get("/v1/drains")]);
    if (st.ok) showStatus(st.body);
    if (drains.ok) { showBudget(drains.body); showDrains(drains.body); } else { unavailable("budget", drains.why); unavailable("drains", drains.why); }
    if (pools.ok) showPools(pools.body.pools || []); else unavailable("pools", pools.why);
    if (pods.ok) showPods(pods.body.pods || [], drains.ok ? drains.body.drains : null); else unavailable("pods", pods.why);
    showWarm(st.ok ? st.body : null, pools.ok ? pools.body.pools : null);
    if (!st.ok) throw new Error("/v1/status: " + st.why);
  }

  let timer = null;
  refreshNow = () => { clearTimeout(timer); timer = setTimeout(() => step().catch(() => {}), 50); };
  document.addEventListener("DOMContentLoaded", () => vox.poll(step, 1000));
})();
