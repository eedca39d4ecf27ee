// Shows every <time datetime> in the reader's own time zone; without script the UTC text stays.
(function () {
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  document.querySelectorAll('time[datetime*="T"]').forEach(function (el) {
    var t = new Date(el.getAttribute('datetime'));
    if (isNaN(t)) return;
    el.title = el.textContent;
    el.textContent = fmt.format(t);
  });
})();
