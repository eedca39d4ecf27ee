// Branding: Herald started with every HERALD_* branding setting shows its logo (light and dark),
// name, accent colour, header links and footer; axe and vnu pass on the branded page in light
// and dark at 375 and 1280 px; and the emails it sends (caught by a real SMTP server) pass
// axe and vnu too.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { startHerald, launchBrowser, watchPage, seed, enrolAndSignIn, makeTempDir, freePort, sleep, HERE, REPO_ROOT } from './harness.mjs';

const execFileP = promisify(execFile);
const axeSource = fs.readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const VNU_JAR = path.join(HERE, 'node_modules', 'vnu-jar', 'build', 'dist', 'vnu.jar');
const JAVA = process.env.JAVA || 'java';

const LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect width="40" height="10" fill="#0a66c2"/></svg>';
const DARK_LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 10"><rect width="40" height="10" fill="#f0f0f0"/></svg>';
// A 16×16 PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000100000001008060000001ff3ff61000000194944415478da63e04a3bf49f12cc306ac0a801a3060c170300313e311f86f9f0df0000000049454e44ae426082', 'hex');
const ACCENT = '#ff6600';
const SIZES = [375, 1280];

let herald;
let browser;
let data;
let dir;
let sink;
let mailDir;

/** tests/smtp/sink.py on a free port; resolves once it accepts connections. */
async function startSink() {
  const port = await freePort();
  mailDir = makeTempDir('herald-mail-');
  const child = spawn('python3', [path.join(REPO_ROOT, 'tests', 'smtp', 'sink.py'), '--port', String(port), '--dir', mailDir, '--refuse', ''],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the SMTP sink exited (${code}); is aiosmtpd installed?`)));
  });
  assert.equal(first.trim(), 'READY');
  return { port, child };
}

/** The messages the sink holds, oldest first, as { rcpt, raw }. */
function mails() {
  return fs.readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort().map((f) => {
    const text = fs.readFileSync(path.join(mailDir, f), 'utf8');
    const [rcptLine, , ...rest] = text.split('\r\n');
    return { rcpt: rcptLine.replace('X-Sink-Rcpt: ', ''), raw: rest.join('\r\n') };
  });
}

async function waitForMail(predicate, what) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const found = mails().find(predicate);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} arrived; have ${mails().length} mail(s)\n${herald.logs()}`);
    await sleep(100);
  }
}

/** The decoded HTML part of a MIME message. */
function htmlPart(raw) {
  const boundary = raw.match(/boundary="?([^";\r\n]+)"?/)[1];
  for (const part of raw.split(`--${boundary}`)) {
    const [head, ...body] = part.replace(/^\r\n/, '').split('\r\n\r\n');
    if (!/content-type:\s*text\/html/i.test(head)) continue;
    const content = body.join('\r\n\r\n').replace(/\r\n$/, '');
    const encoding = (head.match(/content-transfer-encoding:\s*(\S+)/i) || [])[1]?.toLowerCase();
    if (encoding === 'base64') return Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (encoding === 'quoted-printable') {
      const bytes = content.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    return content;
  }
  throw new Error('no text/html part');
}

before(async () => {
  dir = makeTempDir('herald-brand-');
  const file = (name, content) => { fs.writeFileSync(path.join(dir, name), content); return path.join(dir, name); };
  sink = await startSink();
  herald = await startHerald({
    label: 'branding',
    env: {
      HERALD_PAGE_NAME: 'Acme Cloud',
      HERALD_LOGO_FILE: file('logo.svg', LOGO),
      HERALD_LOGO_DARK_FILE: file('logo-dark.svg', DARK_LOGO),
      HERALD_FAVICON_FILE: file('favicon.png', PNG),
      HERALD_ACCENT_COLOR: ACCENT,
      HERALD_HEADER_LINKS: 'Acme=https://acme.example, Support=https://help.acme.example/status',
      HERALD_FOOTER_TEXT: '© Acme Inc.',
      HERALD_EXTRA_CSS_FILE: file('extra.css', '.overall { letter-spacing: .01em; }\n'),
      HERALD_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
      HERALD_MAIL_FROM: 'Acme Cloud <status@acme.example>',
    },
  });
  data = await seed(herald);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await herald?.stop();
  sink?.child.kill();
  if (process.env.HERALD_TEST_KEEP_TMP !== '1') {
    for (const d of [dir, mailDir]) if (d) fs.rmSync(d, { recursive: true, force: true });
  }
});

