// Admin conveniences; every form also works without script.
(function () {
  // Confirm destructive actions.
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (e) {
      if (!window.confirm(form.getAttribute('data-confirm'))) e.preventDefault();
    });
  });
})();
// Live delivery progress on an incident's page: poll while anything is still queued.
(function () {
  var boxes = document.querySelectorAll('.deliveries[data-progress]');
  if (!boxes.length) return;
  function busy() {
    return Array.prototype.some.call(boxes, function (b) {
      var q = b.querySelector('[data-count="pending"]'), s = b.querySelector('[data-count="sending"]');
      return (q && q.textContent !== '0') || (s && s.textContent !== '0');
    });
  }
  function refresh() {
    if (!busy()) return;
    Array.prototype.forEach.call(boxes, function (box) {
      fetch(box.getAttribute('data-progress'), { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (channels) {
          channels.forEach(function (c) {
            if (c.channel !== box.getAttribute('data-channel')) return;
            ['sent', 'pending', 'sending', 'dead', 'cancelled', 'total'].forEach(function (k) {
              var el = box.querySelector('[data-count="' + k + '"]');
              if (el) el.textContent = String(c[k]);
            });
            var bar = box.querySelector('progress');
            if (bar) { bar.max = c.total; bar.value = c.sent + c.dead + c.cancelled; }
          });
        })
        .catch(function () {});
    });
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
})();

// Live length of a post for X, counted by the server with the rules it enforces (twitter-text
// v3: links 23, emoji and most non-Latin characters 2).
(function () {
  document.querySelectorAll('textarea[data-tweet-counter]').forEach(function (area) {
    var out = document.getElementById(area.getAttribute('data-tweet-counter'));
    var csrf = area.form && area.form.querySelector('input[name=csrf]');
    if (!out || !csrf) { return; }
    var timer = null;
    var count = function () {
      if (!area.value.trim()) { out.textContent = ''; return; }
      var body = new URLSearchParams({ csrf: csrf.value, text: area.value });
      fetch('/admin/tweet-length', { method: 'POST', body: body, credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (c) {
          if (!c) { return; }
          out.textContent = c.weighted_length + ' of 280 characters as X counts them' +
            (c.valid ? '' : ' — too long or not allowed');
          out.classList.toggle('over', !c.valid);
        })
        .catch(function () {});
    };
    area.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(count, 150);
    });
    count();
  });
})();
