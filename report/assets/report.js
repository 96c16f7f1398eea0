"use strict";
// The commit filter: the page's one script. Everything else is static HTML and SVG.
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
