// axe-core on Herald's pages, with components and incidents present.
// Any violation fails; they are printed one per line with the offending nodes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startHerald, launchBrowser, watchPage, seed, enrolAndSignIn, publicPages, adminPages, HERE } from './harness.mjs';

const axeSource = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

let herald;
let browser;
let data;

before(async () => {
  herald = await startHerald({ label: 'a11y' });
  data = await seed(herald);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

function formatViolations(violations) {
  return violations.flatMap((v) => [
    `  ${v.id} [${v.impact}] ${v.help} (${v.helpUrl.replace(/\?.*$/, '')})`,
    ...v.nodes.map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s*\n\s*/g, ' / ')}\n        html: ${n.html.slice(0, 300)}`),
  ]).join('\n');
}

async function axeCheck(page, url, { colorScheme = 'light', status = 200 } = {}) {
  await page.emulateMedia({ colorScheme });
  const res = await page.goto(url);
  assert.equal(res.status(), status, `${url} answered ${res.status()}`);
  await page.waitForLoadState('networkidle');
  // Evaluated through DevTools, so the page's Content-Security-Policy does not block it.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations;
}

for (const scheme of ['light', 'dark']) {
  test(`public pages have no axe violations (${scheme} colour scheme)`, async (t) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const events = watchPage(page);
    try {
      for (const { path: p, status } of publicPages(data)) {
        await t.test(p, async () => {
          const violations = await axeCheck(page, herald.url + p, { colorScheme: scheme, status });
          assert.equal(violations.length, 0,
            `axe found ${violations.length} violation(s) on ${p} (${scheme}):\n${formatViolations(violations)}`);
        });
      }
      assert.deepEqual(events.filter((e) => e.startsWith('pageerror')), [], 'JavaScript errors');
    } finally {
      await context.close();
    }
  });
}

test('admin pages have no axe violations', async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  try {
    // The sign-in steps that cannot be revisited by URL are checked as they are shown.
    const steps = [];
    await enrolAndSignIn(page, herald, {
      onStep: async (name) => {
        await page.evaluate(axeSource);
        const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
        steps.push({ name, violations: result.violations });
      },
    });
    assert.deepEqual(steps.map((s) => s.name), ['two-factor set-up', 'recovery codes']);
    for (const { name, violations } of steps) {
      await t.test(name, () => {
        assert.equal(violations.length, 0,
          `axe found ${violations.length} violation(s) on ${name}:\n${formatViolations(violations)}`);
      });
    }
    for (const { path: p, status } of adminPages(data)) {
      await t.test(p, async () => {
        const violations = await axeCheck(page, herald.url + p, { status });
        assert.equal(violations.length, 0,
          `axe found ${violations.length} violation(s) on ${p}:\n${formatViolations(violations)}`);
      });
    }
  } finally {
    await context.close();
  }
});
