// The wallboard: redraws the figures and tables from /wallboard/data every 2 s and the day charts from
// /wallboard/history every minute, in place (no page reload: the big screen does not flash or lose its
// scroll). Each figure carries data-field / data-value (the raw JSON value) for the browser test.
// Served inline by wallboard.rs.
(function () {
  "use strict";
  const L = JSON.parse(document.getElementById("labels").textContent);
  const lang = document.body.dataset.lang === "en" ? "en" : "zh-CN";
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const none = (v) => v === null || v === undefined;
  const pct = (v) => (none(v) ? "–" : (v * 100).toFixed(1) + "%");
  const secs = (ms) => (none(ms) ? "–" : String(Math.round(ms / 1000)));
  const cell = (field, v, text) =>
    `<td data-field="${esc(field)}" data-value="${esc(none(v) ? "" : v)}">${esc(none(text) ? "" : text)}</td>`;
  const set = (id, v, text) => {
    const e = $(id);
    e.textContent = text;
    e.dataset.value = none(v) ? "" : String(v);
  };

  Chart.defaults.font.family = '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
  Chart.defaults.color = "#ccc";
  Chart.defaults.borderColor = "#333";
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  async function json(url) {
    // Against the origin, which never holds credentials (a page opened as http://user:pass@host/… would make
    // fetch refuse a relative URL); the browser still sends the Basic credentials it has for the origin.
    const r = await fetch(new URL(url, location.origin).href, { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  let waitingNow = 0;
  let charts = null;
  let history = null;

  function render(b) {
    const c = b.center;
    set("active", b.active_calls, String(b.active_calls));
    set("answer-rate", c.answer_rate, pct(c.answer_rate));
    set("service-level", c.service_level, pct(c.service_level));
    for (const k of ["offered", "answered", "abandoned", "callbacks"]) set(k, c[k], String(c[k]));

    waitingNow = 0;
    let rows = "";
    for (const q of b.queues) {
      const s = q.stats, seats = q.seats;
      waitingNow += q.waiting;
      rows += `<tr data-queue="${esc(q.name)}">` + cell("name", q.name, q.name) + cell("waiting", q.waiting, q.waiting) +
        cell("longest_wait_s", Math.floor(q.longest_wait_ms / 1000), Math.floor(q.longest_wait_ms / 1000)) +
        cell("ready", seats.ready, seats.ready) + cell("on_calls", seats.ringing + seats.talking, seats.ringing + seats.talking) +
        cell("not_ready", seats.not_ready, seats.not_ready) + cell("offered", s.offered, s.offered) +
        cell("answered", s.answered, s.answered) + cell("abandoned", s.abandoned, s.abandoned) +
        cell("service_level", s.service_level, pct(s.service_level)) + cell("answer_rate", s.answer_rate, pct(s.answer_rate)) +
        cell("asa_s", s.asa_ms, secs(s.asa_ms)) + cell("aht_s", s.aht_ms, secs(s.aht_ms)) + "</tr>";
    }
    $("queues").tBodies[0].innerHTML = rows;

    rows = "";
    for (const s of b.seats) {
      const who = [s.operator, s.operator_name].filter((x) => x).join(" ");
      const state = (L["state." + s.state] || s.state) + (s.registered ? "" : L["wb.not_registered"]);
      rows += `<tr class="${esc(s.state)}" data-seat="${esc(s.id)}">` + cell("id", s.id, s.id) + cell("operator", s.operator, who) +
        cell("state", s.state, state) + cell("reason", s.reason, s.reason_name) + cell("in_state_s", s.in_state_s, s.in_state_s) +
        cell("queues", s.queues.join(","), s.queues.join(", ")) + cell("tags", s.tags.join(","), s.tags.join(", ")) + "</tr>";
    }
    $("seats").tBodies[0].innerHTML = rows;

    rows = "";
    for (const [dept, t] of Object.entries(b.transfers)) {
      const sl = t.attempts > 0 ? t.answered_within_target / t.attempts : null;
      rows += `<tr data-department="${esc(dept)}">` + cell("department", dept, dept) + cell("attempts", t.attempts, t.attempts) +
        cell("answered_within_target", t.answered_within_target, t.answered_within_target) +
        cell("failed", t.failed, t.failed) + cell("service_level", sl, pct(sl)) + "</tr>";
    }
    $("transfers").tBodies[0].innerHTML = rows;

    const q = b.quality;
    if (q) {
      const m = (v) => (none(v) ? "–" : v.toFixed(2));
      $("quality").textContent = `${L["wb.quality"]} ${m(q.mean_caller_mos)} (${q.calls} ${L["wb.quality_calls"]}, ` +
        `${q.poor_calls} ${L["wb.quality_poor"]}) · ${L["wb.quality_latest"]} ${q.latest.map((c) => m(c.caller_mos)).join(" ")}`;
    }

    liveWaiting();
    $("updated").textContent = new Date().toLocaleTimeString(lang);
    $("status").textContent = "";
    document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  }

  // The last point of the waiting chart is the current step: it shows the peak so far, raised by what the
  // live figures say now (the history's next fetch agrees: the daemon samples every second).
  function liveWaiting() {
    if (!charts || !history) return;
    const data = charts.waiting.data.datasets[0].data;
    const last = data.length - 1;
    if (last < 0) return;
    data[last] = Math.max(history.waiting[last].peak, waitingNow);
    charts.waiting.update("none");
    const canvas = $("chart-waiting");
    canvas.dataset.last = String(data[last]);
    canvas.dataset.now = String(waitingNow);
  }

  function drawHistory(h) {
    history = h;
    const waiting = h.waiting.map((p) => p.peak);
    const levels = h.service_level.map((p) => (none(p.service_level) ? null : Math.round(p.service_level * 1000) / 10));
    const target = h.service_level.map(() => Math.round(h.target * 1000) / 10);
    if (!charts) {
      charts = {
        waiting: new Chart($("chart-waiting"), {
          type: "bar",
          data: { labels: h.labels, datasets: [{ label: L["wb.waiting"], data: waiting, backgroundColor: "#fc6" }] },
          options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }, plugins: { legend: { display: false } } },
        }),
        level: new Chart($("chart-service-level"), {
          type: "line",
          data: {
            labels: h.labels,
            datasets: [
              { label: L["wb.service_level"], data: levels, borderColor: "#6f6", backgroundColor: "#6f6", spanGaps: true, pointRadius: 2 },
              { label: L["wb.target"], data: target, borderColor: "#f66", borderDash: [6, 4], pointRadius: 0 },
            ],
          },
          options: { scales: { y: { min: 0, max: 100, ticks: { callback: (v) => v + "%" } } } },
        }),
      };
    } else {
      charts.waiting.data.labels = h.labels;
      charts.waiting.data.datasets[0].data = waiting;
      charts.level.data.labels = h.labels;
      charts.level.data.datasets[0].data = levels;
      charts.level.data.datasets[1].data = target;
      charts.waiting.update("none");
      charts.level.update("none");
    }
    const w = $("chart-waiting"), s = $("chart-service-level");
    w.dataset.points = String(waiting.length);
    w.dataset.max = String(Math.max(0, ...waiting));
    s.dataset.points = String(levels.length);
    s.dataset.offered = String(h.service_level.reduce((n, p) => n + p.offered, 0));
    const known = h.service_level.filter((p) => !none(p.service_level));
    s.dataset.last = known.length ? String(known[known.length - 1].service_level) : "";
    liveWaiting();
  }

  async function pollData() {
    try {
      render(await json("/wallboard/data"));
    } catch (e) {
      $("status").textContent = L["wb.offline"];
    }
    setTimeout(pollData, 2000);
  }

  async function pollHistory() {
    try {
      drawHistory(await json("/wallboard/history"));
    } catch (e) {
      $("status").textContent = L["wb.offline"];
    }
    setTimeout(pollHistory, 60000);
  }

  pollHistory().then(pollData);
})();