function formatViolations(violations) {
  return violations.flatMap((v) => [
    `  ${v.id} [${v.impact}] ${v.help}`,
    ...v.nodes.map((n) => `      ${n.target.join(' ')}: ${n.failureSummary.replace(/\s*\n\s*/g, ' / ')}\n        html: ${n.html.slice(0, 300)}`),
  ]).join('\n');
}

async function axe(page) {
  // Evaluated through DevTools, so neither the page's policy nor an email's lack of scripts stops it.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations;
}

async function vnu(named) {
  const out = makeTempDir('herald-vnu-brand-');
  const files = Object.entries(named).map(([name, html]) => {
    const f = path.join(out, `${name}.html`);
    fs.writeFileSync(f, html);
    return f;
  });
  let stderr;
  try {
    ({ stderr } = await execFileP(JAVA, ['-Xss8m', '-jar', VNU_JAR, '--errors-only', '--format', 'json', ...files],
      { maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }));
  } catch (err) {
    if (err.stderr === undefined || !err.stderr.trim().startsWith('{')) throw err;
    stderr = err.stderr;
  }
  fs.rmSync(out, { recursive: true, force: true });
  return JSON.parse(stderr).messages
    .filter((m) => m.type === 'error' || m.type === 'non-document-error')
    .map((m) => `  ${path.basename(decodeURIComponent(m.url ?? ''))} line ${m.lastLine}: ${m.message} ${JSON.stringify(m.extract ?? '')}`);
}

test('the configured logo, name, colour, links and footer are applied', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const events = watchPage(page);
  try {
    await page.goto(herald.url + '/');
    await page.waitForLoadState('networkidle');
    const brand = page.locator('header.site a.brand');
    assert.equal((await brand.innerText()).trim(), 'Acme Cloud');
    assert.equal(await page.title().then((t) => t.includes('Acme Cloud')), true);
    const logo = brand.locator('img');
    assert.match(await logo.getAttribute('src'), /^\/brand\/logo-[0-9a-f]{16}\.svg$/);
    assert.ok(await logo.evaluate((img) => img.complete && img.naturalWidth > 0), 'the logo loads');
    assert.match(await logo.evaluate((img) => img.currentSrc), /\/brand\/logo-[0-9a-f]{16}\.svg$/, 'light logo in light mode');
    const nav = page.getByRole('navigation', { name: 'Site' });
    assert.equal(await nav.getByRole('link', { name: 'Support' }).getAttribute('href'), 'https://help.acme.example/status');
    assert.equal(await nav.getByRole('link', { name: 'Acme' }).getAttribute('href'), 'https://acme.example/');
    assert.equal((await page.locator('footer .footer-text').innerText()).trim(), '© Acme Inc.');
    const styles = await page.evaluate(() => {
      const root = getComputedStyle(document.documentElement);
      return {
        accent: root.getPropertyValue('--accent').trim(),
        stripe: getComputedStyle(document.querySelector('header.site')).borderTopColor,
        link: getComputedStyle(document.querySelector('footer.site a')).color,
        favicon: document.querySelector('link[rel=icon]').getAttribute('href'),
      };
    });
    assert.equal(styles.accent, ACCENT);
    assert.equal(styles.stripe, 'rgb(255, 102, 0)');
    assert.notEqual(styles.link, 'rgb(5, 80, 174)', 'links take the accent, not the default blue');
    assert.match(styles.favicon, /^\/brand\/favicon-[0-9a-f]{16}\.png$/);
    assert.deepEqual(events.filter((e) => /pageerror|console\.error|response 4|requestfailed/.test(e)), [], 'no errors and no blocked loads');

    await page.emulateMedia({ colorScheme: 'dark' });
    await page.reload();
    await page.waitForLoadState('networkidle');
    assert.match(await logo.evaluate((img) => img.currentSrc), /\/brand\/logo-dark-[0-9a-f]{16}\.svg$/, 'dark logo in dark mode');
  } finally {
    await context.close();
  }
});

test('the branded pages pass axe in light and dark at 375 and 1280 px, and vnu', async (t) => {
  const pages = ['/', `/incidents/${data.open.id}`, '/history'];
  for (const colorScheme of ['light', 'dark']) {
    for (const width of SIZES) {
      await t.test(`${colorScheme} ${width}px`, async () => {
        const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
        const page = await context.newPage();
        try {
          for (const p of pages) {
            const res = await page.goto(herald.url + p);
            assert.equal(res.status(), 200);
            await page.waitForLoadState('networkidle');
            const violations = await axe(page);
            assert.equal(violations.length, 0, `axe on ${p} (${colorScheme}, ${width}px):\n${formatViolations(violations)}`);
          }
        } finally {
          await context.close();
        }
      });
    }
  }
  await t.test('vnu', async () => {
    const named = {};
    for (const [i, p] of pages.entries()) named[`page-${i}`] = await (await fetch(herald.url + p)).text();
    const errors = await vnu(named);
    assert.deepEqual(errors, [], `vnu:\n${errors.join('\n')}`);
  });
});

