// The responder's path through the admin UI in a real browser: enrol, sign in,
// add a component, publish an incident, see it on the public page, resolve it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startHerald, launchBrowser, watchPage, enrolAndSignIn, freePort } from './harness.mjs';

let herald;
let browser;
let page;
let events = [];

const COMPONENT = 'Checkout API';
const INCIDENT = 'Checkout failures for some customers';

before(async () => {
  herald = await startHerald({ label: 'admin-flow' });
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

test('admin enrols, publishes an incident, and resolves it', async () => {
  await step('enrol and sign in', async () => {
    await enrolAndSignIn(page, herald);
    assert.equal(new URL(page.url()).pathname.replace(/\/$/, ''), '/admin');
  });

  await step('add a component', async () => {
    await page.goto(`${herald.url}/admin/components`);
    await page.locator('input[name="name"]').fill(COMPONENT);
    await page.locator('[name="description"]').fill('Payments & checkout');
    await page.locator('[name="group"]').fill('Shop');
    await page.locator('[name="position"]').fill('1');
    await page.getByRole('button', { name: 'Add component' }).click();
    await page.waitForLoadState('load');
    await page.getByText(COMPONENT, { exact: true }).first().waitFor();
    const components = await (await fetch(`${herald.url}/api/v2/components.json`)).json();
    const found = components.components.find((c) => c.name === COMPONENT);
    assert.ok(found, `component not in /api/v2/components.json: ${JSON.stringify(components)}`);
    assert.equal(found.status, 'operational');
  });

  let incidentPath;
  await step('publish an incident', async () => {
    await page.goto(`${herald.url}/admin/incidents/new`);
    await page.locator('input[name="name"]').fill(INCIDENT);
    await page.locator('select[name="status"]').selectOption('identified');
    await page.locator('select[name="impact"]').selectOption('major');
    await page.locator('textarea[name="body"]').fill(
      'Card payments **fail** for some customers.\n\n<script>window.__pwned = 1</script>\n\n' +
      '<img src="/nonexistent.png" alt="" onerror="window.__pwned = 2">');
    // Find the select for our component: named component_<id>, labelled with its name.
    const selectName = await page.evaluate((componentName) => {
      const selects = [...document.querySelectorAll('select[name^="component_"]')];
      const labelled = selects.filter((s) => {
        const labels = [...(s.labels || [])].map((l) => l.textContent).join(' ');
        const row = s.closest('tr, li, fieldset, div, p');
        return labels.includes(componentName) || (row && row.textContent.includes(componentName));
      });
      return (labelled[0] || (selects.length === 1 ? selects[0] : null))?.name ?? null;
    }, COMPONENT);
    assert.ok(selectName, 'no select named component_<id> for the component on /admin/incidents/new');
    await page.locator(`select[name="${selectName}"]`).selectOption('partial_outage');
    await page.getByRole('button', { name: 'Publish' }).click();
    await page.waitForURL(/\/admin\/incidents\/[^/]+$/, { timeout: 15_000 });
    incidentPath = new URL(page.url()).pathname;
    assert.ok(!incidentPath.endsWith('/new'), `still on ${incidentPath}`);
  });

  const incidentId = incidentPath.split('/').pop();

  await step('public page shows the incident and the component status', async () => {
    // The public cache is rebuilt after commit; give it a moment.
    let text = '';
    for (let i = 0; i < 50; i++) {
      await page.goto(`${herald.url}/`);
      if (i > 0) await page.reload(); // bypass the browser's 10 s cache on retries
      text = await page.locator('body').innerText();
      if (text.includes(INCIDENT)) break;
      await page.waitForTimeout(200);
    }
    assert.ok(text.includes(INCIDENT), `public page does not show the incident name:\n${text}`);
    // Grouped components sit in a collapsed <details>; open the groups as a reader would.
    const closed = page.locator('details:not([open]) > summary');
    for (let i = await closed.count(); i > 0; i--) await closed.first().click();
    // The component's row must carry its new status.
    const rowText = await page.evaluate((componentName) => {
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      let node;
      while ((node = walker.nextNode())) {
        if (node.textContent.trim() !== componentName) continue;
        let el = node.parentElement;
        for (let i = 0; el && i < 5; i++, el = el.parentElement) {
          if (/partial outage|partial_outage/i.test(el.innerText || el.textContent)) {
            return el.innerText;
          }
          if (el.tagName === 'MAIN' || el.tagName === 'BODY') break;
        }
      }
      return null;
    }, COMPONENT);
    assert.ok(rowText, `public page does not show "${COMPONENT}" with status "Partial outage":\n${text}`);
    const pwned = await page.evaluate(() => window.__pwned);
    assert.equal(pwned, undefined, 'markdown body executed script on the public page');

    // The incident's public page renders the markdown and strips the script.
    await page.goto(`${herald.url}/incidents/${incidentId}`);
    assert.ok((await page.locator('body').innerText()).includes(INCIDENT));
    assert.equal(await page.locator('strong', { hasText: 'fail' }).count() > 0, true,
      'markdown **fail** is not rendered as <strong> on the incident page');
    assert.equal(await page.evaluate(() => window.__pwned), undefined,
      'markdown body executed script on the incident page');
    assert.equal(await page.locator('main script, article script').count(), 0,
      'a <script> from the markdown body survived sanitising');
  });

  await step('post a resolving update from the admin page', async () => {
    await page.goto(`${herald.url}${incidentPath}`);
    const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Post update' }) });
    assert.equal(await form.count(), 1, 'expected one form with a "Post update" button');
    await form.locator('select[name="status"]').selectOption('resolved');
    await form.locator('textarea[name="body"]').fill('Payments are working again. Sorry for the trouble.');
    await form.getByRole('button', { name: 'Post update' }).click();
    await page.waitForLoadState('load');
    const after = await page.locator('body').innerText();
    assert.ok(after.includes('Payments are working again'), `admin incident page does not show the update:\n${after}`);

    let incidents;
    for (let i = 0; i < 50; i++) {
      incidents = await (await fetch(`${herald.url}/api/v2/incidents.json`)).json();
      if (incidents.incidents.find((x) => x.name === INCIDENT)?.status === 'resolved') break;
      await page.waitForTimeout(200);
    }
    const inc = incidents.incidents.find((x) => x.name === INCIDENT);
    assert.equal(inc?.status, 'resolved', `incident not resolved in /api/v2/incidents.json: ${JSON.stringify(inc)}`);
    const unresolved = await (await fetch(`${herald.url}/api/v2/incidents/unresolved.json`)).json();
    assert.equal(unresolved.incidents.length, 0, 'a resolved incident is still listed as unresolved');

    // This browser saw the page a moment ago: reload, as a reader pressing F5 would (pages
    // revalidate with their ETag on every load).
    await page.goto(`${herald.url}/incidents/${incidentId}`);
    await page.reload();
    const pub = await page.locator('body').innerText();
    assert.ok(/resolved/i.test(pub) && pub.includes('Payments are working again'),
      `public incident page does not show the resolution:\n${pub}`);
  });

  const pageErrors = events.filter((e) => e.startsWith('pageerror'));
  assert.deepEqual(pageErrors, [], 'JavaScript errors on Herald pages');
});

test('a signed-in admin visiting another site cannot be made to post admin forms (CSRF)', async () => {
  // Runs after the flow above, so `page` holds a signed-in session.
  assert.equal(new URL(page.url()).origin, herald.url, 'the previous test did not leave a signed-in page');
  const port = await freePort();
  const evil = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><title>evil</title><body>
<form id="f" method="post" action="${herald.url}/admin/components">
<input name="name" value="Injected by another site"><input name="description" value="x">
<input name="group" value=""><input name="position" value="9"></form>
<script>document.getElementById('f').submit()</script></body></html>`);
  });
  await new Promise((resolve) => evil.listen(port, '127.0.0.1', resolve));
  try {
    const answered = page.waitForResponse((r) => r.url().startsWith(`${herald.url}/admin/components`) &&
      r.request().method() === 'POST');
    await page.goto(`http://localhost:${port}/`);
    const res = await answered;
    await page.waitForLoadState('load');
    const components = await (await fetch(`${herald.url}/api/v2/components.json`)).json();
    assert.ok(!components.components.some((c) => c.name === 'Injected by another site'),
      `a cross-site form POST created a component (answer ${res.status()})`);
    assert.ok(res.status() >= 300, `cross-site POST answered ${res.status()}`);
  } finally {
    await new Promise((resolve) => evil.close(resolve));
  }
});
