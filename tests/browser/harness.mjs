// Shared harness for Herald's browser tests.
//
// startHerald() runs the real `herald serve` binary on a free loopback port
// with a fresh data directory, waits for /healthz, creates the first admin
// (enrolment URL) and an admin API token through the CLI, and returns helpers.
// Every test file starts its own server, so files are independent.
//
// Environment:
//   HERALD_BIN              binary to run (default <repo>/target/debug/herald)
//   HERALD_TEST_KEEP_TMP=1  keep temp data dirs and server logs for inspection
//   HERALD_TEST_VERBOSE=1   echo the server's log lines to stderr as they come

import { spawn, execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const HERALD_BIN = process.env.HERALD_BIN
  ? path.resolve(REPO_ROOT, process.env.HERALD_BIN)
  : path.join(REPO_ROOT, 'target', 'debug', 'herald');

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-quic',
  '--disable-sync',
];

export const ADMIN_EMAIL = 'admin@example.com';
export const ADMIN_PASSWORD = 'correct-horse-battery-staple-42!';

const KEEP_TMP = process.env.HERALD_TEST_KEEP_TMP === '1';
const VERBOSE = process.env.HERALD_TEST_VERBOSE === '1';

const liveChildren = new Set();
function killChildren() {
  for (const child of liveChildren) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
}
process.on('exit', killChildren);
// The test runner ends a file that overruns --test-timeout with a signal; don't leave servers behind.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    killChildren();
    process.kill(process.pid, signal);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export function makeTempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function lastLine(text) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  return lines.length ? lines[lines.length - 1] : '';
}

/** The tail of a log file, for failure messages. */
function tailFile(file, maxChars = 6000) {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return text.length > maxChars ? '…' + text.slice(-maxChars) : text;
  } catch {
    return '(no log)';
  }
}

/**
 * Start Herald and prepare an admin and an API token; `env` adds or overrides HERALD_* settings.
 * Returns { url, port, dataDir, enrolUrl, token, api(), cli(), logs(), stop() }.
 */
export async function startHerald({ label = 'herald', env: extraEnv = {} } = {}) {
  if (!fs.existsSync(HERALD_BIN)) {
    throw new Error(`Herald binary not found at ${HERALD_BIN}; run \`cargo build\` or set HERALD_BIN`);
  }
  const dataDir = makeTempDir(`herald-${label}-`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    HERALD_DATA_DIR: dataDir,
    HERALD_BIND: `127.0.0.1:${port}`,
    HERALD_PUBLIC_URL: url,
    // The seed data links to example.com; the tripwire would otherwise pause outbound.
    HERALD_TRIPWIRE_ALLOWED_DOMAINS: 'example.com',
  };
  // Never let a developer's own configuration leak into the tests.
  delete env.HERALD_DATABASE_URL;
  delete env.HERALD_SMTP_URL;
  delete env.HERALD_X_API_BASE;
  // A test's own settings (branding, an SMTP sink) go over the defaults above.
  Object.assign(env, extraEnv);
  env.RUST_LOG = env.RUST_LOG || 'info';

  const logFile = path.join(dataDir, 'server.log');
  const logStream = fs.createWriteStream(logFile);
  const child = spawn(HERALD_BIN, ['serve'], {
    cwd: dataDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    liveChildren.delete(child);
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      logStream.write(chunk);
      if (VERBOSE) process.stderr.write(`[${label}] ${chunk}`);
    });
  }

  const herald = {
    url,
    port,
    dataDir,
    env,
    logFile,
    logs: () => tailFile(logFile),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const deadline = Date.now() + 5000;
        while (!exited && Date.now() < deadline) await sleep(50);
        if (!exited) child.kill('SIGKILL');
        while (!exited) await sleep(20);
      }
      await new Promise((resolve) => logStream.end(resolve));
      if (!KEEP_TMP) fs.rmSync(dataDir, { recursive: true, force: true });
      else process.stderr.write(`[${label}] kept data dir ${dataDir}\n`);
    },
    /** Run a herald CLI subcommand with the server's environment. */
    async cli(args, { input } = {}) {
      try {
        const p = execFileP(HERALD_BIN, args, { cwd: dataDir, env, timeout: 60_000 });
        // A command that never reads stdin may exit first; EPIPE then is not a failure.
        p.child.stdin.on('error', (err) => { if (err.code !== 'EPIPE') throw err; });
        p.child.stdin.end(input ?? '');
        const { stdout, stderr } = await p;
        return { stdout, stderr };
      } catch (err) {
        throw new Error(`\`herald ${args.join(' ')}\` failed (exit ${err.code}):\n` +
          `stdout:\n${err.stdout}\nstderr:\n${err.stderr}`);
      }
    },
    /**
     * Call the admin API with the bearer token; JSON in and out.
     * Returns { status, headers, body } and throws if expect is given and differs.
     */
    async api(method, urlPath, body, { expect } = {}) {
      const res = await fetch(url + urlPath, {
        method,
        headers: {
          authorization: `Bearer ${herald.token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let json;
      try { json = text ? JSON.parse(text) : null; } catch { json = undefined; }
      if (expect !== undefined && res.status !== expect) {
        throw new Error(`${method} ${urlPath} answered ${res.status}, expected ${expect}: ${text.slice(0, 2000)}`);
      }
      // A write returns at commit and the pages follow: wait until they show it.
      if (method !== 'GET') await herald.settled();
      return { status: res.status, headers: res.headers, body: json, text };
    },
    /** Waits (up to 10 s) until /healthz says the public pages show every committed change. */
    async settled() {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        const res = await fetch(`${url}/healthz`);
        const health = await res.json().catch(() => ({}));
        if (health.pages_pending === false) return;
        await sleep(5);
      }
      throw new Error('the public pages never caught up with the last change (/healthz pages_pending)');
    },
  };

  try {
    // Wait for /healthz.
    const deadline = Date.now() + 60_000;
    let lastErr = '';
    for (;;) {
      if (exited) {
        throw new Error(`herald serve exited early (${JSON.stringify(exited)})`);
      }
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) break;
        lastErr = `status ${res.status}`;
      } catch (err) {
        lastErr = err.cause?.code || err.message;
      }
      if (Date.now() > deadline) throw new Error(`/healthz never answered 200 (${lastErr})`);
      await sleep(100);
    }

    const staff = await herald.cli(['staff', 'add', ADMIN_EMAIL, '--role', 'admin']);
    herald.enrolUrl = lastLine(staff.stdout);
    if (!/^https?:\/\//.test(herald.enrolUrl)) {
      throw new Error(`\`herald staff add\` did not print a URL as its last line:\n${staff.stdout}`);
    }
    const tok = await herald.cli(['token', 'create', '--name', 'ci', '--role', 'admin']);
    herald.token = lastLine(tok.stdout);
    if (!herald.token || /\s/.test(herald.token)) {
      throw new Error(`\`herald token create\` did not print a token as its last line:\n${tok.stdout}`);
    }
  } catch (err) {
    const logs = herald.logs();
    await herald.stop().catch(() => {});
    err.message += `\n--- herald server log (${label}) ---\n${logs}`;
    throw err;
  }
  return herald;
}

