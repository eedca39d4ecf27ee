// Keeps an open status page current without a reload. Every 15 s while the tab is visible (and
// at once when it becomes visible again) it asks for this page again, revalidating with the
// ETag, so an unchanged page costs a 304. When the page changed it swaps in the regions marked
// data-live="…" that differ, keeping focus, text being typed and the groups the reader opened
// or closed; updates the title; and says a change of status (data-live-status) to screen
// readers. Loaded before local-time.js, so the regions are noted as served.
(function () {
  'use strict';
  var INTERVAL = 15000;
  var doc = document;
  if (!doc.querySelector('[data-live]') || !window.fetch || !window.DOMParser) return;

  var served = {}; // region name -> its HTML as last served
  doc.querySelectorAll('[data-live]').forEach(function (el) {
    served[el.getAttribute('data-live')] = el.outerHTML;
  });
  var chosen = {}; // group name -> open, as the reader last set it
  var etag = null;
  var timer = null;
  var busy = false;

  var say = doc.createElement('div');
  say.className = 'visually-hidden';
  say.setAttribute('role', 'status');
  say.setAttribute('aria-live', 'polite');
  (doc.querySelector('main') || doc.body).appendChild(say);

  // A click on a group's summary (keyboard activation clicks too) is the reader's choice.
  doc.addEventListener('click', function (e) {
    var summary = e.target.closest && e.target.closest('summary');
    var details = summary && summary.parentElement;
    if (details && details.matches('details[data-group]')) {
      chosen[details.getAttribute('data-group')] = !details.open;
    }
  }, true);

  function statusText(root) {
    var el = root.querySelector('[data-live-status]');
    return el ? el.textContent.trim() : '';
  }

  // Something that finds the same control in the new copy of a region.
  function locator(el, region) {
    if (!el || el === doc.body || !region.contains(el)) return null;
    if (el.id) return '#' + CSS.escape(el.id);
    if (el.matches('summary') && el.parentElement.hasAttribute('data-group')) {
      return 'details[data-group="' + CSS.escape(el.parentElement.getAttribute('data-group')) + '"] > summary';
    }
    if (el.matches('a[href]')) return 'a[href="' + CSS.escape(el.getAttribute('href')) + '"]';
    return null;
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function apply(next) {
    var before = statusText(doc);
    var complete = true;
    doc.querySelectorAll('[data-live]').forEach(function (old) {
      var name = old.getAttribute('data-live');
      var fresh = next.querySelector('[data-live="' + CSS.escape(name) + '"]');
      if (!fresh || fresh.outerHTML === served[name]) return;
      var active = doc.activeElement;
      if (old.contains(active) && typing(active)) {
        complete = false; // try again next time rather than lose what is being typed
        return;
      }
      var focus = locator(active, old);
      var html = fresh.outerHTML;
      fresh = doc.importNode(fresh, true);
      fresh.querySelectorAll('details[data-group]').forEach(function (d) {
        var group = d.getAttribute('data-group');
        if (Object.prototype.hasOwnProperty.call(chosen, group)) d.open = chosen[group];
      });
      old.replaceWith(fresh);
      served[name] = html;
      if (focus) {
        var again = fresh.querySelector(focus);
        if (again) again.focus({ preventScroll: true });
      }
      fresh.dispatchEvent(new CustomEvent('herald:updated', { bubbles: true }));
    });
    if (next.title) doc.title = next.title;
    var after = statusText(doc);
    if (after && after !== before) say.textContent = 'Status now: ' + after;
    return complete;
  }

  function schedule() {
    clearTimeout(timer);
    if (!doc.hidden) timer = setTimeout(poll, INTERVAL);
  }

  function poll() {
    if (busy || doc.hidden) return;
    busy = true;
    var url = location.pathname + location.search;
    fetch(url, { cache: 'no-cache', credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (r) {
        var tag = r.headers.get('ETag');
        if (!r.ok || (tag && tag === etag)) return;
        return r.text().then(function (html) {
          var next = new DOMParser().parseFromString(html, 'text/html');
          if (apply(next)) etag = tag;
        });
      })
      .catch(function () {}) // offline or restarting: keep what is shown, try again later
      .then(function () {
        busy = false;
        schedule();
      });
  }

  doc.addEventListener('visibilitychange', function () {
    if (doc.hidden) clearTimeout(timer);
    else poll();
  });
  window.addEventListener('online', poll);
  window.addEventListener('pageshow', function (e) {
    if (e.persisted) poll();
  });
  schedule();
})();
