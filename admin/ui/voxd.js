// voxd's pod page: polls /v1/status (rates from the difference of two
// polls' counters) and /ui/pod.json (the Agones state and the last report
// to the router). Read-only. Uses common.js (vox).
"use strict";

(() => {
  const { el, num, since, until, meter, set, table, unavailable, call, errorText } = vox;

  // The drop and error counters of api.Counters, with their labels.
  const DROPS = [
    ["drop_unknown_ssrc", "unknown SSRC"], ["drop_auth", "SRTP authentication"], ["drop_replay", "replay"],
    ["drop_malformed", "malformed"], ["drop_too_short", "too short"], ["drop_too_long", "too long"],
    ["drop_not_rtp", "not RTP/RTCP"], ["drop_rate_limit", "rate limit (unlatched address)"],
    ["drop_truncated", "truncated (over --max-datagram)"], ["kernel_drops", "kernel (socket buffer full)"],
    ["send_errors", "send errors"], ["encrypt_errors", "encrypt errors"],
  ];

  let prev = null; // {t, totals}

  function rate(key, now) {
    if (!prev) return null;
    const dt = (now.t - prev.t) / 1000;
    if (dt <= 0) return null;
    return Math.max(0, (now.totals[key] - prev.totals[key]) / dt);
  }

  function showStatus(st, t) {
    const cur = { t, totals: st.totals };
    const bad = st.state === "draining" || st.state === "drained" || st.state === "stopped";
    set("pd-state", st.state, bad ? "warn" : (st.state === "accepting" ? "ok" : "warn"));
    set("pd-accepting", st.accepting ? "yes" : "no", st.accepting ? "ok" : "warn");
    set("pd-reason", st.reason ? "Reason: " + st.reason : "");
    vox.replace("pd-sessions", meter(st.sessions, st.limits.max_sessions, num(st.sessions) + " / " + num(st.limits.max_sessions), "sessions of the limit"));
    vox.replace("pd-participants", meter(st.participants, st.limits.max_participants, num(st.participants) + " / " + num(st.limits.max_participants), "participants of the limit"));
    set("pd-cpu", num(st.cpu_percent, 1) + " %", st.cpu_percent > 80 ? "warn" : "");
    set("pd-steering", st.steering ? "on" : "off");
    set("pd-expired", num(st.expired_sessions));
    const r = (k) => rate(k, cur);
    set("pd-rx-pps", num(r("rx_packets"), 0));
    set("pd-tx-pps", num(r("tx_packets"), 0));
    const rb = r("rx_bytes"), tb = r("tx_bytes");
    set("pd-rx-bps", rb === null ? "–" : num(rb * 8 / 1e6, 2));
    set("pd-tx-bps", tb === null ? "–" : num(tb * 8 / 1e6, 2));
    set("pd-fwd-pps", num(r("forwarded"), 0));
    set("pd-kernel-drops", num(st.totals.kernel_drops), st.totals.kernel_drops > 0 ? "bad" : "");
    set("pd-rx-total", num(st.totals.rx_packets));
    set("pd-tx-total", num(st.totals.tx_packets));
    table("drops", {
      key: (d) => d[0],
      columns: [
        { head: "Reason", text: (d) => d[1] },
        { head: "Total", num: true, text: (d) => el("span", { id: "drop-" + d[0], class: st.totals[d[0]] > 0 ? "warn" : "" }, num(st.totals[d[0]])) },
        { head: "Per second", num: true, text: (d) => num(r(d[0]), 1) },
      ],
    }, DROPS);
    showDrain(st.drain);
    table("shards", {
      key: (s) => String(s.id),
      columns: [
        { head: "Shard", text: (s) => String(s.id) },
        { head: "Sessions", num: true, text: (s) => num(s.sessions) },
        { head: "Participants", num: true, text: (s) => num(s.participants) },
        { head: "Packets in", num: true, text: (s) => num(s.counters.rx_packets) },
        { head: "Packets out", num: true, text: (s) => num(s.counters.tx_packets) },
        { head: "Drops (auth / unknown SSRC)", num: true, text: (s) => num(s.counters.drop_auth) + " / " + num(s.counters.drop_unknown_ssrc) },
        { head: "Kernel drops", num: true, text: (s) => num(s.counters.kernel_drops) },
      ],
    }, st.shards || []);
    const removed = Object.entries(st.totals.removed || {}).sort();
    table("removed", {
      empty: "nobody removed yet",
      key: (e) => e[0],
      columns: [
        { head: "Reason", text: (e) => e[0] },
        { head: "Participants", num: true, text: (e) => num(e[1]) },
      ],
    }, removed);
    prev = cur;
  }

  function showDrain(d) {
    if (!d) { unavailable("drain", "no drain"); return; }
    if (!vox.$("drain-grid")) {
      const item = (id, label) => el("div", {}, el("dt", {}, label), el("dd", { id }));
      vox.$("drain").replaceChildren(el("dl", { class: "grid", id: "drain-grid" },
        item("dr-phase", "Phase"), item("dr-progress", "Progress"), item("dr-left", "Participants / sessions left"),
        item("dr-started", "Started"), item("dr-grace", "Grace ends"), item("dr-deadline", "Deadline"),
        item("dr-rate", "Notice rate / s"), item("dr-notices", "Notices sent (repeats)"),
        item("dr-reconnected", "Reconnected / timed out"), item("dr-removed", "Removed at deadline / unreachable")));
    }
    set("dr-phase", d.phase + (d.reason ? " (" + d.reason + ")" : ""), d.phase === "drained" ? "ok" : "warn");
    const gone = d.reconnected + d.timed_out + d.removed_at_deadline;
    const total = gone + d.participants_left;
    vox.replace("dr-progress", meter(gone, total, total ? num(100 * gone / total, 0) + " % moved" : "nobody to move", "participants moved"));
    set("dr-left", num(d.participants_left) + " / " + num(d.sessions_left));
    set("dr-started", since(d.started_at));
    set("dr-grace", until(d.grace_until));
    set("dr-deadline", until(d.deadline), Date.parse(d.deadline) < Date.now() && d.phase !== "drained" ? "bad" : "");
    set("dr-rate", num(d.rate, 1));
    set("dr-notices", num(d.notices_sent) + " (" + num(d.notices_repeated) + ")");
    set("dr-reconnected", num(d.reconnected) + " / " + num(d.timed_out));
    set("dr-removed", num(d.removed_at_deadline) + " / " + num(d.unreachable));
  }

  function showPod(info) {
    const rep = info.last_report;
    const rows = [
      ["Agones", info.agones || "off"],
      ["GameServer state", info.gameserver_state || "–"],
      ["Router", info.router || "none (not reporting)"],
    ];
    if (rep) {
      rows.push(["Last report built", since(rep.at) + " (seq " + num(rep.seq) + ")"],
        ["Reported pool", rep.pool || "default"],
        ["Reported sessions / participants", num((rep.sessions || []).length) + " / " + num(rep.participants)],
        ["Reported state, accepting", rep.state + ", " + (rep.accepting ? "accepting" : "not accepting")],
        ["Reported CPU", num(rep.cpu_percent, 1) + " %"],
        ["Reported drain phase", rep.drain_phase || "–"],
        ["Reported media", rep.media ? rep.media.address + ":" + rep.media.port : "–"]);
    }
    table("agones", {
      key: (r) => r[0],
      columns: [{ head: "What", text: (r) => r[0] }, { head: "Value", text: (r) => r[1] }],
    }, rows);
  }

  async function step() {
    const t = performance.now();
    const [st, pod] = await Promise.all([call("GET", "/v1/status"), call("GET", "/ui/pod.json")]);
    if (pod.status === 200) showPod(pod.body); else unavailable("agones", errorText(pod));
    if (st.status !== 200) throw new Error("/v1/status: " + errorText(st));
    showStatus(st.body, t);
  }

  document.addEventListener("DOMContentLoaded", () => vox.poll(step, 1000));
})();