test("the emails' HTML passes axe in light and dark at 375 and 1280 px, and vnu", async (t) => {
  await herald.api('POST', '/api/admin/v1/subscribers', { email: 'reader@example.com', confirmed: true }, { expect: 201 });
  await herald.api('POST', `/api/admin/v1/incidents/${data.open.id}/updates`, {
    status: 'monitoring',
    body: 'A fix is **out**; see [the docs](https://example.com/docs).',
    components: { [data.components.api.id]: 'partial_outage' },
    notify: true,
  }, { expect: 201 });
  const signUp = await fetch(herald.url + '/subscribe', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: herald.url },
    body: 'email=new%40example.com',
  });
  assert.equal(signUp.status, 200);
  const update = htmlPart((await waitForMail((m) => m.rcpt === 'reader@example.com', 'notification')).raw);
  const confirm = htmlPart((await waitForMail((m) => m.rcpt === 'new@example.com', 'confirmation')).raw);
  assert.match(update, /Major impact/);
  assert.match(update, /Public API: <strong class="st-partial_outage"[^>]*>Partial outage<\/strong>/);
  assert.match(update, /border-top:4px solid #ff6600/);
  assert.match(confirm, /Confirm your subscription to Acme Cloud/);

  for (const [name, html] of [['notification', update], ['confirmation', confirm]]) {
    for (const colorScheme of ['light', 'dark']) {
      for (const width of SIZES) {
        await t.test(`${name} ${colorScheme} ${width}px`, async () => {
          const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
          const page = await context.newPage();
          try {
            await page.setContent(html, { waitUntil: 'load' });
            const violations = await axe(page);
            assert.equal(violations.length, 0, `axe on the ${name} email (${colorScheme}, ${width}px):\n${formatViolations(violations)}`);
            // The card fits the narrow screen: no sideways scrolling.
            assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal scroll');
          } finally {
            await context.close();
          }
        });
      }
    }
  }
  await t.test('vnu', async () => {
    const errors = await vnu({ notification: update, confirmation: confirm });
    assert.deepEqual(errors, [], `vnu:\n${errors.join('\n')}`);
  });
});

test('an admin changes the branding on the Branding page (axe and vnu clean)', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  try {
    await enrolAndSignIn(page, herald);
    await page.goto(herald.url + '/admin/branding');
    const violations = await axe(page);
    assert.equal(violations.length, 0, `axe on /admin/branding:\n${formatViolations(violations)}`);
    const res = await context.request.get(herald.url + '/admin/branding');
    const errors = await vnu({ branding: await res.text() });
    assert.deepEqual(errors, [], `vnu:\n${errors.join('\n')}`);

    // A file that is no image is refused, saying why, and nothing changes.
    await page.getByLabel('Page name').fill('Acme Status');
    await page.locator('input[name="logo"]').setInputFiles({ name: 'logo.gif', mimeType: 'image/gif', buffer: Buffer.from('GIF89a') });
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('alert').filter({ hasText: 'Nothing was saved' }).waitFor();
    assert.match(await page.getByRole('alert').filter({ hasText: 'Nothing was saved' }).innerText(), /Logo: the file is neither a PNG nor an SVG/);
    assert.match(await (await fetch(herald.url + '/')).text(), /<span>Acme Cloud<\/span>/);

    await page.getByLabel('Page name').fill('Acme Status');
    await page.getByLabel('Accent colour').fill('#0a66c2');
    await page.locator('input[name="logo"]').setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
    const home = await (await fetch(herald.url + '/')).text();
    assert.match(home, /<span>Acme Status<\/span>/);
    assert.match(home, /<img src="\/brand\/logo-[0-9a-f]{16}\.png" alt="">/);
    assert.equal((await (await fetch(herald.url + '/banner.json')).json()).page.accent, '#0a66c2');

    await page.getByRole('button', { name: 'Back to the configured branding' }).click();
    await page.getByRole('status').filter({ hasText: 'Back to the configured branding' }).waitFor();
    assert.match(await (await fetch(herald.url + '/')).text(), /<span>Acme Cloud<\/span>/);
  } finally {
    await context.close();
  }
});
