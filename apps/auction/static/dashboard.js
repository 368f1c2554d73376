// The live dashboard: one EventSource on /api/stream; each "dashboard"
// event carries the whole snapshot, and every chart and table is redrawn
// from it (no page reloads).
(function () {
  "use strict";
  const palette = ["#1b6fb5", "#e07b24", "#2f9e5b", "#b53a6f", "#7a5bc4", "#c9a227", "#3aa3b5", "#8a8f99"];
  const base = { responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { display: false } } };
  function chart(id, type, datasets, extra) {
    return new Chart(document.getElementById(id), {
      type: type,
      data: { labels: [], datasets: datasets },
      options: Object.assign({}, base, extra || {}),
    });
  }
  const charts = {
    highest: chart("c-highest", "bar", [{ label: "highest bid", data: [], backgroundColor: palette }]),
    rate: chart("c-rate", "line", [{ label: "bids/min", data: [], borderColor: palette[0], pointRadius: 0, fill: false }],
      { scales: { y: { beginAtZero: true } } }),
    counts: chart("c-counts", "bar", [
      { label: "bids", data: [], backgroundColor: palette[0] },
      { label: "outbid", data: [], backgroundColor: palette[1] }],
      { plugins: { legend: { display: true } } }),
    bidders: chart("c-bidders", "bar", [{ label: "bids", data: [], backgroundColor: palette[2] }], { indexAxis: "y" }),
    prices: chart("c-prices", "bar", [{ label: "bids", data: [], backgroundColor: palette[4] }]),
    lag: chart("c-lag", "bar", [{ label: "lag (records)", data: [], backgroundColor: [palette[3], palette[6]] }],
      { scales: { y: { beginAtZero: true, suggestedMax: 5 } } }),
  };
  function set(c, labels, ...series) {
    c.data.labels = labels;
    series.forEach((s, i) => { c.data.datasets[i].data = s; });
    c.update("none");
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  function rows(id, list, fill) {
    const body = document.querySelector("#" + id + " tbody");
    body.replaceChildren();
    list.forEach((x) => { const tr = document.createElement("tr"); fill(tr, x); body.appendChild(tr); });
  }
  function time(ms) { return new Date(ms).toLocaleTimeString(); }
  function render(d) {
    const names = d.items.map((i) => i.item);
    set(charts.highest, names, d.items.map((i) => i.highest || 0));
    set(charts.rate, d.bids_per_minute.map((p) => time(p[0])), d.bids_per_minute.map((p) => p[1]));
    set(charts.counts, names, d.items.map((i) => i.bids), d.items.map((i) => i.outbid));
    set(charts.bidders, d.top_bidders.map((b) => b.name), d.top_bidders.map((b) => b.bids));
    set(charts.prices, d.price_histogram.map((h) => h[0]), d.price_histogram.map((h) => h[1]));
    set(charts.lag, d.lag.map((g) => g.group), d.lag.map((g) => g.total));
    document.getElementById("total").textContent = d.total_bids;
    const lag = (g) => { const x = d.lag.find((l) => l.group === g); return x ? String(x.total) : "?"; };
    document.getElementById("lag-db").textContent = lag("bid-db-writers");
    document.getElementById("lag-backup").textContent = lag("bid-backup");
    const dead = document.getElementById("dead-letters");
    dead.textContent = d.dead_letters == null ? "?" : String(d.dead_letters);
    dead.title = d.dead_letter_topic;
    dead.classList.toggle("alert", d.dead_letters > 0);
    document.getElementById("late-bids").textContent = d.late_bids == null ? "?" : String(d.late_bids);
    rows("minutes", d.minutes, (tr, m) => {
      cell(tr, m.item); cell(tr, time(m.minute_start)); cell(tr, String(m.bids));
      cell(tr, m.highest == null ? "-" : String(m.highest));
    });
    rows("items", d.items, (tr, i) => {
      cell(tr, i.item); cell(tr, i.highest == null ? "-" : String(i.highest));
      cell(tr, i.open ? (i.leader || "-") : "winner: " + (i.winner || "none"));
      cell(tr, String(i.bids)); cell(tr, i.time_left);
    });
    rows("latest", d.latest, (tr, b) => {
      cell(tr, b.item); cell(tr, b.name); cell(tr, String(b.price)); cell(tr, b.status, b.status);
    });
    document.getElementById("live").textContent = "live · updated " + time(d.now);
  }
  const source = new EventSource("/api/stream");
  source.addEventListener("dashboard", (e) => render(JSON.parse(e.data)));
  source.onerror = () => { document.getElementById("live").textContent = "reconnecting…"; };
})();
