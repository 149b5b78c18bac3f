// Analytics charts (Apache ECharts) over the result the page embeds with json_script.
(function () {
  "use strict";
  var palette = ["#206bc4", "#2fb344", "#f76707", "#ae3ec9", "#17a2b8", "#d63939"];

  function funnelBars(steps, title, left) {
    return {
      title: { text: title, left: left, textStyle: { fontSize: 13 } },
      grid: { left: left === "0%" ? "3%" : "53%", width: "44%", top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value", gridIndex: left === "0%" ? 0 : 1, minInterval: 1 },
      yAxis: { type: "category", gridIndex: left === "0%" ? 0 : 1, inverse: true, data: steps.map(function (s) { return s.name; }) },
    };
  }

  function option(kind, data) {
    if (kind === "funnel") {
      var series = [{ type: "bar", name: "all", data: data.steps.map(function (s) { return s.count; }),
        label: { show: true, position: "right", formatter: function (p) {
          var c = data.steps[p.dataIndex].conversion; return p.value + (c === null ? "" : " (" + (c * 100).toFixed(1) + "%)"); } } }];
      (data.breakdown || []).slice(0, 5).forEach(function (b) {
        series.push({ type: "bar", name: b.value, data: b.steps.map(function (s) { return s.count; }) });
      });
      return { color: palette, tooltip: { trigger: "axis" }, legend: { bottom: 0 },
        grid: { left: 8, right: 64, top: 8, bottom: 32, containLabel: true },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", inverse: true, data: data.steps.map(function (s) { return s.name; }) }, series: series };
    }
    if (kind === "double") {
      var a = funnelBars(data.acquisition.steps, "acquisition", "0%");
      var r = funnelBars(data.retention.steps, "retention", "50%");
      return { color: palette, tooltip: { trigger: "axis" }, title: [a.title, r.title], grid: [a.grid, r.grid],
        xAxis: [a.xAxis, r.xAxis], yAxis: [a.yAxis, r.yAxis],
        series: [{ type: "bar", data: data.acquisition.steps.map(function (s) { return s.count; }) },
                 { type: "bar", xAxisIndex: 1, yAxisIndex: 1, data: data.retention.steps.map(function (s) { return s.count; }) }] };
    }
    if (kind === "retention") {
      var cells = [];
      data.cohorts.forEach(function (c, i) { c.rates.forEach(function (v, n) { cells.push([n, i, v === null ? 0 : +(v * 100).toFixed(1)]); }); });
      return { tooltip: { position: "top" }, grid: { left: 8, right: 8, top: 8, bottom: 64, containLabel: true },
        xAxis: { type: "category", data: Array.from({ length: data.periods }, function (_, n) { return String(n); }) },
        yAxis: { type: "category", inverse: true, data: data.cohorts.map(function (c) { return c.cohort + " (" + c.size + ")"; }) },
        visualMap: { min: 0, max: 100, calculable: true, orient: "horizontal", left: "center", bottom: 0 },
        series: [{ type: "heatmap", data: cells, label: { show: true } }] };
    }
    var days = data.days.map(function (d) { return d.day; });
    return { color: palette, tooltip: { trigger: "axis" }, legend: { bottom: 0 },
      grid: { left: 8, right: 8, top: 8, bottom: 32, containLabel: true },
      xAxis: { type: "category", data: days }, yAxis: { type: "value", minInterval: 1 },
      series: ["dau", "wau", "mau"].map(function (k) {
        return { type: "line", name: k.toUpperCase(), smooth: true, symbol: "none", data: data.days.map(function (d) { return d[k]; }) }; }) };
  }

  function draw() {
    var el = document.getElementById("analytics-chart");
    var src = document.getElementById("analytics-data");
    if (!el || !src || !window.echarts) { return; }
    var data = JSON.parse(src.textContent);
    if (!data || Object.keys(data).length === 0) { el.textContent = el.dataset.empty; return; }
    var chart = window.echarts.init(el);
    chart.setOption(option(el.dataset.kind, data));
    window.addEventListener("resize", function () { chart.resize(); });
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
