"use strict";
// The commit graph: every commit's lane and edges come laid out in the JSON block, or (the
// gateway's page) only the graph's skeleton, its rows asked of the page framing it a window at
// a time as they come near the view. The rows are drawn in bands of BAND rows, each its own
// small <svg> with two paths for all the edges crossing it: scrolling draws a band as it comes
// near the view and drops the bands that left, so a frame costs at most a band or two
// whatever the size of the history.
(function () {
  var source = document.getElementById("graph-data");
  if (!source) { return; }
  var g = JSON.parse(source.textContent);
  var tools = document.getElementById("graph-tools");
  var box = document.getElementById("graph");
  var inner = document.getElementById("graph-inner");
  var layer = document.getElementById("graph-svg");
  var where = document.getElementById("graph-where");
  var status = document.getElementById("graph-status");
  var NS = "http://www.w3.org/2000/svg";
  var ROW = 20, LANE = 12, PAD = 10, BAND = 32, MARGIN = BAND * ROW, CHUNK = BAND * 16;
  var n = g.n, bands = Math.ceil(n / BAND), windowed = g.window === true;
  var labels = {}, marks = {}, long = {};
  function add(map, row, value) { (map[row] = map[row] || []).push(value); }
  g.heads.forEach(function (h) { add(labels, h[0], ["ghead", "\u2387 " + h[1]]); });
  (g.tags || []).forEach(function (t) { add(labels, t[0], ["gtag", t[1]]); });
  g.marks.forEach(function (m) { add(marks, m[0], m[1]); });
  // The rows' columns: the block's, or filled as windows arrive. `edges` holds three numbers
  // an edge (child row, parent row minus child row, carrying lane); `crossing[band]` the
  // offsets in it of the edges crossing the band, so a band finds its edges without a scan.
  // `stubs` two numbers a stub (child row, parent row minus child row); `stubbed[band]` the
  // offsets of the stubs with an end in the band.
  var lanes, cls, subs, ids, edges, stubs, crossing = [], stubbed = [], loaded = [];
  for (var b = 0; b < bands; b++) { crossing.push([]); stubbed.push([]); }
  function stubAt(from, lo, hi) {
    for (var k = from; k < stubs.length; k += 2) {
      var ends = [Math.floor(stubs[k] / BAND), Math.floor((stubs[k] + stubs[k + 1]) / BAND)];
      for (var e = 0; e < 2; e++) {
        if (ends[e] >= lo && ends[e] <= hi && (e === 0 || ends[1] !== ends[0])) { stubbed[ends[e]].push(k); }
      }
    }
  }
  function cross(from, lo, hi) {
    for (var k = from; k < edges.length; k += 3) {
      var last = Math.min(hi, Math.floor((edges[k] + edges[k + 1]) / BAND));
      for (var c = Math.max(lo, Math.floor(edges[k] / BAND)); c <= last; c++) { crossing[c].push(k); }
    }
  }
  if (windowed) {
    lanes = []; cls = []; subs = []; ids = []; edges = []; stubs = [];
  } else {
    lanes = g.lane; cls = g.cls; subs = g.sub; edges = g.edges; stubs = g.stubs || [];
    g.long.forEach(function (l) { long[l[0]] = l[1]; });
    cross(0, 0, bands - 1);
    stubAt(0, 0, bands - 1);
    for (var c0 = 0; c0 * CHUNK < n; c0++) { loaded[c0] = true; }
  }
  function id(row) { return windowed ? ids[row] : g.ids.substr(row * 7, 7); }
  // Windows of rows, asked of the page framing this one (this page loads nothing itself).
  var asked = [], framed = window.parent !== window;
  function ready(band) {
    var chunk = Math.floor(band * BAND / CHUNK);
    if (loaded[chunk]) { return true; }
    if (!asked[chunk] && framed) {
      asked[chunk] = true;
      window.parent.postMessage({ gitview: "graph-rows", from: chunk * CHUNK, to: Math.min(n, (chunk + 1) * CHUNK) }, "*");
    }
    return false;
  }
  function arrived(w) {
    var chunk = w.first / CHUNK;
    if (typeof w.first !== "number" || chunk !== Math.floor(chunk) || loaded[chunk] || !w.cls.length) { return; }
    for (var i = 0; i < w.cls.length; i++) {
      ids[w.first + i] = w.ids.substr(i * 7, 7);
      cls[w.first + i] = w.cls[i];
      subs[w.first + i] = w.sub[i];
    }
    for (i = 0; i < w.lane.length; i++) { lanes[w.lanes_from + i] = w.lane[i]; }
    w.long.forEach(function (l) { long[l[0]] = l[1]; });
    w.tags.forEach(function (t) { add(labels, t[0], ["gtag", t[1]]); });
    var from = edges.length, lo = chunk * CHUNK / BAND, hi = Math.min(bands, (chunk + 1) * CHUNK / BAND) - 1;
    Array.prototype.push.apply(edges, w.edges);
    cross(from, lo, hi);
    from = stubs.length;
    Array.prototype.push.apply(stubs, w.stubs || []);
    stubAt(from, lo, hi);
    loaded[chunk] = true;
    if (highlighted >= w.first && highlighted < w.first + w.cls.length) { describe(highlighted); }
    later();
  }
  // One lane width for the whole graph, so edges meet across bands: narrower when many lanes
  // are open at once (a history in date order keeps long-lived branches open), so the lanes
  // take at most two fifths of the width and the text stays in view.
  var width = 0, lanePx = LANE;
  function x(lane) { return Math.round((PAD + lane * lanePx) * 10) / 10; }
  // Each phase gets a heading line of its own above its newest row (the graph runs newest
  // first): a row's top is its index plus the headings above it, in rows.
  var tops = g.phases.map(function (p) { return p[0]; });
  function headings(row) {
    var lo = 0, hi = tops.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (tops[mid] <= row) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  }
  function top(row) { return (row + headings(row)) * ROW; }
  function y(row) { return top(row) + ROW / 2; }
  // The row at `px` from the top (a heading counts as the row below it).
  function rowAt(px) {
    var lo = 0, hi = n - 1;
    while (lo < hi) { var mid = (lo + hi + 1) >> 1; if (top(mid) - ROW <= px) { lo = mid; } else { hi = mid - 1; } }
    return lo;
  }
  function node(name, attributes, text) {
    var element = document.createElementNS(NS, name);
    for (var key in attributes) { element.setAttribute(key, attributes[key]); }
    if (text !== undefined) { element.textContent = text; }
    return element;
  }
  var highlighted = -1;
  function drawBand(band) {
    var first = band * BAND, end = Math.min(n, first + BAND);
    var from = top(first) - (headings(first) > headings(first - 1) ? ROW : 0), to = top(end - 1) + ROW;
    var svg = node("svg", {
      "class": "band", width: width, height: to - from,
      viewBox: "0 " + from + " " + width + " " + (to - from)
    });
    svg.style.top = from + "px";
    var widest = 0, r;
    // Phases: a stripe down the left edge of their rows, and a heading line where each begins.
    var named = [];
    for (var p = 0; p < g.phases.length; p++) {
      var phase = g.phases[p], newest = phase[0], oldest = phase[1] + 1;
      if (oldest <= first || newest >= end) { continue; }
      var y0 = top(Math.max(newest, first)) - (newest >= first ? ROW : 0), y1 = top(Math.min(oldest, end) - 1) + ROW;
      svg.appendChild(node("rect", { x: 0, y: y0, width: 4, height: y1 - y0, "class": "gph p" + (p % 2) }));
      if (newest >= first) {
        svg.appendChild(node("rect", { x: 0, y: y0, width: width, height: ROW, "class": "gph-line" }));
        named.push([y0, "Phase " + phase[2]]);
      }
    }
    if (highlighted >= first && highlighted < end) {
      svg.appendChild(node("rect", { x: 0, y: top(highlighted), width: width, height: ROW, "class": "ghl" }));
    }
    // Each edge only where it crosses the band: a long one is a short vertical stroke here.
    // Vertical strokes are drawn without anti-aliasing (crisp and far cheaper to paint when
    // hundreds of lanes are open), the joins between lanes with it.
    var list = crossing[band], straight = "", joins = "";
    for (var e = 0; e < list.length; e++) {
      var k = list[e], start = edges[k], stop = start + edges[k + 1], lane = edges[k + 2];
      widest = Math.max(widest, lane);
      if (stop === start + 1) {
        var a = x(lanes[start]), z = x(lanes[stop]), seg = "M" + a + " " + y(start) + "L" + z + " " + y(stop);
        if (a === z) { straight += seg; } else { joins += seg; }
        continue;
      }
      var along = x(lane), down = y(start + 1), up = y(stop - 1);
      if (down >= from) { joins += "M" + x(lanes[start]) + " " + y(start) + "L" + along + " " + down; }
      var v0 = Math.max(down, from), v1 = Math.min(up, to);
      if (v0 < v1) { straight += "M" + along + " " + v0 + "V" + v1; }
      if (up <= to) { joins += "M" + along + " " + up + "L" + x(lanes[stop]) + " " + y(stop); }
    }
    // A stub leaves its child towards the right and reaches its parent from there, each within
    // its own row.
    var cut = "", slant = Math.max(3, lanePx * 0.8);
    list = stubbed[band];
    for (e = 0; e < list.length; e++) {
      var s0 = stubs[list[e]], s1 = s0 + stubs[list[e] + 1];
      if (s0 >= first && s0 < end) { cut += "M" + x(lanes[s0]) + " " + y(s0) + "l" + slant + " " + (ROW / 2 - 1); }
      if (s1 >= first && s1 < end) { cut += "M" + (x(lanes[s1]) + slant) + " " + (top(s1) + 1) + "L" + x(lanes[s1]) + " " + y(s1); }
    }
    if (cut) { svg.appendChild(node("path", { d: cut, "class": "gedges gstub" })); }
    if (straight) { svg.appendChild(node("path", { d: straight, "class": "gedges gv" })); }
    if (joins) { svg.appendChild(node("path", { d: joins, "class": "gedges" })); }
    for (r = first; r < end; r++) { widest = Math.max(widest, lanes[r]); }
    var left = x(widest + 1) + PAD, radius = Math.min(4, Math.max(3, lanePx / 2));
    named.forEach(function (h) { svg.appendChild(node("text", { x: left, y: h[0] + 14, "class": "gph-name" }, h[1])); });
    for (r = first; r < end; r++) {
      var cx = x(lanes[r]), cy = y(r);
      if (marks[r]) {
        var diamond = node("path", {
          d: "M" + cx + " " + (cy - 7) + "L" + (cx + 7) + " " + cy + "L" + cx + " " + (cy + 7) + "L" + (cx - 7) + " " + cy + "Z",
          "class": "gms"
        });
        diamond.appendChild(node("title", {}, marks[r].join("; ")));
        svg.appendChild(diamond);
      }
      svg.appendChild(node("circle", {
        cx: cx, cy: cy, r: r === highlighted ? radius + 2 : radius,
        "class": "k-" + g.classes[cls[r]] + (r === highlighted ? " gon" : "")
      }));
      var text = node("text", { x: left, y: cy + 4 });
      text.appendChild(node("tspan", { "class": "gid" }, id(r)));
      (labels[r] || []).forEach(function (l) {
        text.appendChild(document.createTextNode(" "));
        text.appendChild(node("tspan", { "class": l[0] }, l[1]));
      });
      (marks[r] || []).forEach(function (m) {
        text.appendChild(document.createTextNode(" "));
        text.appendChild(node("tspan", { "class": "gmark" }, "\u25c6 " + m));
      });
      text.appendChild(document.createTextNode(" " + subs[r]));
      svg.appendChild(text);
    }
    return svg;
  }
  var drawn = {};
  function forget(band) {
    if (drawn[band]) { layer.removeChild(drawn[band]); delete drawn[band]; }
  }
  var here = null;
  function update() {
    var w = Math.max(box.clientWidth, 300);
    if (w !== width) {
      width = w;
      lanePx = Math.max(1.5, Math.min(LANE, (width * 0.4 - PAD) / (g.width + 1)));
      for (var old in drawn) { forget(old); }
    }
    // The bands in view are drawn now; of those in the margin around it, one a frame.
    var first = Math.floor(rowAt(box.scrollTop) / BAND);
    var last = Math.floor(rowAt(box.scrollTop + box.clientHeight) / BAND);
    var lo = Math.floor(rowAt(box.scrollTop - MARGIN) / BAND);
    var hi = Math.floor(rowAt(box.scrollTop + box.clientHeight + MARGIN) / BAND);
    for (var band in drawn) {
      if (band < lo || band > hi) { forget(band); }
    }
    for (var b = first; b <= last; b++) {
      if (!drawn[b] && ready(b)) { drawn[b] = layer.appendChild(drawBand(b)); }
    }
    for (var step = 1; last + step <= hi || first - step >= lo; step++) {
      b = drawn[last + step] || last + step > hi ? first - step : last + step;
      if (b >= lo && !drawn[b] && ready(b)) { drawn[b] = layer.appendChild(drawBand(b)); later(); break; }
    }
    // The phase of the row at the top of the view.
    var row = rowAt(box.scrollTop), name = "";
    for (var p = 0; p < g.phases.length; p++) {
      if (g.phases[p][0] <= row && row <= g.phases[p][1]) { name = "Phase " + g.phases[p][2]; break; }
    }
    if (name !== here) { here = name; where.textContent = name; }
  }
  var pending = false;
  function later() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(function () { pending = false; update(); });
  }
  // The row of a commit id (4 to 40 hex digits), or -1 (on the gateway's page: of those the
  // page names; `find` asks the framing page for any other).
  function rowOf(id) {
    id = id.toLowerCase();
    if (!/^[0-9a-f]{4,40}$/.test(id)) { return -1; }
    var found = [];
    if (windowed) {
      // The page's commits by their first 12 digits: either id may be the longer.
      g.named.forEach(function (c) {
        if ((id.length <= c[1].length ? c[1].indexOf(id) : id.indexOf(c[1])) === 0) { found.push(c[0]); }
      });
      return found.length === 1 ? found[0] : -1;
    }
    var prefix = id.substr(0, 7);
    for (var at = g.ids.indexOf(prefix); at !== -1; at = g.ids.indexOf(prefix, at + 1)) {
      if (at % 7 === 0) { found.push(at / 7); }
    }
    if (found.length > 1) {
      found = found.filter(function (r) { return long[r] === undefined || long[r].indexOf(id) === 0; });
    }
    return found.length === 1 ? found[0] : -1;
  }
  function find(id, then) {
    var row = rowOf(id);
    if (row !== -1 || !windowed || !framed || !/^[0-9a-fA-F]{4,40}$/.test(id)) { then(row); return; }
    finding = [id.toLowerCase(), then];
    window.parent.postMessage({ gitview: "graph-find", id: id.toLowerCase() }, "*");
  }
  var finding = null;
  window.addEventListener("message", function (event) {
    var m = event.data;
    if (event.source !== window.parent || !m || typeof m !== "object") { return; }
    if (m.error) {
      status.textContent = "The graph's rows could not be loaded: " + m.error;
      if (m.gitview === "graph-rows") { asked[m.from / CHUNK] = false; }
      return;
    }
    if (m.gitview === "graph-rows" && m.rows) { arrived(m.rows); }
    if (m.gitview === "graph-find" && finding && finding[0] === m.id) {
      var then = finding[1];
      finding = null;
      then(typeof m.row === "number" && m.row >= 0 && m.row < n ? m.row : -1);
    }
  });
  // Scrolls the graph to `row`, highlights it and moves the focus to the graph.
  function show(row) {
    var old = highlighted;
    highlighted = row;
    forget(Math.floor(old / BAND));
    forget(Math.floor(row / BAND));
    tools.scrollIntoView();
    box.scrollIntoView({ block: "nearest" });
    box.scrollTop = top(row) - (box.clientHeight - ROW) / 2;
    update();
    box.focus({ preventScroll: true });
    describe(row);
  }
  // The status line names the highlighted commit (its id and subject once its rows are here).
  function describe(row) {
    status.textContent = id(row) === undefined
      ? "Row " + (row + 1) + " of " + n + " highlighted."
      : "Commit " + id(row) + " (row " + (row + 1) + " of " + n + ") highlighted: " + subs[row];
  }
  function fromHash() {
    if (location.hash.indexOf("#commit-") !== 0) { return; }
    var hash;
    try { hash = decodeURIComponent(location.hash); } catch (malformed) { return; }
    var wanted = hash.substr(8);
    find(wanted, function (row) {
      if (location.hash !== hash && decodeURIComponent(location.hash) !== hash) { return; }
      if (row === -1) { status.textContent = "No commit " + wanted + " in the graph."; return; }
      show(row);
    });
  }
  if (windowed && !framed) {
    document.getElementById("graph-nojs").textContent =
      "This page's graph fetches its rows through the gateway's repository page: open the report from there. The commits the story names are listed below.";
    return;
  }
  document.getElementById("graph-nojs").hidden = true;
  tools.hidden = false;
  box.hidden = false;
  inner.style.height = (n + tops.length) * ROW + "px";
  box.addEventListener("scroll", later);
  window.addEventListener("resize", later);
  window.addEventListener("hashchange", fromHash);
  // A link to the fragment already shown changes nothing: show its row again all the same.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a");
    if (link && link.getAttribute("href") === location.hash && location.hash.indexOf("#commit-") === 0) {
      event.preventDefault();
      fromHash();
    }
  });
  // Each story sentence that links a commit gets a link showing the first one in the graph
  // (made here: without the script there is no graph to show).
  Array.prototype.forEach.call(document.querySelectorAll("#story .claim"), function (claim) {
    var cited = claim.querySelector("a[href^='#c-']");
    var id = cited && cited.getAttribute("href").substr(3);
    if (!id || rowOf(id) === -1) { return; }
    var link = document.createElement("a");
    link.className = "gr";
    link.href = "#commit-" + id.substr(0, 12);
    link.setAttribute("aria-label", id.substr(0, 7) + " in the commit graph");
    link.textContent = "graph";
    claim.appendChild(document.createTextNode(" "));
    claim.appendChild(link);
  });
  document.getElementById("graph-newest").addEventListener("click", function () { box.scrollTop = 0; });
  document.getElementById("graph-first").addEventListener("click", function () { box.scrollTop = box.scrollHeight; });
  update();
  fromHash();
})();
