/* Calls per second over the last minutes as an inline SVG line, with the campaign's cap as
   a dashed line: OVChart.draw(svg, {cps: [...], bucket_s: 5}, cap). No library. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var LEFT = 36, RIGHT = 8, TOP = 10, BOTTOM = 22;

  function el(name, attrs, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(value) {
    if (value <= 1) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (value <= steps[i] * power) return steps[i] * power;
    }
    return 10 * power;
  }

  function draw(svg, chart, cap) {
    // Drawn in the chart's own pixels, so its labels are as legible on a phone as on a desk.
    var W = Math.max(200, Math.round(svg.clientWidth || 600));
    var H = Math.max(120, Math.round(svg.clientHeight || 220));
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    var values = (chart && chart.cps) || [];
    var n = Math.max(values.length, 2);
    var top = niceMax(Math.max(cap || 0, Math.max.apply(null, values.concat([0]))) * 1.1);
    var plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    function x(i) { return LEFT + (plotW * i) / (n - 1); }
    function y(v) { return TOP + plotH - (plotH * Math.min(v, top)) / top; }
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    [0, 0.5, 1].forEach(function (share) {
      var v = top * share;
      svg.appendChild(el("line", { "class": "grid-line", x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }));
      svg.appendChild(el("text", { x: LEFT - 4, y: y(v) + 4, "text-anchor": "end" },
        String(Math.round(v * 10) / 10)));
    });
    var spanMin = Math.round((values.length * ((chart && chart.bucket_s) || 5)) / 60);
    svg.appendChild(el("text", { x: LEFT, y: H - 6 }, "−" + spanMin + " min"));
    svg.appendChild(el("text", { x: W - RIGHT, y: H - 6, "text-anchor": "end" }, "now"));
    if (values.length) {
      var points = values.map(function (v, i) { return x(i) + "," + y(v); });
      svg.appendChild(el("polygon", {
        "class": "area",
        points: LEFT + "," + y(0) + " " + points.join(" ") + " " + x(values.length - 1) + "," + y(0)
      }));
      svg.appendChild(el("polyline", { "class": "series", points: points.join(" ") }));
    }
    if (cap) {
      svg.appendChild(el("line", { "class": "cap", x1: LEFT, x2: W - RIGHT, y1: y(cap), y2: y(cap) }));
    }
  }

  window.OVChart = { draw: draw };
})();
