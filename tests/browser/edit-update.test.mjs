// Editing a published update in a real browser: sign in, open an incident, edit an update's
// text, and see the new text on the public page marked "Edited".

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, launchBrowser, watchPage, enrolAndSignIn } from './harness.mjs';

let herald;
let browser;
let page;
let events = [];

const INCIDENT = 'Delayed email notifications';
const TYPO = 'Emails are delayd by up to an hour.';
const FIXED = 'Emails are delayed by up to an hour.';

before(async () => {
  herald = await startHerald({ label: 'edit-update' });
  browser = await launchBrowser();
  const context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  events = watchPage(page);
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

/** Attach browser events and the server log to a failure. */
async function step(name, fn) {
  try {
    await fn();
  } catch (err) {
    err.message += `\n--- while: ${name}; page: ${page?.url()}` +
      `\n--- browser events ---\n${events.slice(-30).join('\n') || '(none)'}` +
      `\n--- herald log ---\n${herald?.logs()}`;
    throw err;
  }
}

test('a responder fixes a typo in a published update and the page says it was edited', async () => {
  await step('enrol and sign in', async () => {
    await enrolAndSignIn(page, herald);
    assert.equal(new URL(page.url()).pathname.replace(/\/$/, ''), '/admin');
  });

  let incidentId;
  await step('an incident is published', async () => {
    const { body } = await herald.api('POST', '/api/admin/v1/incidents', {
      name: INCIDENT, status: 'investigating', impact: 'minor', body: TYPO,
    }, { expect: 201 });
    incidentId = body.id;
    assert.ok(incidentId, `no id in ${JSON.stringify(body)}`);
  });

  await step('open the incident and edit the update', async () => {
    await page.goto(`${herald.url}/admin/incidents/${incidentId}`);
    assert.ok((await page.locator('body').innerText()).includes(TYPO));
    await page.getByRole('link', { name: /^Edit or delete the / }).first().click();
    await page.waitForURL(/\/admin\/updates\/[^/]+\/edit$/);
    const body = page.locator('textarea[name="body"]');
    assert.equal(await body.inputValue(), TYPO, 'the form starts from the published text');
    await body.fill(FIXED);
    await page.getByRole('button', { name: 'Save update' }).click();
    await page.waitForURL(new RegExp(`/admin/incidents/${incidentId}(\\?|#|$)`));
    const admin = await page.locator('body').innerText();
    assert.ok(admin.includes(FIXED) && !admin.includes(TYPO), `admin page:\n${admin}`);
  });

  await step('the public page shows the new text, marked edited', async () => {
    let text = '';
    for (let i = 0; i < 50; i++) {
      await page.goto(`${herald.url}/incidents/${incidentId}`);
      if (i > 0) await page.reload(); // revalidate, as a reader pressing F5 would
      text = await page.locator('main').innerText();
      if (text.includes(FIXED)) break;
      await page.waitForTimeout(200);
    }
    assert.ok(text.includes(FIXED) && !text.includes(TYPO), `public page:\n${text}`);
    assert.match(text, /Edited/, 'the update does not say it was edited');
    const edited = page.locator('.edited time');
    assert.equal(await edited.count(), 1, 'one <time> for the edit');
    assert.ok(!Number.isNaN(Date.parse(await edited.getAttribute('datetime'))),
      'the edit time is machine-readable');
  });

  await step('nobody was notified', async () => {
    const incident = (await herald.api('GET', `/api/admin/v1/incidents/${incidentId}`)).body;
    const updateId = incident.incident_updates[0].id;
    const counts = (await herald.api('GET', `/api/admin/v1/updates/${updateId}/deliveries`)).body;
    const total = Object.values(counts.channels).reduce((n, c) => n + c.total, 0);
    assert.equal(total, 0, `deliveries for an edit: ${JSON.stringify(counts)}`);
  });

  const pageErrors = events.filter((e) => e.startsWith('pageerror'));
  assert.deepEqual(pageErrors, [], 'JavaScript errors on Herald pages');
});
