// The admin console in a real browser: headless Debian chromium driven by
// playwright-core, against the real server (`switchboard serve --demo
// --console-dir admin-ui/dist`) on 127.0.0.1 with a temp data dir.
//
// A manager signs in as demo/demo, creates a buyer and a campaign with a new
// tracking number through the UI, activates it from the list, and then a
// Twilio-signed call to that number (from node) is dialed to the new buyer
// and shows up on the Calls page and in its CSV export. A publisher user made
// in Users signs in to its own pages only. Reports, where sign-in lands, shows
// after a callsim run the figures of /api/reports/summary, which equal a
// recount of /api/calls; its chart renders, and a screenshot is written to
// target/screenshots/reports.png. A pixel made in the form, aimed at a
// receiver in this process, fires on a callsim call: the Deliveries page shows
// it delivered with the receiver's 200, and the receiver got it signed, with
// the delivery id the detail shows; its form's preview renders the sample
// call's request, and "Send test" reaches the receiver, kept out of the log.
// Run it with tests/browser/run.sh (builds admin-ui when admin-ui/dist is missing).
//
// Env: SWITCHBOARD_BIN (the built binary), CALLSIM_BIN (default: callsim next
// to it), CHROMIUM (default /usr/bin/chromium), CONSOLE_DIR (default admin-ui/dist).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import { launchChromium, signIn, startSwitchboard, twilioSignature } from './server.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const CONSOLE_DIR = process.env.CONSOLE_DIR || join(ROOT, 'admin-ui/dist');
const CALLSIM = process.env.CALLSIM_BIN || join(dirname(process.env.SWITCHBOARD_BIN || join(ROOT, 'target/debug/switchboard')), 'callsim');
// The demo tenant's Twilio credentials (api/src/demo.rs).
const AUTH_TOKEN = 'demo-token';
const ACCOUNT_SID = 'ACdemo00000000000000000000000000';

const BUYER = { name: 'Delta Dental', phone: '+15550002999', zone: 'America/Denver' };
const CAMPAIGN = { name: 'Browser Campaign', number: '+15550004242' };
const CALLER = '+15557770001';

let switchboard, base, browser, context, tab, twilio, twilioBase, bidder, bidderBase, receiver, receiverBase;
// What the pixel receiver got: { method, url, headers, body }.
const received = [];
// What the fake Twilio REST API was asked: [method, path, Authorization, form].
const twilioCalls = [];
// Uncaught errors in the page, and console errors other than the failed
// requests the tests provoke (401, 409, 422): a CSP violation is one.
const pageErrors = [];

/** Twilio's REST API for number provisioning, as far as Switchboard uses it: one number for sale in 415. */
function startFakeTwilio() {
  const owned = new Map();
  twilio = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://twilio');
      twilioCalls.push([req.method, url.pathname, req.headers.authorization, Object.fromEntries(new URLSearchParams(body))]);
      const send = (status, value) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(value)); };
      const path = url.pathname.replace(/^\/2010-04-01\/Accounts\/[^/]+\//, '');
      if (req.method === 'GET' && path === 'AvailablePhoneNumbers/US/Local.json') {
        const offer = url.searchParams.get('AreaCode') === '415' ? [{ phone_number: '+14155550111', friendly_name: '(415) 555-0111',
          locality: 'San Francisco', region: 'CA', iso_country: 'US', capabilities: { voice: true, SMS: true } }] : [];
        return send(200, { available_phone_numbers: offer });
      }
      if (req.method === 'POST' && path === 'IncomingPhoneNumbers.json') {
        const n = { sid: 'PN0000000000000000000000000000001', phone_number: new URLSearchParams(body).get('PhoneNumber'), friendly_name: '(415) 555-0111' };
        owned.set(n.phone_number, n);
        return send(201, n);
      }
      if (req.method === 'GET' && path === 'IncomingPhoneNumbers.json') {
        const n = owned.get(url.searchParams.get('PhoneNumber'));
        return send(200, { incoming_phone_numbers: n ? [n] : [] });
      }
      if (req.method === 'DELETE' && path.startsWith('IncomingPhoneNumbers/')) {
        for (const [k, n] of owned) if (path === `IncomingPhoneNumbers/${n.sid}.json`) owned.delete(k);
        res.writeHead(204);
        return res.end();
      }
      send(404, { code: 20404, message: 'not found' });
    });
  });
  return new Promise((resolve) => twilio.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${twilio.address().port}`)));
}

/** An RTB bidder on this machine: bids 7.50 for every call, to be dialed at +15550003333. */
function startBidder() {
  bidder = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ bidAmount: 7.5, phoneNumber: '+15550003333', accepted: true }));
    });
  });
  return new Promise((resolve) => bidder.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${bidder.address().port}`)));
}

/** A pixel receiver on this machine: answers 200 "thanks", keeping each request. */
function startReceiver() {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('thanks');
    });
  });
  return new Promise((resolve) => receiver.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${receiver.address().port}`)));
}

before(async () => {
  twilioBase = await startFakeTwilio();
  bidderBase = await startBidder();
  receiverBase = await startReceiver();
  // Bidders and pixel receivers on loopback are refused without these flags (the SSRF guard).
  switchboard = await startSwitchboard(['--console-dir', CONSOLE_DIR, '--twilio-api-base', twilioBase, '--rtb-allow-private-targets',
    '--pixels-allow-private-targets']);
  base = switchboard.base;
  browser = await launchChromium();
  context = await browser.newContext({ acceptDownloads: true });
  tab = await context.newPage();
  tab.on('pageerror', (e) => pageErrors.push(String(e)));
  tab.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource: the server responded with a status of')) {
      pageErrors.push(m.text());
    }
  });
  // Deletes ask for confirmation; the tests accept.
  tab.on('dialog', (d) => d.accept());
  tab.setDefaultTimeout(10000);
});

after(async () => {
  await browser?.close();
  await switchboard?.stop();
  twilio?.close();
  bidder?.close();
  receiver?.close();
});

/** Polls `probe` until it returns something truthy (10 s at most). */
async function until(probe, what) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const v = await probe();
    if (v) return v;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a section from the navigation and waits for its page (not the previous one) to show. */
async function section(name) {
  await tab.getByRole('navigation').getByRole('link', { name, exact: true }).click();
  await tab.getByRole('heading', { level: 1, name, exact: true }).waitFor();
}

/** The visible text of the table row that contains `text`. */
const row = (text) => tab.locator('tbody tr', { hasText: text });

/** Twilio's "a call comes in" webhook for `to`, signed with the demo token; resolves with the TwiML. */
async function placeCall(to, callSid, token = AUTH_TOKEN) {
  const url = `${base}/api/webhooks/voice`;
  const params = { CallSid: callSid, AccountSid: ACCOUNT_SID, From: CALLER, To: to, CallStatus: 'ringing', Direction: 'inbound' };
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(params), headers: { 'X-Twilio-Signature': twilioSignature(token, url, params) } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return text;
}

/** Plays `calls` calls to the demo's tracking numbers with callsim, as Twilio would (the settings test rotated the auth token). */
async function callsim(calls, seed) {
  assert.ok(existsSync(CALLSIM), `no ${CALLSIM}: cargo build -p switchboard-load-tests, or set CALLSIM_BIN`);
  await promisify(execFile)(CALLSIM, ['--target', base, '--auth-token', 'rotated-token', '--calls', String(calls),
    '--concurrency', String(Math.min(calls, 6)), '--seed', String(seed), '--quiet']);
}

/** Waits for a uPlot chart inside `figure` to be drawn on a canvas of a non-zero size. */
async function chartDrawn(figure) {
  const canvas = figure.locator('.uplot canvas');
  await canvas.waitFor();
  const box = await canvas.boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, `the chart's canvas has a size: ${JSON.stringify(box)}`);
}

