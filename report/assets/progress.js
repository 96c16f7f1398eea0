// Keeps an analysis page's progress current while its run is running: polls the progress
// JSON the gateway serves beside the page (same origin, the session's cookie) and writes the
// stage and counts in place. Without this script the page shows the progress as it was when
// it loaded. A failed poll is retried later, quietly; an answer that is not 200 ends polling.
(function () {
  'use strict';
  var box = document.getElementById('progress');
  if (!box || !window.fetch || box.getAttribute('data-status') !== 'running') {
    return;
  }
  var src = box.getAttribute('data-src');
  var field = function (id) { return document.getElementById(id); };
  var show = function (body) {
    if (typeof body.status === 'string') {
      field('status').textContent = body.status;
      box.setAttribute('data-status', body.status);
    }
    var latest = body.latest;
    if (latest) {
      field('progress-stage').textContent = latest.stage;
      field('progress-done').textContent = String(latest.done);
      field('progress-total').textContent = String(latest.total);
      var bar = field('progress-bar');
      bar.max = Math.max(latest.total, 1);
      bar.value = Math.min(latest.done, bar.max);
    }
    return body.status === 'running';
  };
  var poll = function () {
    fetch(src, { credentials: 'same-origin', cache: 'no-store', headers: { accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) {
          return null;
        }
        return response.json().then(function (body) {
          if (show(body)) {
            setTimeout(poll, 1000);
          }
        });
      })
      .catch(function () { setTimeout(poll, 5000); });
  };
  setTimeout(poll, 1000);
})();
