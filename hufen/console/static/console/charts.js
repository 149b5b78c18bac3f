// Home page charts: Apache ECharts over the figures the page embeds with json_script.
(function () {
  "use strict";

  var palette = ["#206bc4", "#2fb344", "#f76707", "#ae3ec9", "#17a2b8", "#d63939", "#f59f00", "#74b816"];

  function optionFor(kind, data, label) {
    if (kind === "by_month") {
      return {
        color: palette,
        grid: { left: 40, right: 16, top: 24, bottom: 32 },
        tooltip: { trigger: "axis" },
        xAxis: { type: "category", data: data.map(function (r) { return r.month; }) },
        yAxis: { type: "value", minInterval: 1 },
        series: [{
          name: label, type: "bar", barMaxWidth: 28,
          data: data.map(function (r) { return r.count; }),
        }, {
          name: label, type: "line", smooth: true, symbol: "none",
          data: data.map(function (r) { return r.count; }),
        }],
      };
    }
    if (kind === "by_brand") {
      return {
        color: palette,
        tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
        legend: { bottom: 0 },
        series: [{ type: "pie", radius: ["45%", "70%"], center: ["50%", "45%"], data: data, label: { show: false } }],
      };
    }
    return {  // by_series: horizontal bars, largest on top
      color: palette,
      grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: data.map(function (r) { return r.name; }) },
      series: [{ name: label, type: "bar", barMaxWidth: 18, data: data.map(function (r) { return r.value; }) }],
    };
  }

  function draw() {
    var source = document.getElementById("chart-data");
    if (!source || typeof echarts === "undefined") { return; }
    var figures = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var data = figures[el.dataset.chart] || [];
      if (!data.length) {
        el.classList.add("chart-empty");
        el.textContent = el.dataset.empty || "";
        return;
      }
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(optionFor(el.dataset.chart, data, el.dataset.label || ""));
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