/**
 * The distinct colours of an 8-bit RGB or RGBA PNG (what chromium writes),
 * decoded with node's zlib: the chunks, the inflated scanlines, their filters
 * undone (PNG spec §9).
 */
function pngColours(png) {
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'a PNG signature');
  let width, height, channels;
  const idat = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, '8 bits per channel');
      channels = { 2: 3, 6: 4 }[data[9]];
      assert.ok(channels, `colour type ${data[9]} is RGB or RGBA`);
    }
    if (type === 'IDAT') idat.push(data);
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  let prev = Buffer.alloc(stride);
  const colours = new Set();
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels] : 0;
      const b = prev[i];
      const c = i >= channels ? prev[i - channels] : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      line[i] = (line[i] + [0, a, b, (a + b) >> 1, paeth][filter]) & 255;
    }
    for (let x = 0; x < stride; x += channels) colours.add(line.readUIntBE(x, 3));
    prev = line;
  }
  return { width, height, colours: colours.size };
}

/** A report table as shown: its header labels, and each body and totals row as [name, ...cells]. */
async function readReport(table) {
  const headers = await table.locator('thead th').allTextContents();
  const rows = [];
  for (const tr of await table.locator('tbody tr, tfoot tr').all()) rows.push(await tr.locator('th, td').allTextContents());
  return { headers, rows };
}

