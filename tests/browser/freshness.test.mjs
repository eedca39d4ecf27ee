// A page that is always fresh and clear: groups open by themselves when a member is affected
// (with a visible marker), an open page brings itself up to date without a reload, a reload
// right after a change shows it, and times name their zone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startHerald, launchBrowser, watchPage } from './harness.mjs';

let herald;
let browser;
let ids;

const post = (p, body, expect = 201) => herald.api('POST', p, body, { expect }).then((r) => r.body);

before(async () => {
  herald = await startHerald({ label: 'freshness' });
  browser = await launchBrowser();
  const web = await post('/api/admin/v1/components', { name: 'Website', group: 'Public', position: 1 });
  const api = await post('/api/admin/v1/components', { name: 'Public API', group: 'Public', position: 2 });
  const worker = await post('/api/admin/v1/components', { name: 'Post scheduler', position: 3 });
  ids = { web: web.id, api: api.id, worker: worker.id };
});

after(async () => {
  await browser?.close();
  await herald?.stop();
});

/** Opens a page in a fresh context; returns { page, context, events }. */
async function open(path, options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const events = watchPage(page);
  const res = await page.goto(herald.url + path);
  assert.equal(res.status(), 200, `${path} answered ${res.status()}`);
  return { page, context, events };
}

const group = (page) => page.locator('details[data-group="Public"]');

test('a group opens by itself when a member is affected, shows it, and opens and closes by keyboard', async () => {
  const { page, context, events } = await open('/');
  try {
    const details = group(page);
    assert.equal(await details.evaluate((d) => d.open), false, 'all operational: the group starts closed');
    const summary = details.locator('summary');
    assert.match(await summary.innerText(), /Public\s+2 components\s+Operational/);
    // The marker is drawn by the stylesheet (display:flex hides the browser's own) and turns.
    const marker = () => summary.evaluate((s) => {
      const style = getComputedStyle(s, '::before');
      return { width: parseFloat(style.width), border: style.borderRightStyle, transform: style.transform };
    });
    const closed = await marker();
    assert.ok(closed.width > 0 && closed.border === 'solid', `a visible marker: ${JSON.stringify(closed)}`);
    const member = page.locator('li.component', { hasText: 'Public API' });
    assert.equal(await member.isVisible(), false);

    await summary.focus();
    await page.keyboard.press('Enter');
    assert.equal(await details.evaluate((d) => d.open), true, 'Enter opens the group');
    // The turn is a 0.15 s transition: read it once it has run, not on the first frame.
    let opened = await marker();
    for (let i = 0; i < 20 && opened.transform === closed.transform; i++) {
      await page.waitForTimeout(50);
      opened = await marker();
    }
    assert.notEqual(opened.transform, closed.transform, 'the marker turns when the group opens');
    assert.equal(await member.isVisible(), true);
    await page.keyboard.press('Space');
    assert.equal(await details.evaluate((d) => d.open), false, 'Space closes it again');

    const incident = await post('/api/admin/v1/incidents', {
      name: 'API errors', status: 'investigating', impact: 'major', body: 'Errors on the API.',
      components: { [ids.api]: 'major_outage' },
    });
    await page.goto(herald.url + '/');
    assert.equal(await group(page).evaluate((d) => d.open), true, 'a group with an affected member opens');
    assert.match(await group(page).locator('summary').innerText(), /Major outage/);
    const row = group(page).locator('li.component', { hasText: 'Public API' });
    assert.equal(await row.isVisible(), true, 'the affected member is in view');
    assert.match(await row.innerText(), /Major outage/);

    await post(`/api/admin/v1/incidents/${incident.id}/updates`, {
      status: 'resolved', body: 'Fixed.', components: { [ids.api]: 'operational' },
    });
    assert.deepEqual(events.filter((e) => e.startsWith('pageerror')), []);
  } finally {
    await context.close();
  }
});

