// The KPI page: reads the API for the page's range and draws each figure twice, as text (with data-kpi /
// data-value, the raw API value) and as a Chart.js chart. Served inline by kpi_page.rs.
(function () {
  "use strict";
  const L = JSON.parse(document.getElementById("labels").textContent);
  const Q = document.body.dataset.query;
  const status = document.getElementById("status");
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const pct = (v) => (v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%");
  const raw = (v) => (v === null || v === undefined ? "" : String(v));
  const cell = (key, v, text) => `<td data-kpi="${esc(key)}" data-value="${esc(raw(v))}">${esc(text)}</td>`;
  const rateCell = (key, v) => cell(key, v, pct(v));
  const numCell = (key, v) => cell(key, v, String(v));
  const head = (cols) => "<tr>" + cols.map((c) => `<th>${esc(c)}</th>`).join("") + "</tr>";
  const asPct = (v) => (v === null || v === undefined ? null : Math.round(v * 1000) / 10);
  const rated = (s) => s.satisfied + s.basic + s.unsatisfied;

  Chart.defaults.font.family = '"Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const percentAxis = { y: { min: 0, max: 100, ticks: { callback: (v) => v + "%" } } };
  function draw(id, config) {
    const canvas = document.getElementById(id);
    new Chart(canvas, config);
    canvas.dataset.drawn = "1";
  }

  async function json(url) {
    // Resolved against the origin, which never holds credentials: a page opened as http://user:pass@host/kpi
    // would otherwise make fetch refuse the relative URL (it inherits them); the browser still sends the
    // Basic credentials it has for this origin.
    const r = await fetch(new URL(url, location.origin).href, { credentials: "same-origin" });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  function summary(k) {
    const so = k.satisfaction_after_call, sc = k.satisfaction_call_back, c = k.callback_coverage;
    const rows = [
      ["kpi.answer_rate", rateCell("answer_rate", k.answer_rate), `${numCell("calls.answered", k.calls.answered).replace("<td", "<td")}`, numCell("calls.offered", k.calls.offered), "kpi.basis.answer"],
      ["kpi.on_time_rate", rateCell("on_time.rate", k.on_time.rate), numCell("on_time.on_time", k.on_time.on_time), numCell("on_time.closed", k.on_time.closed), "kpi.basis.on_time"],
      ["kpi.reopen_rate", rateCell("reopen.rate", k.reopen.rate), numCell("reopen.reopened", k.reopen.reopened), numCell("reopen.closed_ever", k.reopen.closed_ever), "kpi.basis.reopen"],
      ["kpi.satisfaction_after_call", rateCell("satisfaction_after_call.rate", so.rate), numCell("satisfaction_after_call.good", so.satisfied + so.basic), numCell("satisfaction_after_call.rated", rated(so)), "kpi.basis.satisfaction"],
      ["kpi.satisfaction_call_back", rateCell("satisfaction_call_back.rate", sc.rate), numCell("satisfaction_call_back.good", sc.satisfied + sc.basic), numCell("satisfaction_call_back.rated", rated(sc)), "kpi.basis.satisfaction"],
      ["kpi.callback_coverage", rateCell("callback_coverage.rate", c.rate), numCell("callback_coverage.done", c.done), numCell("callback_coverage.due", c.due), "kpi.basis.coverage"],
    ];
    let html = head([L["kpi.metric"], L["kpi.value"], "", "", L["kpi.basis"]]);
    for (const [label, value, num, den, basis] of rows) {
      html += `<tr><td>${esc(L[label])}</td>${value}${num}${den}<td>${esc(L[basis])}</td></tr>`;
    }
    html += `<tr><td>${esc(L["kpi.tickets"])}</td>${numCell("tickets", k.tickets)}<td></td><td></td><td></td></tr>`;
    html += `<tr><td>${esc(L["kpi.overdue_open"])}</td>${numCell("on_time.overdue_open", k.on_time.overdue_open)}<td></td><td></td><td></td></tr>`;
    html += `<tr><td>${esc(L["kpi.not_accepted"])}</td>${numCell("not_accepted.total", k.not_accepted.total)}<td></td><td></td><td></td></tr>`;
    document.getElementById("summary").innerHTML = html;
    draw("chart-rates", {
      type: "bar",
      data: {
        labels: rows.map((r) => L[r[0]]),
        datasets: [{
          label: L["kpi.rates"],
          data: [k.answer_rate, k.on_time.rate, k.reopen.rate, so.rate, sc.rate, c.rate].map(asPct),
          backgroundColor: ["#3b7dd8", "#2e9e5b", "#d9822b", "#8e5bd8", "#b05bd8", "#1fa3a3"],
        }],
      },
      options: { plugins: { legend: { display: false } }, scales: percentAxis },
    });
  }

  function departments(k, tr) {
    const byDept = new Map();
    for (const d of k.departments) byDept.set(d.department, { kpi: d });
    for (const d of tr.departments) {
      const e = byDept.get(d.department) || {};
      e.transfer = d;
      byDept.set(d.department, e);
    }
    let html = head([L["kpi.department"], L["kpi.tickets"], L["kpi.on_time_rate"], L["kpi.reopen_rate"], L["kpi.satisfaction_call_back"]]);
    for (const d of k.departments) {
      const p = "dept:" + d.department + ":";
      html += `<tr data-dept="${esc(d.department)}"><td>${esc(d.department)}</td>${numCell(p + "tickets", d.tickets)}${rateCell(p + "on_time.rate", d.on_time.rate)}${rateCell(p + "reopen.rate", d.reopen.rate)}${rateCell(p + "satisfaction_call_back.rate", d.satisfaction_call_back.rate)}</tr>`;
    }
    document.getElementById("departments").innerHTML = html;
    draw("chart-departments", {
      type: "bar",
      data: {
        labels: k.departments.map((d) => d.department),
        datasets: [
          { label: L["kpi.on_time_rate"], data: k.departments.map((d) => asPct(d.on_time.rate)), backgroundColor: "#2e9e5b" },
          { label: L["kpi.reopen_rate"], data: k.departments.map((d) => asPct(d.reopen.rate)), backgroundColor: "#d9822b" },
          { label: L["kpi.satisfaction_call_back"], data: k.departments.map((d) => asPct(d.satisfaction_call_back.rate)), backgroundColor: "#8e5bd8" },
        ],
      },
      options: { scales: percentAxis },
    });
    let t = head([L["kpi.department"], L["kpi.attempts"], L["kpi.within_target"], L["kpi.service_level"]]);
    const o = tr.overall;
    t += `<tr><td>*</td>${numCell("transfer:*:attempts", o.attempts)}${numCell("transfer:*:answered_within_target", o.answered_within_target)}${rateCell("transfer:*:service_level", o.service_level)}</tr>`;
    for (const d of tr.departments) {
      const p = "transfer:" + d.department + ":";
      t += `<tr><td>${esc(d.department)}</td>${numCell(p + "attempts", d.attempts)}${numCell(p + "answered_within_target", d.answered_within_target)}${rateCell(p + "service_level", d.service_level)}</tr>`;
    }
    document.getElementById("transfers").innerHTML = t;
    draw("chart-transfers", {
      type: "bar",
      data: {
        labels: tr.departments.map((d) => d.department),
        datasets: [{ label: L["kpi.service_level"], data: tr.departments.map((d) => asPct(d.service_level)), backgroundColor: "#3b7dd8" }],
      },
      options: { plugins: { legend: { display: false } }, scales: percentAxis },
    });
  }

  function satisfaction(k) {
    const kinds = ["satisfied", "basic", "unsatisfied", "not_evaluated"];
    const colors = ["#2e9e5b", "#9ccc65", "#e53935", "#aaaaaa"];
    const surveys = [["after_call", k.satisfaction_after_call], ["call_back", k.satisfaction_call_back]];
    let html = head(["", ...kinds.map((s) => L["sat." + s])]);
    for (const [name, s] of surveys) {
      html += `<tr><td>${esc(L["kpi." + name])}</td>` + kinds.map((x) => numCell(`satisfaction_${name}.${x}`, s[x])).join("") + "</tr>";
    }
    document.getElementById("satisfaction").innerHTML = html;
    draw("chart-satisfaction", {
      type: "bar",
      data: {
        labels: surveys.map(([name]) => L["kpi." + name]),
        datasets: kinds.map((x, i) => ({ label: L["sat." + x], data: surveys.map(([, s]) => s[x]), backgroundColor: colors[i] })),
      },
      options: { indexAxis: "y", scales: { x: { stacked: true, ticks: { precision: 0 } }, y: { stacked: true } } },
    });
  }

  function notAccepted(k) {
    const reasons = Object.keys(k.not_accepted.by_reason);
    let html = head([L["kpi.reason"], L["kpi.count"]]);
    for (const r of reasons) {
      html += `<tr><td>${esc(L["reason." + r] || r)}</td>${numCell("not_accepted:" + r, k.not_accepted.by_reason[r])}</tr>`;
    }
    if (reasons.length === 0) html += `<tr><td colspan="2">${esc(L["kpi.none"])}</td></tr>`;
    document.getElementById("not-accepted").innerHTML = html;
    draw("chart-not-accepted", {
      type: "doughnut",
      data: {
        labels: reasons.map((r) => L["reason." + r] || r),
        datasets: [{ data: reasons.map((r) => k.not_accepted.by_reason[r]) }],
      },
      options: { plugins: { legend: { position: "right" } } },
    });
  }

  Promise.all([json("/api/stats/kpi?" + Q), json("/api/stats/transfers?" + Q)])
    .then(([k, tr]) => {
      summary(k);
      departments(k, tr);
      satisfaction(k);
      notAccepted(k);
      status.textContent = "";
      document.body.dataset.ready = "1";
    })
    .catch((e) => {
      status.textContent = L["kpi.error"] + e.message;
      document.body.dataset.ready = "error";
    });
})();
