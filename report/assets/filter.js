"use strict";
// The commit filter. Everything but the filter and the commit graph (graph.js) is static HTML
// and SVG.
(function () {
  var box = document.getElementById("filter");
  var input = document.getElementById("filter-text");
  var count = document.getElementById("filter-count");
  var rows = document.querySelectorAll("ol.commits > li");
  // What each entry matches: its full id and its text, read from the list the first time the
  // reader types rather than carried twice in the page.
  var text = null;
  box.hidden = false;
  input.addEventListener("input", function () {
    if (text === null) {
      text = Array.prototype.map.call(rows, function (row) { return (row.id.substr(2) + " " + row.textContent).toLowerCase(); });
    }
    var query = input.value.trim().toLowerCase();
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      var hit = query === "" || text[i].indexOf(query) !== -1;
      rows[i].hidden = !hit;
      if (hit) { shown++; }
    }
    count.textContent = shown + " of " + rows.length;
  });
})();