test('open pages bring themselves up to date within 30 s, without a reload, keeping what the reader did', async () => {
  const incident = await post('/api/admin/v1/incidents', {
    name: 'Slow dashboard', status: 'investigating', impact: 'minor', body: 'Dashboards load slowly.',
    components: { [ids.web]: 'degraded_performance' },
  });
  const opened = await Promise.all(['/', `/incidents/${incident.id}`, '/history'].map((p) => open(p)));
  const [home, page, history] = opened.map((o) => o.page);
  try {
    let navigations = 0;
    for (const p of [home, page, history]) {
      await p.evaluate(() => { window.heraldStillHere = 'yes'; });
      p.on('framenavigated', (frame) => { if (frame === p.mainFrame()) navigations += 1; });
    }
    assert.match(await home.locator('.overall').innerText(), /Minor Service Outage/);

    // An unchanged poll revalidates (the browser hides the 304 from the page: it sees the
    // cached copy) and swaps nothing.
    await home.evaluate(() => {
      window.heraldMutations = 0;
      new MutationObserver((m) => { window.heraldMutations += m.length; })
        .observe(document.querySelector('main'), { childList: true, subtree: true });
    });
    const unchanged = home.waitForResponse((r) => new URL(r.url()).pathname === '/' && r.request().resourceType() === 'fetch');
    await home.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    const poll = await unchanged;
    const etag = (await poll.allHeaders()).etag;
    assert.ok(etag, 'the page has an ETag');
    assert.equal((await poll.request().allHeaders())['if-none-match'], etag, 'the poll revalidates with the ETag');
    await home.waitForTimeout(300);
    assert.equal(await home.evaluate(() => window.heraldMutations), 0, 'nothing was swapped');

    // The reader closes the open group and starts typing an address.
    const summary = group(home).locator('summary');
    assert.equal(await group(home).evaluate((d) => d.open), true);
    await summary.click();
    assert.equal(await group(home).evaluate((d) => d.open), false);
    const email = home.locator('input[type="email"][name="email"]').first();
    await email.click();
    await email.pressSequentially('reader@exa');

    const changed = Date.now();
    await post(`/api/admin/v1/incidents/${incident.id}/updates`, {
      status: 'resolved', body: 'Dashboards are fast again.', components: { [ids.web]: 'operational' },
    });
    await Promise.all([
      home.locator('.overall', { hasText: 'All Systems Operational' }).waitFor({ timeout: 30_000 }),
      page.getByText('Dashboards are fast again.').waitFor({ timeout: 30_000 }),
      history.locator('li', { hasText: 'Slow dashboard' }).getByText('Resolved').waitFor({ timeout: 30_000 }),
    ]);
    const took = Date.now() - changed;
    assert.ok(took <= 30_000, `updated after ${took} ms`);

    for (const p of [home, page, history]) {
      assert.equal(await p.evaluate(() => window.heraldStillHere), 'yes', `${p.url()} was not reloaded`);
    }
    assert.equal(navigations, 0, 'no navigation happened');
    assert.equal(await email.inputValue(), 'reader@exa', 'text being typed is kept');
    assert.equal(await email.evaluate((e) => e === document.activeElement), true, 'focus stays in the field');
    assert.equal(await group(home).evaluate((d) => d.open), false, 'the group the reader closed stays closed');
    assert.equal(await home.locator('[role="status"][aria-live="polite"]').innerText(),
      'Status now: All Systems Operational', 'the new overall status is announced');
    assert.match(await page.locator('[data-live-status]').innerText(), /Resolved/);
    assert.match(await page.title(), /Slow dashboard/);
    // New times are shown in the reader's zone too.
    const time = page.locator('li.update').first().locator('time').first();
    assert.equal(await time.getAttribute('title').then((t) => /UTC$/.test(t)), true);
    for (const { events } of opened) {
      assert.deepEqual(events.filter((e) => e.startsWith('pageerror')), []);
    }
  } finally {
    await Promise.all(opened.map((o) => o.context.close()));
  }
});

test('a normal reload right after a change shows the new state', async () => {
  const incident = await post('/api/admin/v1/incidents', {
    name: 'Login trouble', status: 'investigating', impact: 'major', body: 'Some sign-ins fail.',
    components: { [ids.worker]: 'partial_outage' },
  });
  for (const [path, how] of [['/', 'reload'], [`/incidents/${incident.id}`, 'goto']]) {
    const { page, context } = await open(path);
    try {
      assert.match(await page.locator('main').innerText(), /Partial System Outage|Investigating/);
      const update = { status: how === 'reload' ? 'identified' : 'resolved', body: `Step after ${how}.` };
      if (update.status === 'resolved') update.components = { [ids.worker]: 'operational' };
      await post(`/api/admin/v1/incidents/${incident.id}/updates`, update);
      if (how === 'reload') await page.reload();
      else await page.goto(herald.url + path);
      const text = await page.locator('main').innerText();
      if (path === '/') assert.match(text, /Step after reload\./, `the reload shows the new update:\n${text}`);
      else assert.match(text, /Resolved[\s\S]*Step after goto\./, `going to the page again shows it:\n${text}`);
    } finally {
      await context.close();
    }
  }
});

test('times name their zone, with and without script', async () => {
  const incident = await post('/api/admin/v1/incidents', {
    name: 'Zone check', status: 'resolved', impact: 'minor', body: 'Fine.',
  });
  const path = `/incidents/${incident.id}`;
  const berlin = await open(path, { timezoneId: 'Europe/Berlin', locale: 'en-GB' });
  try {
    const time = berlin.page.locator('li.update time').first();
    const shown = await time.innerText();
    assert.match(shown, /\b(CET|CEST|GMT\+[12])\b/, `the time names the reader's zone: ${shown}`);
    assert.match(await time.getAttribute('title'), /UTC$/, 'the UTC time stays in the title');
    assert.match(await berlin.page.locator('footer').innerText(), /Times are in your time zone, Europe\/Berlin/);
  } finally {
    await berlin.context.close();
  }
  const plain = await open(path, { javaScriptEnabled: false });
  try {
    assert.match(await plain.page.locator('li.update time').first().innerText(), /UTC$/);
    assert.match(await plain.page.locator('footer').innerText(), /Times are in UTC/);
  } finally {
    await plain.context.close();
  }
});
