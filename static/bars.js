// Uptime bars: each strip of 90 days is one stop for Tab, and the arrow keys move between its
// days (Home and End jump to the first and last), as the WAI-ARIA authoring practices do for a
// composite widget; without script every bar is a Tab stop of its own. Strips that live.js swaps
// in are set up again.
(function () {
  var BAR = ':scope > a, :scope > [tabindex]';

  function bars(strip) {
    return Array.prototype.slice.call(strip.querySelectorAll(BAR));
  }

  function setUp(root) {
    root.querySelectorAll('.bars').forEach(function (strip) {
      var all = bars(strip);
      if (!all.length || strip.hasAttribute('data-roving')) return;
      strip.setAttribute('data-roving', '');
      strip.setAttribute('aria-label', strip.getAttribute('aria-label') + ' (arrow keys move between days)');
      all.forEach(function (bar, n) {
        bar.tabIndex = n === all.length - 1 ? 0 : -1;
      });
    });
  }

  function move(strip, from, to) {
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  }

  document.addEventListener('keydown', function (e) {
    var bar = e.target;
    var strip = bar && bar.parentElement;
    if (!strip || !strip.classList.contains('bars') || !strip.hasAttribute('data-roving')) return;
    if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    var all = bars(strip);
    var at = all.indexOf(bar);
    if (at < 0) return;
    var to = null;
    switch (e.key) {
      case 'ArrowLeft': to = all[Math.max(0, at - 1)]; break;
      case 'ArrowRight': to = all[Math.min(all.length - 1, at + 1)]; break;
      case 'Home': to = all[0]; break;
      case 'End': to = all[all.length - 1]; break;
      default: return;
    }
    e.preventDefault();
    if (to !== bar) move(strip, bar, to);
  });

  // A click or a focus by other means makes that bar the strip's Tab stop.
  document.addEventListener('focusin', function (e) {
    var strip = e.target && e.target.parentElement;
    if (!strip || !strip.hasAttribute || !strip.hasAttribute('data-roving')) return;
    bars(strip).forEach(function (bar) {
      bar.tabIndex = bar === e.target ? 0 : -1;
    });
  });

  setUp(document);
  document.addEventListener('herald:updated', function (e) {
    setUp(e.target);
  });
})();
