// Every public page in every state a reader meets: the home page with an open incident, a
// maintenance in progress and a degraded group, then all clear; incident pages; history; the
// 404 page; the page after subscribing. Each passes axe in light and dark at 375 and 1280 px
// wide, and the Nu HTML Checker on the HTML as served.

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
const JAVA = process.env.JAVA || 'java';
const WIDTHS = [375, 1280];
const SCHEMES = ['light', 'dark'];

let herald;
let browser;
let data;
let outDir;
/** Every page as served, for one vnu run at the end: { name, file }. */
const saved = [];

before(async () => {
  herald = await startHerald({ label: 'sweep' });
  data = await seed(herald);
  browser = await launchBrowser();
  outDir = makeTempDir('herald-sweep-');
});

after(async () => {
  await browser?.close();
  await herald?.stop();
  if (outDir && process.env.HERALD_TEST_KEEP_TMP !== '1') fs.rmSync(outDir, { recursive: true, force: true });
});

function formatViolations(violations) {
  return violations.flatMap((v) => [
    `  ${v.id} [${v.impact}] ${v.help}`,
    ...v.nodes.map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s*\n\s*/g, ' / ')}\n        html: ${n.html.slice(0, 300)}`),
  ]).join('\n');
}

/** The pages of the current state, with the status each answers. */
function pages() {
  return [
    { path: '/', status: 200 },
    { path: '/history', status: 200 },
    { path: `/incidents/${data.open.id}`, status: 200 },
    { path: `/incidents/${data.resolved.id}`, status: 200 },
    { path: `/incidents/${data.maintenances.upcoming.id}`, status: 200 },
    { path: `/incidents/${data.maintenances.active.id}`, status: 200 },
    { path: '/no-such-page', status: 404 },
  ];
}

async function save(name, text) {
  const file = path.join(outDir, `${saved.length}.html`);
  fs.writeFileSync(file, text);
  saved.push({ name, file });
}

/** axe on each page of the current state at every width and colour scheme; saves the HTML. */
async function sweep(t, state) {
  for (const { path: p, status } of pages()) {
    const res = await fetch(herald.url + p);
    assert.equal(res.status, status, `${p} answered ${res.status}`);
    await save(`${state} ${p}`, await res.text());
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  const events = watchPage(page);
  try {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      for (const scheme of SCHEMES) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const { path: p, status } of pages()) {
          await t.test(`${state}: ${p} at ${width} px, ${scheme}`, async () => {
            const res = await page.goto(herald.url + p);
            assert.equal(res.status(), status);
            await page.evaluate(axeSource);
            const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
            assert.equal(result.violations.length, 0,
              `axe found ${result.violations.length} violation(s):\n${formatViolations(result.violations)}`);
            const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
            assert.ok(overflow <= 0, `the page is ${overflow} px wider than the window`);
          });
        }
      }
    }
    assert.deepEqual(events.filter((e) => e.startsWith('pageerror')), [], 'JavaScript errors');
  } finally {
    await context.close();
  }
}

test('with an open incident, a maintenance in progress and a degraded group', async (t) => {
  // The seeded maintenance began ten minutes ago; the scheduler moves it into progress as soon
  // as it runs, which on a loaded machine may be a moment after the seed returns.
  let home = '';
  for (let i = 0; i < 40; i++) {
    home = await (await fetch(herald.url + '/')).text();
    if (/Maintenance in progress/.test(home)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.match(home, /<details data-group="Public" open>/, 'the seeded degraded group is open');
  assert.match(home, /Current incidents/);
  assert.match(home, /Maintenance in progress/);
  await sweep(t, 'incident');
});

test('all clear', async (t) => {
  const { components } = data;
  await herald.api('POST', `/api/admin/v1/incidents/${data.open.id}/updates`, {
    status: 'resolved', body: 'All fixed.',
    components: { [components.api.id]: 'operational', [components.web.id]: 'operational' },
  }, { expect: 201 });
  await herald.api('POST', `/api/admin/v1/incidents/${data.maintenances.active.id}/updates`, {
    status: 'completed', body: 'Done.', components: { [components.web.id]: 'operational' },
  }, { expect: 201 });
  const home = await (await fetch(herald.url + '/')).text();
  assert.match(home, /All Systems Operational/);
  assert.match(home, /<details data-group="Public">/, 'the group is closed again');
  await sweep(t, 'all clear');
});

test('the page after subscribing', async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 });
      for (const scheme of SCHEMES) {
        await page.emulateMedia({ colorScheme: scheme });
        await t.test(`at ${width} px, ${scheme}`, async () => {
          await page.goto(herald.url + '/');
          await page.locator('input[type="email"][name="email"]').first().fill(`reader-${width}-${scheme}@example.com`);
          await page.getByRole('button', { name: 'Subscribe' }).first().click();
          await page.waitForLoadState('load');
          await page.evaluate(axeSource);
          const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
          assert.equal(result.violations.length, 0, formatViolations(result.violations));
        });
      }
    }
    const res = await fetch(herald.url + '/subscribe', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: herald.url },
      body: 'email=reader-vnu%40example.com',
    });
    await save('after subscribing', await res.text());
  } finally {
    await context.close();
  }
});

test('every page as served is valid HTML (vnu)', async () => {
  assert.ok(saved.length >= 15, `pages saved: ${saved.length}`);
  let stderr;
  try {
    ({ stderr } = await execFileP(JAVA, ['-Xss8m', '-jar', VNU_JAR, '--errors-only', '--format', 'json',
      ...saved.map((s) => s.file)], { maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }));
  } catch (err) {
    if (err.stderr === undefined || !err.stderr.trim().startsWith('{')) throw err;
    stderr = err.stderr;
  }
  const byFile = new Map(saved.map((s) => [path.basename(s.file), s.name]));
  const messages = JSON.parse(stderr).messages.filter((m) => m.type === 'error' || m.type === 'non-document-error');
  assert.equal(messages.length, 0, messages.map((m) => {
    const file = path.basename(decodeURIComponent(m.url?.replace(/^file:/, '') ?? ''));
    return `  ${byFile.get(file) ?? file} line ${m.lastLine}: ${m.message} ${JSON.stringify(m.extract ?? '')}`;
  }).join('\n'));
});
