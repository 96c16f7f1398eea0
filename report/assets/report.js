"use strict";
// The page's script: the commit filter and the commit graph. Everything else is static HTML
// and SVG.
(function () {
  var data = JSON.parse(document.getElementById("commit-data").textContent);
  var box = document.getElementById("filter");
  var input = document.getElementById("filter-text");
  var count = document.getElementById("filter-count");
  var rows = data.ids.map(function (id) { return document.getElementById("c-" + id); });
  box.hidden = false;
  input.addEventListener("input", function () {
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = query === "" || data.text[i].indexOf(query) !== -1;
      if (rows[i]) { rows[i].hidden = !hit; }
      if (hit) { shown++; }
    }
    count.textContent = shown + " of " + rows.length;
  });
})();

// The commit graph: every commit's lane and edges come laid out in the JSON block; only the
// rows in view (and a margin) are drawn, again as the reader scrolls.
(function () {
  var source = document.getElementById("graph-data");
  if (!source) { return; }
  var g = JSON.parse(source.textContent);
  var box = document.getElementById("graph");
  var inner = document.getElementById("graph-inner");
  var svg = document.getElementById("graph-svg");
  var NS = "http://www.w3.org/2000/svg";
  var ROW = 20, LANE = 12, PAD = 10, MARGIN = 30, BUCKET = 64;
  var n = g.n, edges = g.edges;
  var tags = {};
  g.tags.forEach(function (t) { tags[t[0]] = t[1]; });
  // The edges that cross each block of rows, so a view finds its edges without a scan.
  var buckets = [];
  for (var b = 0; b <= Math.floor(n / BUCKET); b++) { buckets.push([]); }
  for (var k = 0; k < edges.length; k += 3) {
    var child = edges[k], parent = child + edges[k + 1];
    for (var c = Math.floor(child / BUCKET); c <= Math.floor(parent / BUCKET); c++) { buckets[c].push(k); }
  }
  var lanePx = LANE;
  function x(lane) { return PAD + lane * lanePx; }
  function y(row) { return row * ROW + ROW / 2; }
  function node(name, attributes, text) {
    var element = document.createElementNS(NS, name);
    for (var key in attributes) { element.setAttribute(key, attributes[key]); }
    if (text !== undefined) { element.textContent = text; }
    return element;
  }
  var shown = [-1, -1, -1];
  function draw() {
    var first = Math.max(0, Math.floor(box.scrollTop / ROW) - MARGIN);
    var last = Math.min(n, Math.ceil((box.scrollTop + box.clientHeight) / ROW) + MARGIN);
    var width = Math.max(box.clientWidth, 300);
    if (first === shown[0] && last === shown[1] && width === shown[2]) { return; }
    shown = [first, last, width];
    // The edges in view, and the widest lane among them and the rows.
    var inView = [];
    var widest = 0;
    var seen = {};
    for (var block = Math.floor(first / BUCKET); block <= Math.floor(Math.max(first, last - 1) / BUCKET); block++) {
      var list = buckets[block] || [];
      for (var i = 0; i < list.length; i++) {
        var at = list[i];
        if (seen[at]) { continue; }
        seen[at] = true;
        var from = edges[at], to = from + edges[at + 1];
        if (to < first || from >= last) { continue; }
        inView.push(at);
        widest = Math.max(widest, edges[at + 2]);
      }
    }
    for (var row = first; row < last; row++) { widest = Math.max(widest, g.lane[row]); }
    // Many lanes at once (a history in date order keeps long-lived branches open) get
    // narrower, so the lanes take at most two fifths of the width and the text stays in view.
    lanePx = Math.max(1.5, Math.min(LANE, (width * 0.4 - PAD) / (widest + 1)));
    var lines = node("g", { "class": "edges" });
    for (var e = 0; e < inView.length; e++) {
      var k = inView[e];
      var start = edges[k], end = start + edges[k + 1], lane = edges[k + 2];
      var d = "M" + x(g.lane[start]) + " " + y(start);
      if (end > start + 1) {
        d += "L" + x(lane) + " " + y(start + 1) + "L" + x(lane) + " " + y(end - 1);
      }
      d += "L" + x(g.lane[end]) + " " + y(end);
      lines.appendChild(node("path", { d: d }));
    }
    var dots = node("g", {});
    var texts = node("g", { "class": "rows" });
    var left = x(widest + 1) + PAD;
    for (var r = first; r < last; r++) {
      dots.appendChild(node("circle", {
        cx: x(g.lane[r]), cy: y(r), r: Math.min(4, Math.max(2, lanePx / 2)), "class": "k-" + g.classes[g.cls[r]]
      }));
      var text = node("text", { x: left, y: y(r) + 4 });
      text.appendChild(node("tspan", { "class": "gid" }, g.ids.substr(r * 7, 7)));
      if (tags[r] !== undefined) {
        text.appendChild(document.createTextNode(" "));
        text.appendChild(node("tspan", { "class": "gtag" }, tags[r]));
      }
      text.appendChild(document.createTextNode(" " + g.sub[r]));
      texts.appendChild(text);
    }
    while (svg.firstChild) { svg.removeChild(svg.firstChild); }
    svg.setAttribute("viewBox", "0 " + first * ROW + " " + width + " " + (last - first) * ROW);
    svg.setAttribute("width", width);
    svg.setAttribute("height", (last - first) * ROW);
    svg.style.top = first * ROW + "px";
    svg.appendChild(lines);
    svg.appendChild(dots);
    svg.appendChild(texts);
  }
  var pending = false;
  function later() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; draw(); });
  }
  document.getElementById("graph-nojs").hidden = true;
  document.getElementById("graph-tools").hidden = false;
  box.hidden = false;
  inner.style.height = n * ROW + "px";
  box.addEventListener("scroll", later);
  window.addEventListener("resize", later);
  document.getElementById("graph-newest").addEventListener("click", function () { box.scrollTop = 0; });
  document.getElementById("graph-first").addEventListener("click", function () { box.scrollTop = box.scrollHeight; });
  draw();
})();
