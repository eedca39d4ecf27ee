// Nu HTML Checker (vnu-jar) on the HTML Herald serves, byte for byte as sent.
// Any error fails; messages are printed with page, line and column.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startHerald, launchBrowser, seed, enrolAndSignIn, makeTempDir, publicPages, adminPages, HERE } from './harness.mjs';

const execFileP = promisify(execFile);
const VNU_JAR = path.join(HERE, 'node_modules', 'vnu-jar', 'build', 'dist', 'vnu.jar');
const JAVA = process.env.JAVA || 'java';

let herald;
let data;
let outDir;

before(async () => {
  herald = await startHerald({ label: 'validate' });
  data = await seed(herald);
  outDir = makeTempDir('herald-vnu-');
});

after(async () => {
  await herald?.stop();
  if (outDir && process.env.HERALD_TEST_KEEP_TMP !== '1') fs.rmSync(outDir, { recursive: true, force: true });
});

/** Validate files with vnu; returns messages grouped by file. */
async function vnu(files) {
  let stderr;
  try {
    ({ stderr } = await execFileP(JAVA, ['-Xss8m', '-jar', VNU_JAR, '--errors-only', '--format', 'json', ...files],
      { maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }));
  } catch (err) {
    // vnu exits 1 when it found errors; its JSON report is on stderr either way.
    if (err.stderr === undefined || !err.stderr.trim().startsWith('{')) throw err;
    stderr = err.stderr;
  }
  const report = JSON.parse(stderr);
  return report.messages;
}

function formatMessages(messages, sources) {
  return messages.map((m) => {
    const file = decodeURIComponent(m.url?.replace(/^file:/, '') ?? '');
    const page = sources.get(path.basename(file)) ?? file;
    const where = m.lastLine ? `${m.firstLine ?? m.lastLine}:${m.firstColumn ?? ''}` : '?';
    const extract = m.extract ? `\n      ${JSON.stringify(m.extract)}` : '';
    return `  ${page} line ${where} [${m.type}${m.subType ? '/' + m.subType : ''}] ${m.message}${extract}`;
  }).join('\n');
}

async function saveAll(pages, fetchText) {
  const sources = new Map();
  const files = [];
  for (const [i, { path: p, status: expected }] of pages.entries()) {
    const { status, contentType, text } = await fetchText(p);
    assert.equal(status, expected, `${p} answered ${status}`);
    assert.match(contentType ?? '', /^text\/html/, `${p} has content-type ${contentType}`);
    const name = `page-${i}.html`;
    fs.writeFileSync(path.join(outDir, name), text);
    sources.set(name, p);
    files.push(path.join(outDir, name));
  }
  return { files, sources };
}

test('public pages are valid HTML (vnu)', async () => {
  const { files, sources } = await saveAll(publicPages(data), async (p) => {
    const res = await fetch(herald.url + p);
    return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
  });
  const messages = (await vnu(files)).filter((m) => m.type === 'error' || m.type === 'non-document-error');
  assert.equal(messages.length, 0, `vnu found ${messages.length} error(s):\n${formatMessages(messages, sources)}`);
});

test('admin pages are valid HTML (vnu)', async () => {
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // The sign-in steps that cannot be revisited by URL: the set-up page's bytes as served, the
    // recovery codes (a POST's answer) as the page shows them.
    const steps = new Map();
    await enrolAndSignIn(page, herald, {
      onStep: async (name) => {
        if (name === 'two-factor set-up') {
          const res = await context.request.get(herald.url + '/admin/2fa', { maxRedirects: 0 });
          steps.set(name, { status: res.status(), contentType: res.headers()['content-type'], text: await res.text() });
        } else {
          steps.set(name, { status: 200, contentType: 'text/html', text: `<!DOCTYPE html>\n${await page.evaluate(() => document.documentElement.outerHTML)}` });
        }
      },
    });
    const stepPages = [...steps.keys()].map((name) => ({ path: name, status: 200 }));
    const { files, sources } = await saveAll([...stepPages, ...adminPages(data)], async (p) => {
      if (steps.has(p)) return steps.get(p);
      // Shares the signed-in session's cookies; gives the raw bytes, not the live DOM.
      const res = await context.request.get(herald.url + p, { maxRedirects: 0 });
      return { status: res.status(), contentType: res.headers()['content-type'], text: await res.text() };
    });
    assert.equal(stepPages.length, 2, 'both sign-in steps were captured');
    const messages = (await vnu(files)).filter((m) => m.type === 'error' || m.type === 'non-document-error');
    assert.equal(messages.length, 0, `vnu found ${messages.length} error(s):\n${formatMessages(messages, sources)}`);
  } finally {
    await browser.close();
  }
});