/** Launch Debian's Chromium through playwright-core (fresh profile each time). */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * Collect console errors, page errors and failed requests of a page so tests
 * can print them when something goes wrong.
 */
export function watchPage(page) {
  const events = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') events.push(`console.${msg.type()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => events.push(`pageerror: ${err.message}`));
  page.on('requestfailed', (req) => events.push(`requestfailed: ${req.method()} ${req.url()} ${req.failure()?.errorText}`));
  page.on('response', (res) => {
    if (res.status() >= 400) events.push(`response ${res.status()}: ${res.request().method()} ${res.url()}`);
  });
  return events;
}

// ---------------------------------------------------------------------------
// TOTP (RFC 6238, SHA-1, 6 digits, 30 s) for the case where enrolment asks the
// new staff member to set up a second factor.

export function base32Decode(input) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = input.toUpperCase().replace(/[\s=-]/g, '');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const idx = alphabet.indexOf(ch);
    if (idx < 0) throw new Error(`invalid base32 character ${JSON.stringify(ch)}`);
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totp(secretBase32, { time = Date.now(), step = 30, digits = 6, algorithm = 'sha1', counter = null } = {}) {
  const c = counter ?? Math.floor(time / 1000 / step);
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(c));
  const hmac = crypto.createHmac(algorithm, base32Decode(secretBase32)).update(buf).digest();
  const offset = hmac[hmac.length - 1] & 0x0f;
  const code = (hmac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(code).padStart(digits, '0');
}

