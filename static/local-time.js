// Shows every <time datetime> with a time of day in the reader's own time zone, naming the zone
// ("7 Dec 2026, 15:30 CET"), and says which zone that is in the footer; without script the UTC
// text stays. Pages that update themselves (live.js) ask for it again on each new region.
(function () {
  var fmt = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
  });

  function localise(root) {
    root.querySelectorAll('time[datetime*="T"]').forEach(function (el) {
      var t = new Date(el.getAttribute('datetime'));
      if (isNaN(t)) return;
      el.title = el.textContent;
      el.textContent = fmt.format(t);
    });
  }

  localise(document);
  var zone = fmt.resolvedOptions().timeZone;
  document.querySelectorAll('[data-time-zone]').forEach(function (el) {
    var name = fmt.formatToParts(new Date()).filter(function (p) {
      return p.type === 'timeZoneName';
    })[0];
    el.textContent = 'your time zone, ' + (zone || 'local') + (name && name.value !== zone ? ' (' + name.value + ')' : '');
  });
  document.addEventListener('herald:updated', function (e) {
    localise(e.target);
  });
})();
