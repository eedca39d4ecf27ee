/* Herald incident banner. Embed: <script src="https://STATUS-HOST/banner.js" async></script>
   optionally with data-interval="60" (poll seconds, min 10). Shadow DOM, no globals. */
(function () {
  // Herald substitutes the banner JSON here when serving this file.
  var data = /*HERALD_DATA*/null;
  var me = document.currentScript; // set only during this first run
  var src = me && me.src;
  var doc = document, api, host, root, shown = '';
  try {
    api = new URL(src ? 'banner.json' : '/banner.json', src || data.page.url).href;
  } catch (e) {}
  var storeKey = 'herald-dismissed:' + api;

  function store(v) {
    try {
      return v ? localStorage.setItem(storeKey, v) : localStorage.getItem(storeKey);
    } catch (e) {}
  }

  function el(tag, cls, text) {
    var n = doc.createElement(tag);
    if (cls) n.className = cls;
    if (text) n.textContent = text;
    return n;
  }

  function safeUrl(u) {
    return /^https?:\/\//i.test(u) ? u : api ? new URL('/', api).href : '#';
  }

  function hide() {
    host && host.remove();
  }

  var css =
    ':host{all:initial;display:block}' +
    'ul{margin:0;padding:0;list-style:none;font:14px/1.45 system-ui,sans-serif}' +
    'li{display:flex;align-items:flex-start;gap:8px;padding:8px 16px;background:#b42318;color:#fff}' +
    'li+li{border-top:1px solid #0004}' +
    '.minor{background:#f6b700;color:#1c1400}' +
    '.maintenance{background:#1d4ed8}.none{background:#475467}' +
    'p{flex:1;margin:0;padding:2px 0}' +
    'b{margin-right:8px}' +
    'img{flex:none;width:auto;height:22px;max-width:88px;margin:1px 0;border-radius:3px;background:#fff}' +
    'q{display:block;margin:4px 0;quotes:none;white-space:pre-line}' +
    'span{display:inline-block;margin-right:8px;padding:0 8px;border:1px solid;border-radius:99px;font-size:12px;line-height:18px}' +
    'a{color:inherit;font-weight:600;white-space:nowrap}' +
    'a:focus-visible,button:focus-visible{outline:2px solid currentColor;outline-offset:2px}' +
    'button{flex:none;margin:0;padding:0;width:26px;height:26px;border:0;border-radius:4px;background:none;color:inherit;font:22px/26px sans-serif;cursor:pointer}' +
    'button:hover{background:#0003}' +
    '@media (prefers-color-scheme:dark){li{background:#8f1b12}.minor{background:#d99e00;color:#140e00}.maintenance{background:#1e3a8a}.none{background:#344054}}' +
    '@media (max-width:600px){li{padding:6px 10px;font-size:13px}}' +
    '@media print{:host{display:none}}';

  function render(d) {
    var items = d && Array.isArray(d.active) ? d.active : [];
    var keys = items.map(function (i) { return i.key; }).join(' ');
    if (!items.length || keys === store()) return hide();
    if (!doc.body) return; // not ready yet; DOMContentLoaded renders again
    var json = JSON.stringify(items);
    if (!host) {
      host = el('herald-banner');
      root = host.attachShadow({ mode: 'open' });
    }
    var page = d.page || {};
    var accent = /^#[0-9a-f]{6}$/i.test(page.accent) ? page.accent : '';
    json += accent + (page.logo || '');
    if (json !== shown) {
      shown = json;
      var box = el('div'), list = box.appendChild(el('ul'));
      box.setAttribute('role', 'status');
      box.setAttribute('aria-label', ((d.page && d.page.name) || 'Service') + ' notices');
      items.forEach(function (i, n) {
        var li = list.appendChild(el('li', /^(minor|maintenance|none)$/.test(i.impact) ? i.impact : ''));
        if (!n && page.logo) {
          var logo = li.appendChild(el('img'));
          logo.src = safeUrl(page.logo);
          logo.alt = page.name || '';
        }
        var p = li.appendChild(el('p'));
        p.appendChild(el('b', '', i.name));
        if (i.status_label) p.appendChild(el('span', '', i.status_label));
        if (i.kind === 'statement' && i.text) p.appendChild(el('q', '', String(i.text).slice(0, 600)));
        var a = p.appendChild(el('a', '', 'View details'));
        a.href = safeUrl(i.url);
        a.target = '_blank';
        a.rel = 'noopener';
        a.setAttribute('aria-label', 'View details: ' + i.name);
        if (!n) {
          var b = li.appendChild(el('button', '', '\u00d7'));
          b.setAttribute('aria-label', 'Dismiss');
          b.onclick = function () { store(keys); hide(); };
        }
      });
      // The page's accent: a stripe along the banner's edge (the impact keeps its colours).
      root.replaceChildren(el('style', '', css + (accent ? 'ul{border-left:6px solid ' + accent + '}' : '')), box);
    }
    // (Re)insert as first child of <body>, also if the host page replaced it.
    if (host.parentNode !== doc.body) doc.body.insertBefore(host, doc.body.firstChild);
  }

  function poll() {
    if (!api || doc.hidden) return;
    fetch(api, { credentials: 'omit', cache: 'no-cache' })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(); })
      .then(function (d) { render((data = d)); })
      .catch(function () {}); // keep showing what we had
  }

  var secs = Math.max(10, +(me && me.getAttribute('data-interval')) || 30);
  setInterval(poll, secs * 1000);
  doc.addEventListener('visibilitychange', poll);
  if (doc.body) render(data);
  else doc.addEventListener('DOMContentLoaded', function () { render(data); });
  if (!data) poll();
})();
