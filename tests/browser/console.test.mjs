// The admin console in a real browser: headless Debian chromium driven by
// playwright-core, against the real server (`switchboard serve --demo
// --console-dir admin-ui/dist`) on 127.0.0.1 with a temp data dir.
//
// A manager signs in as demo/demo, creates a buyer and a campaign with a new
// tracking number through the UI, activates it from the list, and then a
// Twilio-signed call to that number (from node) is dialed to the new buyer
// and shows up on the Calls page and in its CSV export.
// Run it with tests/browser/run.sh (builds admin-ui when admin-ui/dist is missing).
//
// Env: SWITCHBOARD_BIN (the built binary), CHROMIUM (default /usr/bin/chromium),
// CONSOLE_DIR (default admin-ui/dist).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { launchChromium, signIn, startSwitchboard, twilioSignature } from './server.mjs';

const CONSOLE_DIR = process.env.CONSOLE_DIR || new URL('../../admin-ui/dist', import.meta.url).pathname;
// The demo tenant's Twilio credentials (api/src/demo.rs).
const AUTH_TOKEN = 'demo-token';
const ACCOUNT_SID = 'ACdemo00000000000000000000000000';

const BUYER = { name: 'Delta Dental', phone: '+15550002999', zone: 'America/Denver' };
const CAMPAIGN = { name: 'Browser Campaign', number: '+15550004242' };
const CALLER = '+15557770001';

let switchboard, base, browser, context, tab, twilio, twilioBase, bidder, bidderBase;
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

before(async () => {
  twilioBase = await startFakeTwilio();
  bidderBase = await startBidder();
  switchboard = await startSwitchboard(['--console-dir', CONSOLE_DIR, '--twilio-api-base', twilioBase, '--rtb-allow-private-targets']);
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
  // The demo's campaigns are listed.
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
  await tab.getByRole('button', { name: 'Save campaign' }).click();
  await row(CAMPAIGN.name).waitFor();
});

test('the call is on the Calls page, filtered by campaign, and in the CSV export', async () => {
  // A call to the demo's own campaign, which the filter must leave out.
  assert.match(await placeCall('+15550001000', 'CAconsole00000000000000000000002'), /\+15550002001/);
  await section('Calls');
  await row('Demo Priority').waitFor();
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
