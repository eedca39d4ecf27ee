// A responder paged at 3 a.m. follows a link straight to an incident's admin page: signing in
// brings them to that page, not the dashboard.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, launchBrowser, watchPage, enrolAndSignIn, freshCode, ADMIN_EMAIL, ADMIN_PASSWORD } from './harness.mjs';

let herald;
let browser;
let events = [];

before(async () => {
  herald = await startHerald({ label: 'deep-link' });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

test('signing in from a link to an incident lands on that incident', async () => {
  // Enrol in one browser context, then follow the link in a fresh one (no session).
  const first = await browser.newContext();
  const setup = await first.newPage();
  setup.setDefaultTimeout(15_000);
  const { totpInfo } = await enrolAndSignIn(setup, herald);
  await first.close();

  const opened = await herald.api('POST', '/api/admin/v1/incidents',
    { name: 'Checkout errors', impact: 'major', status: 'investigating', body: 'Looking into it.' },
    { expect: 201 });
  const link = `${herald.url}/admin/incidents/${opened.body.id}`;

  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  events = watchPage(page);
  try {
    await page.goto(link);
    assert.equal(new URL(page.url()).pathname, '/admin/login', 'signed out, the link asks to sign in');
    await page.locator('input[name="email"]').fill(ADMIN_EMAIL);
    await page.locator('input[name="password"]').fill(ADMIN_PASSWORD);
    await page.locator('input[name="code"]').fill(await freshCode(totpInfo));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === `/admin/incidents/${opened.body.id}`, { timeout: 15_000 });
    await page.getByRole('heading', { name: /Checkout errors/ }).first().waitFor();
  } catch (err) {
    err.message += `\n--- page: ${page.url()}\n--- browser events ---\n${events.slice(-30).join('\n') || '(none)'}` +
      `\n--- herald log ---\n${herald.logs()}`;
    throw err;
  } finally {
    await context.close();
  }
});
