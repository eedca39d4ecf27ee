// A responder writes a postmortem in a real browser: draft, preview, save, publish, and the
// public incident page shows it in its own section (and not before it is published).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, launchBrowser, watchPage, enrolAndSignIn } from './harness.mjs';

let herald;
let browser;
let page;
let events = [];

const INCIDENT = 'Delayed sign-ins';
const CAUSE = 'a certificate that expired on the login service';

before(async () => {
  herald = await startHerald({ label: 'postmortem' });
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

/** The public incident page's text, revalidated as a reader pressing F5 would. */
async function publicText(incidentId) {
  await page.goto(`${herald.url}/incidents/${incidentId}`);
  await page.reload();
  return page.locator('body').innerText();
}

test('a responder drafts, previews and publishes a postmortem', async () => {
  await step('enrol and sign in', async () => {
    await enrolAndSignIn(page, herald);
  });

  let incidentId;
  await step('a resolved incident', async () => {
    const opened = await herald.api('POST', '/api/admin/v1/incidents', {
      name: INCIDENT, status: 'investigating', impact: 'minor', body: 'Sign-ins are slow.', notify: false,
    }, { expect: 201 });
    incidentId = opened.body.id;
    await herald.api('POST', `/api/admin/v1/incidents/${incidentId}/updates`,
      { status: 'resolved', body: 'Sign-ins are fast again.', notify: false }, { expect: 201 });
  });

  await step('open the postmortem page from the incident page', async () => {
    await page.goto(`${herald.url}/admin/incidents/${incidentId}`);
    await page.getByRole('link', { name: 'Postmortem', exact: true }).click();
    await page.waitForURL(new RegExp(`/admin/incidents/${incidentId}/postmortem`));
    assert.ok((await page.locator('body').innerText()).includes('No postmortem yet'));
  });

  await step('write and preview the draft', async () => {
    await page.locator('textarea[name="body"]').fill(
      `The cause was **${CAUSE}**.\n\nWe now renew certificates automatically.`);
    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await page.waitForLoadState('load');
    const preview = page.locator('.preview');
    await preview.waitFor();
    assert.equal(await preview.locator('strong', { hasText: CAUSE }).count(), 1,
      'the preview does not render the Markdown');
    // The text survives the preview, ready to save.
    assert.ok((await page.locator('textarea[name="body"]').inputValue()).includes(CAUSE));
  });

  await step('save the draft: still private', async () => {
    await page.getByRole('button', { name: 'Save draft', exact: true }).click();
    await page.waitForURL(/notice=saved/);
    assert.ok((await page.locator('body').innerText()).includes('Draft'));
    assert.ok(!(await publicText(incidentId)).includes(CAUSE), 'a draft shows on the public page');
    const json = await (await fetch(`${herald.url}/api/v2/incidents.json`)).json();
    assert.equal(json.incidents.find((i) => i.id === incidentId)?.postmortem_body, null);
  });

  await step('publish it', async () => {
    await page.goto(`${herald.url}/admin/incidents/${incidentId}/postmortem`);
    // Notifying is off unless asked.
    assert.equal(await page.locator('input[name="notify"]').isChecked(), false);
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.waitForURL(/notice=published/);
    assert.ok(await page.getByRole('button', { name: 'Revert to draft', exact: true }).isVisible());
  });

  await step('the public incident page shows it in its own section', async () => {
    const text = await publicText(incidentId);
    assert.ok(text.includes('Postmortem') && text.includes(CAUSE), `not on the public page:\n${text}`);
    const section = page.locator('section#postmortem');
    assert.equal(await section.count(), 1, 'no postmortem section');
    assert.equal(await section.locator('strong', { hasText: CAUSE }).count(), 1,
      'the postmortem Markdown is not rendered on the public page');
    const json = await (await fetch(`${herald.url}/api/v2/incidents.json`)).json();
    const incident = json.incidents.find((i) => i.id === incidentId);
    assert.equal(incident?.status, 'postmortem');
    assert.ok(incident?.postmortem_body?.includes(CAUSE));
    assert.ok(incident?.postmortem_published_at, 'no postmortem_published_at');
  });

  const pageErrors = events.filter((e) => e.startsWith('pageerror'));
  assert.deepEqual(pageErrors, [], 'JavaScript errors on Herald pages');
});
