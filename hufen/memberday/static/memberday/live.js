// Member Day live dashboard: the check-ins-per-minute line (Apache ECharts), redrawn after each htmx refresh.
(function () {
  "use strict";
  var chart = null;

  function draw() {
    var el = document.getElementById("memberday-chart");
    var src = document.getElementById("memberday-per-minute");
    if (!el || !src || !window.echarts) { return; }
    var rows = JSON.parse(src.textContent) || [];
    if (chart && chart.getDom() !== el) { chart.dispose(); chart = null; }
    if (rows.length === 0) { el.textContent = el.dataset.empty; return; }
    chart = chart || window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption({
      color: ["#206bc4"],
      tooltip: { trigger: "axis" },
      grid: { left: 8, right: 16, top: 16, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: rows.map(function (r) { return r[0]; }) },
      yAxis: { type: "value", minInterval: 1 },
      series: [{ name: el.dataset.label, type: "line", smooth: true, showSymbol: rows.length < 30, symbolSize: 6,
        areaStyle: { opacity: 0.15 },
        data: rows.map(function (r) { return r[1]; }) }],
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.body.addEventListener("htmx:afterSwap", draw);
  window.addEventListener("resize", function () { if (chart) { chart.resize(); } });
})();
