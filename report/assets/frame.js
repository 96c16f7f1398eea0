"use strict";
// A repository's page's part in its report's commit graph. The framed report runs sandboxed
// (an opaque origin without the session), so it asks this page by message for its graph's
// rows, a window at a time, or for the row of a commit id; this page fetches them from the
// gateway with the session and hands them back. It asks for nothing else: the framed page
// names only rows and an id, and the URL is this page's own.
(function () {
  var frame = document.querySelector("iframe.report");
  var url = frame && frame.getAttribute("data-graph");
  if (!url) { return; }
  function reply(asked, answer) {
    answer.gitview = asked.gitview;
    answer.from = asked.from;
    answer.id = asked.id;
    // The frame's origin is opaque, so no origin can be named; the page's frame-src keeps
    // anything but the gateway's own pages out of the frame.
    frame.contentWindow.postMessage(answer, "*");
  }
  window.addEventListener("message", function (event) {
    var m = event.data, query;
    if (event.source !== frame.contentWindow || !m || typeof m !== "object") { return; }
    if (m.gitview === "graph-rows" && Number.isInteger(m.from) && Number.isInteger(m.to) && m.from >= 0 && m.to > m.from) {
      query = "from=" + m.from + "&to=" + m.to;
    } else if (m.gitview === "graph-find" && typeof m.id === "string" && /^[0-9a-f]{4,40}$/.test(m.id)) {
      query = "find=" + m.id;
    } else {
      return;
    }
    fetch(url + "?" + query, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (response) {
        if (response.redirected) { throw new Error("the session has ended: sign in again"); }
        if (!response.ok) { throw new Error("the gateway answered " + response.status); }
        return response.json();
      })
      .then(function (body) {
        reply(m, m.gitview === "graph-rows" ? { rows: body } : { row: body.row });
      }, function (err) {
        reply(m, { error: String(err && err.message || err) });
      });
  });
})();