// Herald accepts each code once (and codes of the previous and next 30 s step), so every
// sign-in takes a step not used before, waiting only when all three are spent.
const lastStep = new Map();
export async function freshCode(info) {
  const step = info.step || 30;
  for (;;) {
    const secs = Date.now() / 1000;
    const now = Math.floor(secs / step);
    // The previous step's code only while the server cannot move two steps on before it checks.
    const earliest = secs % step < step - 5 ? now - 1 : now;
    const next = Math.max((lastStep.get(info.secret) ?? 0) + 1, earliest);
    if (next <= now + 1) {
      lastStep.set(info.secret, next);
      return totp(info.secret, { ...info, counter: next });
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Find a TOTP secret on a page: an otpauth:// URI, or a base32 string shown as text. */
export async function findTotpSecret(page) {
  const html = await page.content();
  const uri = html.match(/otpauth:\/\/totp\/[^"'<>\s]+/);
  if (uri) {
    const params = new URL(uri[0].replace(/&amp;/g, '&')).searchParams;
    if (params.get('secret')) {
      return {
        secret: params.get('secret'),
        digits: Number(params.get('digits') || 6),
        step: Number(params.get('period') || 30),
        algorithm: (params.get('algorithm') || 'SHA1').toLowerCase(),
      };
    }
  }
  const text = await page.locator('body').innerText();
  const m = text.match(/\b([A-Z2-7]{4}(?:[ -]?[A-Z2-7]{4}){3,})\b/);
  return m ? { secret: m[1], digits: 6, step: 30, algorithm: 'sha1' } : null;
}

// ---------------------------------------------------------------------------
// Browser flows shared by several tests.

/**
 * Follow the enrolment link, set a password, sign in, and set up the authenticator Herald asks
 * for at first sign-in (reading the key off the page), keeping the recovery codes. Leaves the
 * page on /admin. Returns { totpSecret, totpInfo, recoveryCodes }.
 */
export async function enrolAndSignIn(page, herald, { password = ADMIN_PASSWORD, onStep = async () => {} } = {}) {
  await page.goto(herald.enrolUrl);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('input[name="password_confirm"]').fill(password);
  await page.getByRole('button', { name: 'Set password' }).click();
  await page.waitForURL((u) => u.pathname.startsWith('/admin/login'), { timeout: 15_000 }).catch(() => {});
  if (!new URL(page.url()).pathname.startsWith('/admin/login')) {
    throw new Error(`after "Set password" expected /admin/login, got ${page.url()}\n` +
      (await page.locator('body').innerText()).slice(0, 2000));
  }
  // First sign-in: the password only opens two-factor set-up.
  await page.locator('input[name="email"]').fill(ADMIN_EMAIL);
  await page.locator('input[name="password"]').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => u.pathname === '/admin/2fa', { timeout: 15_000 });
  await onStep('two-factor set-up');
  const totpInfo = await findTotpSecret(page);
  if (!totpInfo) throw new Error('the two-factor page shows no key');
  await page.locator('input[name="code"]').fill(await freshCode(totpInfo));
  await page.getByRole('button', { name: 'Turn on two-factor' }).click();
  await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor({ timeout: 15_000 });
  await onStep('recovery codes');
  const recoveryCodes = await page.locator('.recovery-codes code').allInnerTexts();
  if (recoveryCodes.length !== 10) throw new Error(`expected 10 recovery codes, saw ${recoveryCodes.length}`);
  await page.getByRole('link', { name: /continue/ }).click();
  await page.waitForURL((u) => u.pathname === '/admin', { timeout: 15_000 });
  return { totpSecret: totpInfo.secret, totpInfo, recoveryCodes };
}

export async function signIn(page, herald, { email = ADMIN_EMAIL, password = ADMIN_PASSWORD, totpInfo = null } = {}) {
  if (!new URL(page.url()).pathname.startsWith('/admin/login')) {
    await page.goto(`${herald.url}/admin/login`);
  }
  await page.locator('input[name="email"]').fill(email);
  await page.locator('input[name="password"]').fill(password);
  if (totpInfo) await page.locator('input[name="code"]').fill(await freshCode(totpInfo));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/admin/login'), { timeout: 15_000 }).catch(() => {});
  const pathname = new URL(page.url()).pathname;
  if (pathname !== '/admin' && pathname !== '/admin/') {
    throw new Error(`after "Sign in" expected /admin, got ${page.url()}\n` +
      (await page.locator('body').innerText()).slice(0, 2000));
  }
}

// ---------------------------------------------------------------------------
// Seed data through the admin API (used by the accessibility and validation
// tests, which need a page with components, an open and a resolved incident).

export async function seed(herald) {
  const api = (m, p, b) => herald.api(m, p, b, { expect: 201 }).then((r) => r.body);
  const web = await api('POST', '/api/admin/v1/components',
    { name: 'Website', description: 'The marketing site & docs', group: 'Public', position: 1 });
  const apiComp = await api('POST', '/api/admin/v1/components',
    { name: 'Public API', description: 'REST and webhooks', group: 'Public', position: 2 });
  const worker = await api('POST', '/api/admin/v1/components', { name: 'Post scheduler', position: 3 });

  const resolved = await api('POST', '/api/admin/v1/incidents', {
    name: 'Delayed scheduled posts',
    status: 'investigating',
    impact: 'minor',
    body: 'Some scheduled posts are going out **late**.',
    components: { [worker.id]: 'degraded_performance' },
  });
  await api('POST', `/api/admin/v1/incidents/${resolved.id}/updates`, {
    status: 'resolved',
    body: 'Posts are on time again.',
    components: { [worker.id]: 'operational' },
  });

  const open = await api('POST', '/api/admin/v1/incidents', {
    name: 'Elevated API error rates',
    status: 'investigating',
    impact: 'major',
    body: [
      'We are seeing **elevated errors** on the API.',
      '',
      '- Requests to `/v1/posts` fail with 503',
      '- Scheduling is *unaffected*',
      '',
      'See [our docs](https://example.com/docs) for retries & back-off.',
      '',
      '> Quoted note',
      '',
      '```',
      'HTTP/1.1 503 Service Unavailable',
      '```',
    ].join('\n'),
    components: { [apiComp.id]: 'major_outage', [web.id]: 'degraded_performance' },
  });
  await api('POST', `/api/admin/v1/incidents/${open.id}/updates`, {
    status: 'identified',
    body: 'We have identified the cause: a bad deploy <em>rolled back</em>.',
  });
  // A published postmortem on the resolved incident, and a template to start from.
  await herald.api('PUT', `/api/admin/v1/incidents/${resolved.id}/postmortem`, {
    body: '## What happened\n\nA queue worker **stalled** after a deploy.\n\n## What we changed\n\n- An alert on queue age\n- A canary for the worker',
  }, { expect: 200 });
  await herald.api('POST', `/api/admin/v1/incidents/${resolved.id}/postmortem/publish`, {}, { expect: 200 });
  const template = await api('POST', '/api/admin/v1/templates', {
    name: 'API errors', title: 'Elevated API error rates', body: 'We are looking into **errors** on the API.',
    update_status: 'investigating', components: { [apiComp.id]: 'partial_outage' },
  });
  const iso = (minutes) => new Date(Date.now() + minutes * 60_000).toISOString();
  const upcoming = await api('POST', '/api/admin/v1/maintenances', {
    name: 'Database upgrade',
    body: 'We will upgrade the **database**. Posting pauses for up to 10 minutes.',
    scheduled_for: iso(2 * 24 * 60),
    scheduled_until: iso(2 * 24 * 60 + 120),
    components: { [worker.id]: 'under_maintenance' },
  });
  const active = await api('POST', '/api/admin/v1/maintenances', {
    name: 'Search index rebuild',
    body: 'Search may return partial results.',
    scheduled_for: iso(-10),
    scheduled_until: iso(60),
    components: { [web.id]: 'under_maintenance' },
  });
  return { components: { web, api: apiComp, worker }, open, resolved, template, maintenances: { upcoming, active } };
}

/** The public pages every check visits, with the status each must answer. */
export function publicPages(data) {
  return [
    { path: '/', status: 200 },
    { path: '/history', status: 200 },
    { path: `/incidents/${data.open.id}`, status: 200 },
    { path: `/incidents/${data.resolved.id}`, status: 200 },
    { path: `/incidents/${data.maintenances.upcoming.id}`, status: 200 },
    { path: `/incidents/${data.maintenances.active.id}`, status: 200 },
    { path: '/incidents/does-not-exist', status: 404 },
    { path: '/admin/login', status: 200 },
  ];
}

/** Admin pages checked after signing in. */
export function adminPages(data) {
  return [
    { path: '/admin', status: 200 },
    { path: '/admin/components', status: 200 },
    { path: '/admin/incidents/new', status: 200 },
    { path: `/admin/incidents/${data.open.id}`, status: 200 },
    { path: `/admin/incidents/${data.open.id}/edit`, status: 200 },
    { path: `/admin/updates/${data.open.update_id}/edit`, status: 200 },
    { path: `/admin/incidents/${data.resolved.id}/postmortem`, status: 200 },
    { path: `/admin/incidents/${data.maintenances.upcoming.id}`, status: 200 },
    { path: '/admin/maintenances/new', status: 200 },
    { path: '/admin/templates', status: 200 },
    { path: `/admin/templates/${data.template.id}`, status: 200 },
    { path: `/admin/incidents/new?template=${data.template.id}`, status: 200 },
    { path: '/admin/staff', status: 200 },
    { path: '/admin/tokens', status: 200 },
    { path: '/admin/audit', status: 200 },
    { path: '/admin/account', status: 200 },
  ];
}