/** Every call of `[from, to)`, all pages of /api/calls. */
async function allCalls(cookie, from, to) {
  const calls = [];
  let cursor;
  do {
    const q = new URLSearchParams({ from, to, limit: '500', ...(cursor ? { cursor } : {}) });
    const page = await (await fetch(`${base}/api/calls?${q}`, { headers: { cookie } })).json();
    calls.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return calls;
}

test('signing in shows the user and the tenant', async () => {
  await tab.goto(base);
  await tab.getByLabel('Username').fill('demo');
  await tab.getByLabel('Password').fill('wrong password');
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.getByRole('alert').filter({ hasText: /password|sign in|invalid/i }).waitFor();
  assert.equal(await tab.getByText('Signed in as').count(), 0, 'a wrong password does not sign in');

  await tab.getByLabel('Password').fill('demo');
  await tab.getByRole('button', { name: 'Sign in' }).click();
  await tab.getByText('Signed in as').waitFor();
  assert.equal(await tab.getByTestId('username').textContent(), 'demo');
  assert.equal(await tab.getByTestId('tenant').textContent(), 'demo');
  // Signing in lands on Reports, with the live count in the header.
  await tab.getByRole('heading', { level: 1, name: 'Reports', exact: true }).waitFor();
  await tab.getByTestId('live-calls').filter({ hasText: /^\d+$/ }).waitFor();
  // The demo's campaigns are listed.
  await section('Campaigns');
  await row('Demo Priority').waitFor();
  assert.match(await row('Demo Priority').textContent(), /\+15550001000.*Acme Insurance \(p1, w1\)/);
});

test('a buyer created in the form is listed with its caps and revenue', async () => {
  await section('Buyers');
  await tab.getByRole('link', { name: 'New buyer' }).click();
  await tab.getByLabel('Name', { exact: true }).fill(BUYER.name);
  await tab.getByLabel('Phone number').fill('not a number');
  await tab.getByLabel('Time zone').fill(BUYER.zone);
  await tab.getByLabel('Concurrency limit').fill('3');
  await tab.getByLabel('Daily cap').fill('50');
  await tab.getByLabel('Revenue', { exact: true }).fill('12.5');
  await tab.getByRole('button', { name: 'Create buyer' }).click();
  // The API's 422 is shown next to the field it names.
  const phoneError = tab.locator('.field.invalid', { has: tab.getByLabel('Phone number') });
  await phoneError.getByText('is not a phone number').waitFor();

  await tab.getByLabel('Phone number').fill(BUYER.phone);
  await tab.getByRole('button', { name: 'Create buyer' }).click();
  await row(BUYER.name).waitFor();
  const text = await row(BUYER.name).textContent();
  assert.match(text, /\+15550002999/);
  assert.match(text, /3 at once, 50\/day/);
  assert.match(text, /12\.50 USD/, 'the revenue is the decimal entered');
});

test('a campaign created with a new number and activated from the list routes a call to the new buyer', async () => {
  await section('Campaigns');
  await tab.getByRole('link', { name: 'New campaign' }).click();
  await tab.getByLabel('Name', { exact: true }).fill(CAMPAIGN.name);
  await tab.getByLabel('Phone number').fill(CAMPAIGN.number);
  await tab.getByLabel(`Assign ${BUYER.name}`).check();
  await tab.getByLabel(`${BUYER.name} priority`).fill('1');
  await tab.getByRole('button', { name: 'Create campaign' }).click();
  await row(CAMPAIGN.name).waitFor();
  assert.match(await row(CAMPAIGN.name).textContent(), /draft.*\+15550004242.*priority.*Delta Dental \(p1, w1\)/);

  // A draft campaign's number does not route yet.
  const before = await placeCall(CAMPAIGN.number, 'CAconsole00000000000000000000000');
  assert.doesNotMatch(before, /\+15550002999/);

  await tab.getByRole('button', { name: `Activate ${CAMPAIGN.name}` }).click();
  await tab.getByRole('button', { name: `Pause ${CAMPAIGN.name}` }).waitFor();
  assert.match(await row(CAMPAIGN.name).textContent(), /active/);

  const twiml = await placeCall(CAMPAIGN.number, 'CAconsole00000000000000000000001');
  assert.match(twiml, /<Dial[^>]*>.*<Number[^>]*>\+15550002999<\/Number>/, `the call is dialed to the new buyer: ${twiml}`);
});

test('editing with a stale version is refused with a clear message', async () => {
  await tab.getByRole('link', { name: CAMPAIGN.name }).click();
  await tab.getByLabel('Description').fill('edited in the browser');
  // Someone else changes the campaign meanwhile (through the API).
  const { cookie } = await signIn(base);
  const list = await (await fetch(`${base}/api/campaigns`, { headers: { cookie } })).json();
  const mine = list.items.find((c) => c.name === CAMPAIGN.name);
  const other = await fetch(`${base}/api/campaigns/${mine.id}`, { method: 'PATCH',
    headers: { cookie, Origin: base, 'Content-Type': 'application/merge-patch+json' }, body: JSON.stringify({ description: 'changed elsewhere' }) });
  assert.equal(other.status, 200);

  await tab.getByRole('button', { name: 'Save campaign' }).click();
  await tab.getByRole('alert').filter({ hasText: 'Someone else changed this' }).waitFor();
  await tab.getByRole('button', { name: 'Reload the current version' }).click();
  await until(async () => (await tab.getByLabel('Description').inputValue()) === 'changed elsewhere', 'the current version in the form');
  await tab.getByLabel('Description').fill('edited in the browser');
  // The campaign's page charts its last 7 days.
  await chartDrawn(tab.getByRole('figure', { name: `Calls of ${CAMPAIGN.name}, last 7 days` }));
  await tab.getByRole('button', { name: 'Save campaign' }).click();
  await row(CAMPAIGN.name).waitFor();
});

test('the call is on the Calls page, filtered by campaign, and in the CSV export', async () => {
  // A call to the demo's own campaign, which the filter must leave out.
  assert.match(await placeCall('+15550001000', 'CAconsole00000000000000000000002'), /\+15550002001/);
  await section('Calls');
  await row('Demo Priority').first().waitFor(); // the demo's history has many
  await tab.getByLabel('Campaign', { exact: true }).selectOption({ label: CAMPAIGN.name });
  await tab.getByRole('button', { name: 'Apply filters' }).click();
  const call = tab.locator('tbody tr', { hasText: BUYER.name });
  await call.waitFor();
  const text = await call.textContent();
  assert.match(text, new RegExp(`\\${CALLER}.*\\${CAMPAIGN.number}.*${CAMPAIGN.name}.*${BUYER.name}`));
  // Only this campaign's calls once the filter applies (the demo's calls are gone).
  await until(async () => (await tab.locator('tbody tr').allTextContents()).every((t) => t.includes(CAMPAIGN.name)),
    'the list filtered by campaign');

  // Its details: the buyer dialed, at its number.
  await call.getByRole('button', { name: 'Details' }).click();
  const detail = tab.locator('tr.call-detail');
  await detail.getByText('Buyers dialed, in order').waitFor();
  assert.match(await detail.textContent(), new RegExp(`${BUYER.name}\\${BUYER.phone}.*pending`));

  const [download] = await Promise.all([tab.waitForEvent('download'), tab.getByRole('button', { name: 'Export CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split('\n');
  assert.ok(lines.length >= 2, csv);
  assert.ok(lines.slice(1).some((l) => l.includes('CAconsole00000000000000000000001') && l.includes(CAMPAIGN.number)), csv);
  assert.ok(!csv.includes('+15550001000'), 'the export keeps the filter');
});

test('numbers through their form and the JSON editor: add, a 422 shown, edit, pool stats, delete', async () => {
  await section('Numbers');
  await tab.getByRole('link', { name: 'New number' }).click();
  await tab.getByLabel('Phone number').fill('not a number');
  await tab.getByRole('button', { name: 'Add number' }).click();
  await tab.locator('.field.invalid', { has: tab.getByLabel('Phone number') }).getByText('is not a phone number').waitFor();
  await tab.getByLabel('Phone number').fill('+15550007001');
  await tab.getByLabel('Friendly name').fill('spare line');
  await tab.getByRole('button', { name: 'Add number' }).click();
  await tab.getByRole('heading', { level: 1, name: 'Numbers', exact: true }).waitFor();
  assert.match(await row('+15550007001').textContent(), /spare line.*active/);

  // The same number as JSON: broken JSON is refused before sending; a change is saved with its version.
  await row('+15550007001').getByRole('link', { name: 'Edit' }).click();
  await tab.getByRole('link', { name: 'Edit as JSON' }).click();
  const edit = tab.getByLabel('Numbers: edit (JSON)');
  await until(async () => (await edit.inputValue()).includes('spare line'), 'the number in the editor');
  const doc = JSON.parse(await edit.inputValue());
  await edit.fill('{"friendlyName": ');
  await tab.getByRole('button', { name: 'Save number' }).click();
  await tab.getByText('not valid JSON').waitFor();
  await edit.fill(JSON.stringify({ ...doc, friendlyName: 'night line' }, null, 2));
  await tab.getByRole('button', { name: 'Save number' }).click();
  await tab.getByRole('heading', { level: 1, name: 'Numbers', exact: true }).waitFor();
  await row('night line').waitFor();

  await section('Number pools');
  await row('Demo Pool').getByRole('button', { name: 'Stats' }).click();
  const stats = JSON.parse(await tab.getByRole('region', { name: 'Stats' }).locator('pre').textContent());
  assert.equal(stats.size, 3);
  assert.ok('leasedNow' in stats && 'recommendedSize' in stats, JSON.stringify(stats));

  await section('Numbers');
  await row('night line').getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await row('night line').count()) === 0, 'the number gone from the list');
});

test('an API key is shown once and works; revoked, it is refused', async () => {
  await section('API keys');
  await tab.getByLabel('Key name').fill('crm sync');
  await tab.getByLabel('Key role').selectOption('viewer');
  await tab.getByRole('button', { name: 'Create key' }).click();
  const key = (await tab.getByLabel('New API key secret').textContent()).trim();
  const asKey = () => fetch(`${base}/api/campaigns`, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal((await asKey()).status, 200, 'the key shown works');
  await row('crm sync').waitFor();
  assert.ok(!(await row('crm sync').textContent()).includes(key), 'the list never shows the secret');
  await tab.getByRole('button', { name: 'I copied it' }).click();
  assert.equal(await tab.getByLabel('New API key secret').count(), 0);

  await tab.getByRole('button', { name: 'Revoke crm sync' }).click();
  await until(async () => (await row('crm sync').count()) === 0, 'the key gone from the list');
  assert.equal((await asKey()).status, 401);
});

test('users: create, change the role, delete', async () => {
  await section('Users');
  await tab.getByLabel('Username', { exact: true }).fill('ann');
  await tab.getByLabel('Password', { exact: true }).fill('short');
  await tab.getByLabel('Role', { exact: true }).selectOption('viewer');
  await tab.getByRole('button', { name: 'Create user' }).click();
  await tab.getByRole('alert').filter({ hasText: /password/i }).waitFor();
  await tab.getByLabel('Password', { exact: true }).fill('a long enough password');
  await tab.getByRole('button', { name: 'Create user' }).click();
  await tab.getByLabel('ann role').waitFor();

  await tab.getByLabel('ann role').selectOption('manager');
  await tab.getByRole('form', { name: 'Edit ann' }).getByRole('button', { name: 'Save' }).click();
  await tab.getByRole('status').filter({ hasText: 'Saved ann: role manager' }).waitFor();
  assert.equal((await signIn(base, 'ann', 'a long enough password')).user.role, 'manager', 'the new role is stored');

  await tab.getByRole('form', { name: 'Edit ann' }).getByRole('button', { name: 'Delete' }).click();
  await until(async () => (await tab.getByLabel('ann role').count()) === 0, 'the user gone from the list');
});

test('settings: a new Twilio auth token saved in the console signs the next webhook', async () => {
  await section('Settings');
  const token = tab.getByLabel('Twilio auth token');
  await token.waitFor();
  assert.equal(await token.inputValue(), '', 'the stored token is never shown');
  assert.equal(await tab.getByLabel('Twilio account SID').inputValue(), ACCOUNT_SID);
  await token.fill('rotated-token');
  await tab.getByRole('button', { name: 'Save settings' }).click();
  await tab.getByRole('status').filter({ hasText: 'Settings saved' }).waitFor();

  const twiml = await placeCall(CAMPAIGN.number, 'CAconsole00000000000000000000003', 'rotated-token');
  assert.match(twiml, /<Number[^>]*>\+15550002999<\/Number>/);
  const url = `${base}/api/webhooks/voice`;
  const params = { CallSid: 'CAconsole00000000000000000000004', AccountSid: ACCOUNT_SID, From: CALLER, To: CAMPAIGN.number };
  const refused = await fetch(url, { method: 'POST', body: new URLSearchParams(params),
    headers: { 'X-Twilio-Signature': twilioSignature(AUTH_TOKEN, url, params) } });
  assert.equal(refused.status, 403, 'the old token no longer signs');
});

test('a number bought from Twilio into a pool routes calls, and is released again', async () => {
  await section('Numbers');
  const shop = tab.getByRole('region', { name: 'Buy a number from Twilio' });
  await shop.getByLabel('Area code').fill('41');
  await shop.getByRole('button', { name: 'Search' }).click();
  await shop.locator('.field.invalid', { has: tab.getByLabel('Area code') }).getByText('must be three digits').waitFor();
  await shop.getByLabel('Area code').fill('415');
  await shop.getByLabel('Add to pool').selectOption({ label: 'Demo Pool' });
  await shop.getByRole('button', { name: 'Search' }).click();
  await shop.getByRole('button', { name: 'Buy +14155550111' }).click();
  await shop.getByRole('status').filter({ hasText: 'Bought +14155550111 into the pool' }).waitFor();
  await row('+14155550111').waitFor();
  assert.match(await row('+14155550111').textContent(), /a pool/);

  // Twilio was asked with the credentials set on the Settings page, and told to send calls to the pool's webhook.
  const buy = twilioCalls.find(([m, p]) => m === 'POST' && p.endsWith('/IncomingPhoneNumbers.json'));
  assert.equal(buy[2], 'Basic ' + Buffer.from(`${ACCOUNT_SID}:rotated-token`).toString('base64'));
  const poolUrl = buy[3].VoiceUrl;
  assert.match(poolUrl, new RegExp(`^${base}/api/webhooks/pool/[0-9a-f-]{36}/voice$`));
  const params = { CallSid: 'CAconsole00000000000000000000005', AccountSid: ACCOUNT_SID, From: CALLER, To: '+14155550111' };
  const twiml = await (await fetch(poolUrl, { method: 'POST', body: new URLSearchParams(params),
    headers: { 'X-Twilio-Signature': twilioSignature('rotated-token', poolUrl, params) } })).text();
  assert.match(twiml, /<Number[^>]*>\+1555000200[123]<\/Number>/, `the pool's campaign dials a demo buyer: ${twiml}`);

  // In a pool it cannot be released (409), out of it it can.
  await row('+14155550111').getByRole('button', { name: 'Release to Twilio' }).click();
  await tab.getByRole('alert').filter({ hasText: 'Conflict' }).waitFor();
  await section('Number pools');
  await row('Demo Pool').getByRole('link', { name: 'Edit' }).click();
  // The pool form: its numbers are the inventory's, checked.
  const bought = tab.getByRole('checkbox', { name: /\+14155550111/ });
  assert.equal(await bought.isChecked(), true);
  assert.equal(await tab.getByRole('checkbox', { name: /\+15550007001/ }).count(), 0, 'a deleted number is not offered');
  await bought.uncheck();
  await tab.getByRole('button', { name: 'Save pool' }).click();
  await tab.getByRole('heading', { level: 1, name: 'Number pools', exact: true }).waitFor();
  // The list refetches after the save: wait for it, then the number is out of the pool.
  await until(async () => !/\+14155550111/.test(await row('Demo Pool').textContent()), 'the number out of the pool');
  assert.doesNotMatch(await row('Demo Pool').textContent(), /\+14155550111/);
  await section('Numbers');
  await row('+14155550111').getByRole('button', { name: 'Release to Twilio' }).click();
  await until(async () => (await row('+14155550111').count()) === 0, 'the number gone from the inventory');
  assert.ok(twilioCalls.some(([m, p]) => m === 'DELETE' && p.endsWith('/IncomingPhoneNumbers/PN0000000000000000000000000000001.json')));
});

test('an RTB target and router made in the JSON editors win a call to an RTB campaign; the auction is logged', async () => {
  await section('RTB targets');
  await tab.getByRole('link', { name: 'New RTB target' }).click();
  await tab.getByLabel('Name', { exact: true }).fill('Local bidder');
  await tab.getByLabel('Endpoint URL').fill(`${bidderBase}/bid`);
  await tab.getByLabel('Minimum bid').fill('1.005');
  await tab.getByRole('button', { name: 'Create target' }).click();
  await tab.getByText('must be an amount such as 2.50').waitFor();
  await tab.getByLabel('Minimum bid').fill('1.00');
  await tab.getByRole('button', { name: 'Create target' }).click();
  await tab.getByRole('heading', { level: 1, name: 'RTB targets', exact: true }).waitFor();
  assert.match(await row('Local bidder').textContent(), /1\.00–50\.00 USD/);
  const targetId = await row('Local bidder').locator('code.id').textContent();

  // Its JSON, with the fields explained from the server's OpenAPI document.
  await row('Local bidder').getByRole('link', { name: 'Edit' }).click();
  await tab.getByRole('link', { name: 'Edit as JSON' }).click();
  const json = tab.getByLabel('RTB targets: edit (JSON)');
  await until(async () => (await json.inputValue()).includes(bidderBase), 'the target in the editor');
  await tab.getByText('Fields of RtbTarget').click();
  assert.match(await row('endpointUrl').textContent(), /endpointUrl \(required\).*string.*Where bid requests go/);
  const authType = tab.locator('tbody tr', { has: tab.getByRole('rowheader', { name: 'authType', exact: true }) });
  assert.match(await authType.textContent(), /none \| apiKey \| bearer \| basic/);

  await section('RTB routers');
  await tab.getByRole('link', { name: 'New RTB router' }).click();
  await tab.getByLabel('Name', { exact: true }).fill('Auction');
  await tab.getByLabel('Ask Local bidder').check();
  await tab.getByLabel('Floor price').fill('2.50');
  await tab.getByRole('button', { name: 'Create router' }).click();
  await tab.getByRole('heading', { level: 1, name: 'RTB routers', exact: true }).waitFor();
  await row('Auction').waitFor();
  assert.match(await row('Auction').textContent(), /Auction\s*1.*2\.50/);
  // The router names the target by its id, as listed.
  const routers = await (await fetch(`${base}/api/rtb/routers`, { headers: { cookie: (await context.cookies()).map((c) => `${c.name}=${c.value}`).join('; ') } })).json();
  assert.deepEqual(routers.items.find((r) => r.name === 'Auction').targets, [{ targetId, priority: 1, weight: 1 }]);

  await section('Campaigns');
  await tab.getByRole('link', { name: 'New campaign' }).click();
  await tab.getByLabel('Name', { exact: true }).fill('RTB Campaign');
  await tab.getByLabel('Status').selectOption('active');
  await tab.getByLabel('Routing type').selectOption('rtb');
  await tab.getByLabel('RTB router').selectOption({ label: 'Auction' });
  await tab.getByLabel('Phone number').fill('+15550005555');
  await tab.getByRole('button', { name: 'Create campaign' }).click();
  await row('RTB Campaign').waitFor();
  assert.match(await row('RTB Campaign').textContent(), /active.*\+15550005555.*RTB auction/);

  const twiml = await placeCall('+15550005555', 'CAconsole00000000000000000000006', 'rotated-token');
  assert.match(twiml, /<Number[^>]*>\+15550003333<\/Number>/, `the winning bidder is dialed: ${twiml}`);

  await section('RTB auctions');
  await row('won').waitFor();
  assert.match(await row('won').textContent(), /\+15557770001.*won.*1.*1.*7\.50 USD/);

  // The targets' figures: one request, one valid bid, won at 7.50.
  await section('RTB targets');
  const bids = tab.getByRole('region', { name: 'Bids by target' }).locator('tbody tr', { hasText: 'Local bidder' });
  await bids.waitFor();
  assert.deepEqual((await bids.locator('td').allTextContents()).slice(0, 5), ['1', '1', '1', '0', '0']);
  assert.match(await bids.textContent(), /100\.0%7\.50 USD7\.50 USD$/);
});

test("a tracking tag made in its form, and its script tag ready to paste", async () => {
  await section('Tracking tags');
  await tab.getByRole('link', { name: 'New tracking tag' }).click();
  await tab.getByLabel('Name', { exact: true }).fill('Console landing');
  await tab.getByLabel('Tag code').fill('console-lp');
  await tab.getByLabel('Number pool').selectOption({ label: 'Demo Pool' });
  await tab.getByLabel('Only sources').fill('google');
  await tab.getByRole('button', { name: 'Create tag' }).click();
  await tab.getByRole('heading', { level: 1, name: 'Tracking tags', exact: true }).waitFor();
  assert.match(await row('Console landing').textContent(), /console-lp/);
  // The script answers for the new tag: a google visit gets a number of the demo pool.
  const track = await fetch(`${base}/api/dni/track`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ tagCode: 'console-lp', utmSource: 'google' }) });
  assert.equal((await track.json()).success, true);

  await row('Demo landing page').getByRole('button', { name: 'Script tag' }).click();
  const snippet = await tab.getByRole('region', { name: 'Script tag' }).locator('pre').textContent();
  assert.equal(snippet, `<script src="${base}/dni.js" data-tag="demo" async></script>`);
  // The script it names is served.
  assert.equal((await fetch(`${base}/dni.js`)).status, 200);
});

test('the audit log says who created the buyer, filtered by kind', async () => {
  await section('Audit log');
  await tab.getByLabel('Kind').fill('buyer');
  await tab.getByRole('button', { name: 'Apply filters' }).click();
  await until(async () => {
    const rows = await tab.locator('tbody tr').allTextContents();
    return rows.length > 0 && rows.every((r) => r.includes('buyer')) && rows.some((r) => r.includes('Delta Dental'));
  }, 'the buyer entries');
  assert.match(await row('Delta Dental').first().textContent(), /user:demo.*create.*buyer/);
});

test("today's summary counts the new campaign's calls and the new buyer's", async () => {
  const { cookie } = await signIn(base);
  const campaigns = (await (await fetch(`${base}/api/campaigns`, { headers: { cookie } })).json()).items;
  const id = campaigns.find((c) => c.name === CAMPAIGN.name).id;
  const calls = (await (await fetch(`${base}/api/calls?campaignId=${id}`, { headers: { cookie } })).json()).items;
  const toBuyer = calls.filter((c) => c.buyerId && c.attempts.some((a) => a.number === BUYER.phone)).length;
  assert.ok(toBuyer >= 2, JSON.stringify(calls));

  await section('Today');
  const byCampaign = tab.locator('table', { has: tab.getByText('By campaign') }).locator('tr', { hasText: CAMPAIGN.name });
  await byCampaign.waitFor();
  assert.equal((await byCampaign.locator('td').first().textContent()), String(calls.length));
  const byBuyer = tab.locator('table', { has: tab.getByText('By buyer') }).locator('tr', { hasText: BUYER.name });
  assert.equal((await byBuyer.locator('td').first().textContent()), String(toBuyer));
});

test('Reports shows the figures of the API after a callsim run, and they equal a recount of the calls; the chart renders', async () => {
  await callsim(60, 13);

  await section('Reports');
  const times = tab.getByTestId('report-range').locator('time');
  const [from, to] = [await times.nth(0).getAttribute('datetime'), await times.nth(1).getAttribute('datetime')];
  const { cookie } = await signIn(base);
  const get = async (path, query = {}) => (await fetch(`${base}${path}?${new URLSearchParams(query)}`, { headers: { cookie } })).json();
  const { timezone: tz } = await get('/api/tenant');
  const api = await get('/api/reports/summary', { from, to, tz, groupBy: 'campaign' });
  assert.ok(!Array.isArray(api.totals), 'the demo is in one currency');
  const FIGURES = [['Incoming', 'incoming'], ['Live', 'live'], ['Connected', 'connected'], ['Converted', 'converted'],
    ['Revenue', 'revenueMinor'], ['Payout', 'payoutMinor']];
  const money = (minor) => `${Math.trunc(minor / 100)}.${String(minor % 100).padStart(2, '0')} USD`;
  const shown = (m) => FIGURES.map(([, k]) => (k.endsWith('Minor') ? money(m[k]) : String(m[k])));
  const expected = [...api.rows.map((r) => [r.name, ...shown(r.metrics)]), ['Total', ...shown(api.totals.metrics)]];

  // On screen: the API's figures (once the page has read them after the run, not from the cache).
  const table = tab.getByRole('table', { name: 'By campaign' });
  const onScreen = async () => {
    const { headers, rows } = await readReport(table);
    const at = FIGURES.map(([label]) => headers.indexOf(label));
    return rows.map((r) => [r[0], ...at.map((i) => r[i])]);
  };
  await until(async () => JSON.stringify(await onScreen()) === JSON.stringify(expected), 'the figures of the API on screen');
  assert.deepEqual(await onScreen(), expected);
  assert.ok(api.totals.metrics.incoming >= 60, JSON.stringify(api.totals));

  // The API's figures are a recount of the calls of the same range (every page of /api/calls).
  const calls = await allCalls(cookie, from, to);
  const recount = (list) => ({
    incoming: list.length,
    live: list.filter((c) => c.status === 'ringing' || c.status === 'in-progress').length,
    connected: list.filter((c) => c.answeredAt).length,
    converted: list.filter((c) => c.converted).length,
    revenueMinor: list.reduce((n, c) => n + c.revenueMinor, 0),
    payoutMinor: list.reduce((n, c) => n + c.payoutMinor, 0),
  });
  const pick = (m) => Object.fromEntries(FIGURES.map(([, k]) => [k, m[k]]));
  assert.deepEqual(pick(api.totals.metrics), recount(calls));
  for (const r of api.rows) assert.deepEqual(pick(r.metrics), recount(calls.filter((c) => c.campaignId === r.key)), r.name);

  // The CSV is the table as shown, and its rows add up to its totals.
  const [download] = await Promise.all([tab.waitForEvent('download'), tab.getByRole('button', { name: 'Export CSV' }).click()]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => l.split(','));
  const { rows: visible } = await readReport(table);
  assert.deepEqual(csv.slice(1), visible);
  const column = (label) => csv[0].indexOf(label);
  const body = csv.slice(1).filter((l) => l[0] !== 'Total');
  assert.equal(body.reduce((n, l) => n + Number(l[column('Incoming')]), 0), api.totals.metrics.incoming);
  assert.equal(money(body.reduce((n, l) => n + Math.round(Number(l[column('Revenue')].split(' ')[0]) * 100), 0)), money(api.totals.metrics.revenueMinor));

  // The chart is drawn, and the header's live count is the API's.
  await chartDrawn(tab.getByRole('figure', { name: 'Calls', exact: true }));
  const { live } = await get('/api/reports/live');
  await until(async () => (await tab.getByTestId('live-calls').textContent()) === String(live), 'the live count in the header');

  // A campaign drills down to its buyers.
  await table.getByRole('button', { name: CAMPAIGN.name, exact: true }).click();
  const byBuyer = tab.getByRole('table', { name: `${CAMPAIGN.name} by buyer` });
  await byBuyer.locator('tbody tr', { hasText: BUYER.name }).waitFor();
  await tab.getByRole('table', { name: `${CAMPAIGN.name} by source` }).waitFor();
  await tab.getByRole('button', { name: 'All campaigns' }).click();
  await chartDrawn(tab.getByRole('figure', { name: 'Calls', exact: true }));

  // A screenshot, checked to be a PNG that is not blank.
  const shot = join(ROOT, 'target/screenshots/reports.png');
  mkdirSync(dirname(shot), { recursive: true });
  writeFileSync(shot, await tab.screenshot({ fullPage: true }));
  const png = pngColours(readFileSync(shot));
  assert.ok(png.width > 0 && png.height > 0 && png.colours > 8, `a non-blank screenshot: ${JSON.stringify(png)}`);
});

test('a pixel made in the form fires on a callsim call: delivered with the receiver\'s 200 in the log, and the receiver got it signed, with the id shown; preview and send test', async () => {
  // A signing secret first (the demo user is the owner), shown once.
  await section('Pixels');
  await tab.getByRole('button', { name: 'Signing secret' }).click();
  const secret = (await tab.getByLabel('New signing secret').textContent()).trim();
  assert.match(secret, /^whsec_/);
  await tab.getByRole('button', { name: 'I copied it' }).click();

  await tab.getByRole('link', { name: 'New pixel' }).click();
  await tab.getByLabel('Name', { exact: true }).fill('Browser receiver');
  // incoming: every call fires it.
  await tab.getByRole('checkbox', { name: /^incoming / }).check();
  await tab.getByLabel('Method').selectOption('POST');
  await tab.getByLabel('URL', { exact: true }).fill(`${receiverBase}/hook?call=`);
  await tab.getByLabel('URL', { exact: true }).press('End');
  await tab.getByRole('button', { name: 'Insert {callId}', exact: true }).click();
  assert.equal(await tab.getByLabel('URL', { exact: true }).inputValue(), `${receiverBase}/hook?call={callId}`);
  await tab.getByLabel('Body', { exact: true }).fill('{"event": "{event}", "caller": "{unknown}"}');
  await tab.getByRole('button', { name: 'Create pixel' }).click();
  // The API's 422 on the body it names.
  await tab.locator('.field.invalid', { has: tab.getByLabel('Body', { exact: true }) }).getByText(/unknown token \{unknown\}/).waitFor();
  await tab.getByLabel('Body', { exact: true }).fill('{"event": "{event}", "caller": ""}');
  await tab.getByLabel('Body', { exact: true }).press('ArrowLeft');
  await tab.getByLabel('Body', { exact: true }).press('ArrowLeft');
  await tab.getByRole('button', { name: 'Insert {callerId}', exact: true }).click();
  assert.equal(await tab.getByLabel('Body', { exact: true }).inputValue(), '{"event": "{event}", "caller": "{callerId}"}');
  await tab.getByRole('button', { name: 'Create pixel' }).click();
  await tab.getByRole('heading', { level: 1, name: 'Pixels', exact: true }).waitFor();
  assert.match(await row('Browser receiver').textContent(), /incoming.*POST.*\/hook\?call=\{callId\}.*account-wide.*active/);

  await callsim(1, 14);
  await until(() => received.length > 0, 'the receiver to get the pixel');

  await section('Deliveries');
  await tab.getByLabel('Pixel', { exact: true }).selectOption({ label: 'Browser receiver' });
  await tab.getByRole('button', { name: 'Apply filters' }).click();
  const delivery = row('Browser receiver');
  await until(async () => {
    if (await delivery.filter({ hasText: 'delivered' }).count()) return true;
    await tab.getByRole('button', { name: 'Refresh' }).click();
    return false;
  }, 'the delivery delivered in the log');
  assert.equal(await delivery.count(), 1, 'one call, one delivery');
  assert.deepEqual((await delivery.locator('td').allTextContents()).slice(1, 6), ['Browser receiver', 'incoming', 'delivered', '1', '200']);

  await delivery.getByRole('link', { name: 'Details' }).click();
  const id = await tab.getByTestId('delivery-id').textContent();
  assert.equal(await tab.getByTestId('response-status').textContent(), '200');
  assert.match(await tab.getByRole('region', { name: 'Response' }).textContent(), /thanks/);
  const sentUrl = await tab.getByRole('region', { name: 'Request as sent' }).locator('code.url').textContent();

  // The receiver got that very request: the delivery id shown, the event, the call's tokens filled in, a signature of its body.
  assert.equal(received.length, 1, JSON.stringify(received));
  const [got] = received;
  assert.equal(got.headers['switchboard-delivery-id'], id);
  assert.equal(got.headers['switchboard-event'], 'incoming');
  assert.equal(`${receiverBase}${got.url}`, sentUrl);
  assert.match(got.url, /^\/hook\?call=[0-9a-f-]{36}$/);
  const body = JSON.parse(got.body);
  assert.equal(body.event, 'incoming');
  assert.match(body.caller, /^\+1\d{10}$/);
  const [, t, v1] = got.headers['switchboard-signature'].match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  assert.equal(v1, createHmac('sha256', secret).update(`${t}.${got.body}`).digest('hex'), 'signed with the secret shown');

  // On its form: the preview renders the request for the sample call, and a test send reaches the receiver, out of the log.
  await tab.getByRole('link', { name: 'Browser receiver' }).click();
  await tab.getByRole('button', { name: 'Preview' }).click();
  const preview = tab.getByRole('region', { name: 'Preview: the incoming request' });
  await preview.waitFor();
  assert.match(await preview.locator('code.url').textContent(), new RegExp(`^${receiverBase}/hook\\?call=[0-9a-f-]{36}$`));
  assert.equal(await preview.locator('pre').textContent(), '{"event": "incoming", "caller": "+15551230000"}');
  await tab.getByRole('button', { name: 'Send test' }).click();
  const result = tab.getByRole('region', { name: 'Test result' });
  await result.waitFor();
  assert.equal(await result.getByTestId('test-status').textContent(), '200');
  assert.match(await result.textContent(), /thanks/);
  assert.equal(received.length, 2);
  assert.equal(received[1].body, '{"event": "incoming", "caller": "+15551230000"}');
  const [, t2, v2] = received[1].headers['switchboard-signature'].match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  assert.equal(v2, createHmac('sha256', secret).update(`${t2}.${received[1].body}`).digest('hex'), 'the test is signed too');
  const { cookie } = await signIn(base);
  const get = async (path) => (await fetch(`${base}${path}`, { headers: { cookie } })).json();
  const pixel = (await get('/api/pixels')).items.find((p) => p.name === 'Browser receiver');
  // Every page of its log (a selective filter may answer short pages before the last).
  const logged = [];
  let cursor = '';
  do {
    const page = await get(`/api/pixels/deliveries?pixelId=${pixel.id}${cursor ? `&cursor=${cursor}` : ''}`);
    logged.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  assert.deepEqual(logged.map((d) => d.id), [id], 'the test is not in the log');

  // A campaign's page lists it among the pixels its calls fire.
  await section('Campaigns');
  await tab.getByRole('link', { name: 'Demo Priority', exact: true }).click();
  const listed = tab.getByRole('region', { name: 'Pixels of the campaign' }).locator('tbody tr', { hasText: 'Browser receiver' });
  await listed.waitFor();
  assert.match(await listed.textContent(), /incoming.*account-wide.*active/);
  await listed.getByRole('link', { name: 'Browser receiver' }).click();
  await tab.getByRole('heading', { level: 1, name: 'Pixel Browser receiver' }).waitFor();
});

test("the buyer's page shows its capacity now, against its caps, as the API counts it", async () => {
  const { cookie } = await signIn(base);
  const buyers = (await (await fetch(`${base}/api/buyers`, { headers: { cookie } })).json()).items;
  const id = buyers.find((b) => b.name === BUYER.name).id;
  const live = await (await fetch(`${base}/api/buyers/${id}/stats`, { headers: { cookie } })).json();
  assert.ok(live.day >= 2 && live.dailyCap === 50 && live.concurrencyLimit === 3, JSON.stringify(live));

  await section('Buyers');
  await tab.getByRole('link', { name: BUYER.name, exact: true }).click();
  await tab.getByRole('heading', { name: 'Capacity now' }).waitFor();
  const capacity = (label) => tab.getByRole('row', { name: new RegExp(`^${label}`) }).locator('td');
  // The heading shows before the figures load.
  await capacity('Today').first().waitFor();
  assert.deepEqual(await capacity('Today').allTextContents(), [String(live.day), '50']);
  assert.deepEqual(await capacity('On calls now').allTextContents(), [String(live.active), '3']);
  // Its last 7 days as a chart.
  await chartDrawn(tab.getByRole('figure', { name: `Calls ${BUYER.name} took, last 7 days` }));
});

test("a publisher login made in Users sees only its pages: its calls with a masked caller and its payout", async () => {
  // Set up through the API as the demo owner: a publisher, its number and a campaign paying it 4.00 a call.
  const { cookie } = await signIn(base);
  const api = async (method, path, body) => {
    const res = await fetch(`${base}${path}`, { method, headers: { Cookie: cookie, Origin: base, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body) });
    const value = await res.json();
    assert.ok(res.ok, `${method} ${path}: ${JSON.stringify(value)}`);
    return value;
  };
  const publisher = await api('POST', '/api/publishers', { name: 'Browser Leads' });
  await api('POST', '/api/numbers', { phoneNumber: '+15550004343', publisherId: publisher.id });
  const acme = (await api('GET', '/api/buyers')).items.find((b) => b.name === 'Acme Insurance');
  await api('POST', '/api/campaigns', { name: 'Publisher Campaign', status: 'active', phoneNumber: '+15550004343',
    buyers: [{ buyerId: acme.id }], payoutRules: [{ type: 'perCall', amount: '4.00', currency: 'USD' }] });
  await placeCall('+15550004343', 'CAconsolepublisher000000000000001', 'rotated-token');

  // The user is made in the console, bound to the publisher picked.
  await section('Users');
  await tab.getByLabel('Username', { exact: true }).fill('leads');
  await tab.getByLabel('Password', { exact: true }).fill('a long enough password');
  await tab.getByLabel('Role', { exact: true }).selectOption('publisher');
  await tab.getByLabel('Publisher', { exact: true }).selectOption({ label: 'Browser Leads' });
  await tab.getByRole('button', { name: 'Create user' }).click();
  await tab.getByLabel('leads role').waitFor();

  // Its own browser: only its pages.
  const own = await browser.newContext();
  const page = await own.newPage();
  page.setDefaultTimeout(10000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.goto(base);
  await page.getByLabel('Username').fill('leads');
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'My calls' }).waitFor();
  assert.deepEqual(await page.getByRole('navigation').getByRole('link').allTextContents(), ['My calls', 'My reports', 'My numbers', 'My publisher']);
  const call = page.locator('tbody tr', { hasText: '+*******0001' });
  await call.waitFor();
  // Not ended yet: its payout is booked when it ends.
  assert.match(await call.textContent(), /\+15550004343.*Publisher Campaign.*0\.00 USD/);
  const headers = await page.getByRole('columnheader').allTextContents();
  for (const hidden of ['Revenue', 'Profit', 'Buyer']) assert.ok(!headers.includes(hidden), `${hidden} in ${headers}`);
  assert.ok(!(await page.content()).includes('Acme Insurance'), 'no buyer name anywhere on the page');
  // Its reports: its own campaign's call only, with its payout and no revenue, profit or margin.
  await page.getByRole('link', { name: 'My reports' }).click();
  const report = page.getByRole('table', { name: 'By campaign' });
  const mine = report.locator('tbody tr', { hasText: 'Publisher Campaign' });
  await mine.waitFor();
  assert.deepEqual(await report.locator('tbody tr th').allTextContents(), ['Publisher Campaign']);
  const columns = await report.locator('thead th').allTextContents();
  assert.equal((await mine.locator('td').allTextContents())[columns.indexOf('Incoming') - 1], '1');
  assert.ok(columns.includes('Payout'), columns);
  for (const hidden of ['Revenue', 'Profit', 'Margin']) assert.ok(!columns.includes(hidden), `${hidden} in ${columns}`);
  assert.equal(await page.getByRole('tab', { name: 'Buyer' }).count(), 0);
  await page.getByRole('link', { name: 'My publisher' }).click();
  await page.getByText('Browser Leads').waitFor();
  await own.close();
});

test('deleting a buyer in an active campaign shows the 409, and signing out returns to the login page', async () => {
  await section('Buyers');
  await tab.getByRole('button', { name: `Delete ${BUYER.name}` }).click();
  await tab.getByRole('alert').filter({ hasText: 'Conflict' }).waitFor();
  assert.match(await tab.getByRole('alert').first().textContent(), /Browser Campaign/);

  await tab.getByRole('button', { name: 'Sign out' }).click();
  await tab.getByRole('button', { name: 'Sign in' }).waitFor();
  // The session is gone on the server too: a reload stays on the login page.
  await tab.reload();
  await tab.getByRole('button', { name: 'Sign in' }).waitFor();
});

test('no page error or CSP violation was logged during the run', () => {
  assert.deepEqual(pageErrors, []);
});
