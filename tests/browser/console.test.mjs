// End-to-end tests of the web console in a real headless browser: Debian's Chromium
// (/usr/bin/chromium, never a downloaded build) driven by playwright-core, against a real
// `wardcrf-server --demo` started by ./run, and the real `wardcrf` command as a ward device.
//
// Environment (set by ./run): WARDCRF_URL (the console), WARDCRF_DEMO_PASSWORD,
// WARDCRF_CLI (the wardcrf binary), WARDCRF_WORK (a scratch directory), ARTIFACTS (where the
// screenshots and the downloaded export are kept).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/browser/run`);
  return v;
};
const BASE = need('WARDCRF_URL').replace(/\/$/, '');
const PASSWORD = need('WARDCRF_DEMO_PASSWORD');
const CLI = need('WARDCRF_CLI');
const WORK = need('WARDCRF_WORK');
const ARTIFACTS = need('ARTIFACTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

let browser;
// What one test leaves for the next (they run in order).
const shared = {};

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
    args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** A new browser context (its own cookies) at tablet size, in English. */
async function tab(options = {}) {
  const context = await browser.newContext({
    viewport: { width: 1024, height: 768 },
    locale: 'en-GB',
    acceptDownloads: true,
    ...options,
  });
  const page = await context.newPage();
  return { context, page };
}

/** Signs in through the form, with the keyboard only. */
async function signIn(page, user, password = PASSWORD) {
  await page.goto(`${BASE}/login`);
  // Into the user name field (it has autofocus; Chromium skips autofocus on a page a tab
  // showed before), then Tab moves on and Enter submits.
  await page.getByLabel('User name').focus();
  await page.keyboard.type(user);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await submit(page, () => page.keyboard.press('Enter'));
}

/** Does `act` (a click, a key press) and waits until the page it leads to has loaded. */
async function submit(page, act) {
  const navigated = page.waitForEvent('framenavigated', (f) => f === page.mainFrame());
  await act();
  await navigated;
  await page.waitForLoadState('load');
}

function cli(args, env = {}) {
  const out = execFileSync(CLI, args, {
    env: {
      ...process.env,
      WARDCRF_PASSPHRASE: 'browser-test-tablet',
      WARDCRF_INSECURE_KDF_ITERATIONS: '1000',
      ...env,
    },
    encoding: 'utf8',
  });
  return JSON.parse(out);
}

test('signing in leads to the overview, keyboard only, with visible focus', async () => {
  const { context, page } = await tab();
  const first = await page.goto(`${BASE}/`);
  assert.equal(new URL(page.url()).pathname, '/login', 'signed out: the sign-in page');
  assert.equal(first.status(), 200);
  // Labelled controls.
  assert.equal(await page.getByLabel('User name').count(), 1);
  assert.equal(await page.getByLabel('Password').count(), 1);
  // The focused field shows a focus ring.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await shot(page, '01-login');
  await signIn(page, 'demo-admin');
  assert.equal(new URL(page.url()).pathname, '/', await page.locator('main').innerText());
  assert.equal(await page.locator('h1').innerText(), 'Overview');
  const sites = await page.locator('#h-sites + div table').innerText();
  assert.match(sites, /demo-tokyo/);
  assert.match(sites, /demo-berlin/);
  const conflicts = await page.locator('#h-conflicts').innerText();
  assert.match(conflicts, /Open conflicts \(2\)/);
  assert.match(await page.locator('#h-devices + div table').innerText(), /UTC/, 'last sync per device');
  // The skip link is the first stop of the keyboard.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await shot(page, '02-overview');
  // The same page in Japanese and German.
  await page.getByRole('link', { name: '日本語' }).click();
  assert.equal(await page.locator('h1').innerText(), '概要');
  await page.getByRole('link', { name: 'Deutsch' }).click();
  assert.equal(await page.locator('h1').innerText(), 'Übersicht');
  await page.getByRole('link', { name: 'English' }).click();
  // A tablet held upright: nothing wider than the screen.
  await page.setViewportSize({ width: 600, height: 900 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 600px screen`);
  await shot(page, '03-overview-portrait');
  shared.admin = context;
});

test('a conflict is reviewed side by side and resolved with a reason', async () => {
  const page = await shared.admin.newPage();
  await page.goto(`${BASE}/`);
  await page.locator('ul.conflicts a').first().click();
  const caseId = new URL(page.url()).pathname.split('/')[2];
  const form = page.locator('form.conflict').first();
  const field = await form.locator('input[name="field"]').inputValue();
  const candidates = form.locator('.candidate:not(.other)');
  assert.equal(await candidates.count(), 2, 'two candidates side by side');
  const text = await candidates.nth(0).innerText();
  assert.match(text, /Who/);
  assert.match(text, /UTC/);
  await shot(page, '04-conflict');
  // Choose the second candidate with the keyboard: into the group, an arrow key selects.
  const radio = candidates.nth(1).locator('input[type="radio"]');
  const chosen = JSON.parse(await radio.getAttribute('value'));
  await candidates.nth(0).locator('input[type="radio"]').focus();
  await page.keyboard.press('ArrowRight');
  assert.ok(await radio.isChecked(), 'the arrow key selected the second candidate');
  await form.getByLabel('Reason').fill('checked against the monitor log (browser test)');
  await submit(page, () => form.getByRole('button', { name: 'Resolve' }).click());
  assert.match(await page.locator('.notice.ok').innerText(), /next sync/);
  assert.equal(await page.locator(`form.conflict input[name="field"][value="${field}"]`).count(), 0);
  await shot(page, '05-resolved');
  // The case page shows the resolution in the field's history.
  await page.goto(`${BASE}/cases/${caseId}`);
  const details = page.locator('details', { hasText: 'History' });
  assert.ok((await details.count()) > 0, (await page.locator('main').innerText()).slice(0, 800));
  // Each field's history is folded away; Enter on its summary opens it.
  const open = page.locator('details', { hasText: 'browser test' }).first();
  await open.locator('summary').focus();
  await page.keyboard.press('Enter');
  assert.ok(await open.evaluate((d) => d.open), 'the history opened with the keyboard');
  const history = await page.locator('table.history').allTextContents();
  assert.ok(history.some((t) => t.includes('browser test') && t.includes('demo-admin')), history.join('\n'));
  await shot(page, '06-case');
  shared.resolved = { caseId, field, chosen };
  await page.close();
});

test('a ward device sees the resolution after its next sync', async () => {
  assert.ok(shared.resolved, 'needs the resolution of the previous test');
  const page = await shared.admin.newPage();
  await page.goto(`${BASE}/admin/enrolment`);
  await page.getByLabel('Site').selectOption('demo-tokyo');
  await submit(page, () => page.getByRole('button', { name: 'Create' }).click());
  const code = (await page.locator('#enrol-code').innerText()).trim();
  assert.match(code, /^[a-z2-7]{20}$/);
  const qr = page.locator('img.qr');
  assert.equal(await qr.count(), 1);
  assert.ok((await qr.getAttribute('alt')).length > 0, 'the QR code has a text alternative');
  await shot(page, '07-enrolment-code');
  await page.close();

  const store = join(WORK, 'tablet');
  cli(['device', 'init', '--store', store, '--json']);
  const enrolled = cli(['device', 'enroll', '--store', store, '--server', BASE, '--code', code, '--json']);
  assert.equal(enrolled.site, 'demo-tokyo');
  const synced = cli(['sync', '--store', store, '--json']);
  assert.ok(synced.pulled >= 5, JSON.stringify(synced));
  const { caseId, field, chosen } = shared.resolved;
  const shown = cli(['case', 'show', '--store', store, caseId, '--json']);
  assert.deepEqual(shown.values[field], chosen, JSON.stringify(shown.values));
  const open = cli(['conflicts', '--store', store, '--case', caseId, '--json']);
  assert.deepEqual(open, [], 'no conflict left on the device');
  const history = cli(['case', 'history', '--store', store, caseId, field, '--json']);
  const last = history[history.length - 1];
  assert.equal(last.op, 'resolve');
  assert.equal(last.user, 'demo-admin');
});

test('an export is downloaded', async () => {
  const { context, page } = await tab();
  await signIn(page, 'demo-manager');
  await page.getByRole('link', { name: 'Exports' }).click();
  await shot(page, '08-exports');
  const section = page.locator('section.export').first();
  await section.getByLabel('Site').selectOption('demo-tokyo');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    section.getByRole('button', { name: /Download/ }).click(),
  ]);
  const path = join(ARTIFACTS, download.suggestedFilename());
  await download.saveAs(path);
  assert.equal(download.suggestedFilename(), 'wardcrf-export.zip');
  assert.ok(statSync(path).size > 100);
  assert.equal(readFileSync(path).subarray(0, 2).toString('latin1'), 'PK', 'a ZIP');
  await context.close();
});

test('a nurse of one site cannot open a case of another site', async () => {
  // A Berlin case id, as the administrator sees it.
  const admin = await shared.admin.newPage();
  await admin.goto(`${BASE}/cases?site=demo-berlin`);
  const berlinCase = (await admin.locator('tbody th a code').first().innerText()).trim();
  await admin.close();
  const { context, page } = await tab();
  await signIn(page, 'nurse-tokyo');
  assert.equal(await page.locator('h1').innerText(), 'Overview');
  assert.doesNotMatch(await page.locator('main').innerText(), /demo-berlin/);
  const response = await page.goto(`${BASE}/cases/${berlinCase}`);
  assert.equal(response.status(), 404);
  await shot(page, '09-nurse-other-site');
  assert.equal((await page.goto(`${BASE}/cases/${berlinCase}/conflicts`)).status(), 404);
  assert.equal((await page.goto(`${BASE}/admin/staff`)).status(), 403);
  assert.equal((await page.goto(`${BASE}/api/exports/csv`)).status(), 403);
  // Her own site's cases are there.
  await page.goto(`${BASE}/cases`);
  assert.match(await page.locator('table').innerText(), /demo-tokyo/);
  await context.close();
});

test('a POST without the session CSRF token is refused', async () => {
  const page = await shared.admin.newPage();
  await page.goto(`${BASE}/admin/sites`);
  // The same browser, its session cookie sent along, but a forged token: a form made on
  // the page (the console's CSP allows no script requests) and submitted.
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith('/admin/sites') && r.request().method() === 'POST'),
    page.evaluate(() => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = '/admin/sites';
      for (const [k, v] of Object.entries({ csrf: 'forged', site_id: 'csrf-probe', name: 'Probe' })) {
        const i = document.createElement('input');
        i.name = k;
        i.value = v;
        f.appendChild(i);
      }
      document.body.appendChild(f);
      f.submit();
    }),
  ]);
  assert.equal(response.status(), 403);
  await page.waitForLoadState('load');
  assert.match(await page.locator('.notice.error').innerText(), /out of date/);
  await shot(page, '10-csrf-refused');
  await page.goto(`${BASE}/admin/sites`);
  assert.doesNotMatch(await page.locator('main').innerText(), /csrf-probe/);
  // The page's own form (with the token) works.
  await page.getByLabel('Site id').fill('browser-site');
  await page.getByLabel('Name').fill('Browser test site');
  await submit(page, () => page.getByRole('button', { name: 'Add' }).click());
  assert.match(await page.locator('.notice.ok').innerText(), /Site added/);
  await shot(page, '11-sites');
  await page.close();
});

test('five failed sign-ins lock the account', async () => {
  const { context, page } = await tab();
  for (let i = 1; i <= 4; i++) {
    await signIn(page, 'nurse-berlin', 'not-the-password');
    assert.match(await page.locator('.notice.error').innerText(), /user name or password is wrong/, `attempt ${i}`);
  }
  await signIn(page, 'nurse-berlin', 'not-the-password');
  assert.match(await page.locator('.notice.error').innerText(), /locked for 15 minutes/);
  // Now even the right password is refused.
  await signIn(page, 'nurse-berlin');
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.match(await page.locator('.notice.error').innerText(), /locked/);
  await shot(page, '12-locked');
  await context.close();
  await shared.admin.close();
});
