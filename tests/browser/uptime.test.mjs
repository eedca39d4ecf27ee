// Uptime bars on the status page: Tab reaches a bar, which names its date, downtime and that
// day's incident (and shows it on screen while focused); axe and the Nu checker find nothing
// on the page with bars, in light and dark, 375 and 1280 px wide.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHerald, launchBrowser, watchPage, seed, makeTempDir, HERE } from './harness.mjs';

const execFileP = promisify(execFile);
const axeSource = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const VNU_JAR = path.join(HERE, 'node_modules', 'vnu-jar', 'build', 'dist', 'vnu.jar');

let herald;
let browser;
let data;
let outage;

/** `daysBack` days ago at hh:mm UTC, as RFC 3339. */
function ago(daysBack, hh, mm) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - daysBack);
  d.setUTCHours(hh, mm, 0, 0);
  return d.toISOString();
}

function dateLabel(daysBack) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - daysBack);
  const month = d.toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' });
  return `${d.getUTCDate()} ${month} ${d.getUTCFullYear()}`;
}

before(async () => {
  herald = await startHerald({ label: 'uptime' });
  data = await seed(herald);
  const api = (p, b) => herald.api('POST', p, b, { expect: 201 }).then((r) => r.body);
  const worker = data.components.worker.id;
  // Five days ago: 45 minutes of major outage on the scheduler, then two incidents that day.
  outage = await api('/api/admin/v1/incidents', {
    name: 'Scheduler stopped', status: 'investigating', impact: 'critical', body: 'Stopped.',
    display_at: ago(5, 9, 0), components: { [worker]: 'major_outage' },
  });
  await api(`/api/admin/v1/incidents/${outage.id}/updates`, {
    status: 'resolved', body: 'Running.', display_at: ago(5, 9, 45),
  });
  const second = await api('/api/admin/v1/incidents', {
    name: 'Website slow', status: 'investigating', impact: 'minor', body: 'Slow.',
    display_at: ago(4, 14, 0), components: { [data.components.web.id]: 'partial_outage' },
  });
  await api(`/api/admin/v1/incidents/${second.id}/updates`, {
    status: 'resolved', body: 'Fast again.', display_at: ago(4, 16, 0),
  });
  const third = await api('/api/admin/v1/incidents', {
    name: 'Website errors', status: 'investigating', impact: 'major', body: 'Errors.',
    display_at: ago(4, 18, 0), components: { [data.components.web.id]: 'major_outage' },
  });
  await api(`/api/admin/v1/incidents/${third.id}/updates`, {
    status: 'resolved', body: 'Fixed.', display_at: ago(4, 18, 20),
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

test('Tab reaches an uptime bar that names its date, downtime and incident, and links to it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const events = watchPage(page);
  try {
    await page.goto(herald.url + '/');
    const wanted = `${dateLabel(5)}: 45 min major outage`;
    const focused = () => page.evaluate(() => {
      const el = document.activeElement;
      return el && el.closest('.bars')
        ? { name: el.getAttribute('aria-label'), href: el.getAttribute('href'), tag: el.tagName,
            group: el.closest('.bars').getAttribute('aria-label') }
        : null;
    });
    // Tab reaches the strip (one stop per strip: it lands on today)...
    let strip = null;
    for (let i = 0; i < 200 && !strip; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (f?.group.startsWith('Post scheduler')) strip = f;
    }
    assert.ok(strip, 'Tab never reached the Post scheduler strip');
    assert.match(strip.group, /arrow keys move between days/);
    assert.ok(strip.name.startsWith(dateLabel(0)), `Tab lands on today, not ${strip.name}`);
    // ...and the arrow keys walk its days.
    let found = null;
    for (let i = 0; i < 90 && !found; i++) {
      await page.keyboard.press('ArrowLeft');
      const f = await focused();
      if (f?.name?.startsWith(wanted) && f.group.startsWith('Post scheduler')) found = f;
    }
    assert.ok(found, `no bar reached by Tab says "${wanted}"`);
    assert.match(found.name, /Incident: Scheduler stopped/);
    assert.match(found.name, /% uptime/);
    assert.equal(found.href, `/incidents/${outage.id}`);

    // What the bar says is on screen while it has focus, not only for screen readers.
    const shown = await page.evaluate(() => getComputedStyle(document.activeElement, '::after').content);
    assert.ok(shown.includes('45 min major outage'), `focused bar shows ${shown}`);

    // Screen readers get the same name from the accessibility tree.
    const snapshot = await page.locator(':focus').ariaSnapshot();
    assert.match(snapshot, /45 min major outage/);

    // A day with two incidents names both and leads to the history.
    const web = page.locator('.bars[aria-label^="Website:"] a');
    const labels = await web.evaluateAll((els) => els.map((e) => [e.getAttribute('aria-label'), e.getAttribute('href')]));
    const both = labels.find(([l]) => l.startsWith(dateLabel(4)));
    assert.ok(both, `no bar for ${dateLabel(4)} on Website: ${JSON.stringify(labels)}`);
    assert.match(both[0], /2 incidents: Website errors; Website slow/);
    assert.match(both[1], /^\/history/);

    // The strip is one Tab stop: Tab leaves it, Shift+Tab comes back to the day last visited.
    await page.keyboard.press('Tab');
    assert.ok(!(await focused())?.group?.startsWith('Post scheduler'), 'Tab stayed in the strip');
    await page.keyboard.press('Shift+Tab');
    assert.ok((await focused())?.name?.startsWith(wanted), 'Shift+Tab did not return to the day');

    // Following the link opens the incident.
    await page.keyboard.press('Enter');
    await page.waitForURL(`**/incidents/${outage.id}`);
    assert.deepEqual(events.filter((e) => e.startsWith('pageerror')), [], 'JavaScript errors');
  } finally {
    await context.close();
  }
});

function formatViolations(violations) {
  return violations.flatMap((v) => [
    `  ${v.id} [${v.impact}] ${v.help}`,
    ...v.nodes.slice(0, 5).map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s*\n\s*/g, ' / ')}`),
  ]).join('\n');
}

for (const scheme of ['light', 'dark']) {
  for (const width of [375, 1280]) {
    test(`the page with bars has no axe violations (${scheme}, ${width} px)`, async () => {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      const page = await context.newPage();
      try {
        await page.emulateMedia({ colorScheme: scheme });
        await page.goto(herald.url + '/');
        assert.ok(await page.locator('.bars').count() >= 4, 'bars for components and the group');
        await page.evaluate(axeSource);
        // With a bar focused too: its label is shown on screen, and must read well.
        await page.locator('.bars a').first().focus();
        const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        assert.equal(result.violations.length, 0,
          `axe (${scheme}, ${width} px):\n${formatViolations(result.violations)}`);
        // Ninety bars fit the width: none shown is squeezed to nothing (an open group's own strip
        // is hidden while its members' show), and nothing scrolls sideways.
        const { narrowest, overflow } = await page.evaluate(() => ({
          narrowest: Math.min(...[...document.querySelectorAll('.bars > *')]
            .filter((b) => b.checkVisibility())
            .map((b) => b.getBoundingClientRect().width)),
          overflow: document.documentElement.scrollWidth > window.innerWidth,
        }));
        assert.ok(narrowest >= 1.5, `bars ${narrowest} px wide`);
        assert.equal(overflow, false, 'the page scrolls sideways');
      } finally {
        await context.close();
      }
    });
  }
}

test('the page with bars is valid HTML (vnu)', async () => {
  const dir = makeTempDir('herald-uptime-vnu-');
  try {
    const file = path.join(dir, 'index.html');
    fs.writeFileSync(file, await (await fetch(herald.url + '/')).text());
    let stderr;
    try {
      ({ stderr } = await execFileP(process.env.JAVA || 'java', ['-Xss8m', '-jar', VNU_JAR, '--errors-only', '--format', 'json', file],
        { maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }));
    } catch (err) {
      if (err.stderr === undefined || !err.stderr.trim().startsWith('{')) throw err;
      stderr = err.stderr;
    }
    const messages = JSON.parse(stderr).messages.filter((m) => m.type === 'error' || m.type === 'non-document-error');
    assert.equal(messages.length, 0,
      messages.map((m) => `line ${m.lastLine}: ${m.message} ${JSON.stringify(m.extract ?? '')}`).join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
