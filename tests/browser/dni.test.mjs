// dni.js in a real browser: headless Debian chromium driven by playwright-core.
//
// The real server (`switchboard serve --demo`: pool +15550001100..02, tag
// "demo") runs on 127.0.0.1; a customer's page is served by node from
// another port on localhost (another origin, as on a real site) with
//   <script src="http://127.0.0.1:PORT/dni.js" data-tag="demo" async>.
// Run it with tests/browser/run.sh (installs chromium and playwright-core).
//
// Env: SWITCHBOARD_BIN (the built binary), CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { launchChromium, signIn, startSwitchboard, twilioSignature } from './server.mjs';

const POOL = ['+15550001100', '+15550001101', '+15550001102'];
const ORIGINAL = '+15550001000';
// The demo tag writes numbers the national way.
const national = (e164) => `(${e164.slice(2, 5)}) ${e164.slice(5, 8)}-${e164.slice(8)}`;

let switchboard, sbBase, site, siteBase, slow, slowBase, browser;
// The first visitor's cookies and storage, to come back with; its number and session.
let returning, firstVisit;
const slowRequests = [];

/** A customer's landing page, with the original number twice (a tel: link and plain text). */
function page(scriptOrigin, tag = 'demo') {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Acme</title></head><body>
<p>Call us: <a id="call" class="phone-number" href="tel:${ORIGINAL}"><b>☎</b> (555) 000-1000</a></p>
<p>Or dial <span id="text" class="phone-number">555-000-1000</span> any time.</p>
<p id="other">Fax: 555-000-9999</p>
<script src="${scriptOrigin}/dni.js" data-tag="${tag}" async></script>
</body></html>`;
}

function listen(handler) {
  const s = createServer(handler);
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve([s, s.address().port])));
}

before(async () => {
  switchboard = await startSwitchboard();
  sbBase = switchboard.base;
  // The site: pages that load dni.js from Switchboard.
  let port;
  [site, port] = await listen((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page(sbBase, new URL(req.url, siteBase).searchParams.get('tag') || 'demo'));
  });
  siteBase = `http://localhost:${port}`;
  // A Switchboard that serves the real dni.js but never answers a track.
  const script = await (await fetch(`${sbBase}/dni.js`)).text();
  [slow, port] = await listen((req, res) => {
    if (req.url === '/dni.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript' });
      res.end(script);
    } else if (req.url === '/page') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page(slowBase));
    } else {
      const seen = { method: req.method, started: Date.now(), closed: null };
      slowRequests.push(seen);
      res.on('close', () => { seen.closed = Date.now(); });
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'Access-Control-Allow-Origin': '*',
          'Access-Control-Allow-Methods': 'POST, OPTIONS',
          'Access-Control-Allow-Headers': 'content-type',
        });
        res.end();
      } // else: hang, like an overloaded server
    }
  });
  slowBase = `http://127.0.0.1:${port}`;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  slow?.closeAllConnections?.();
  slow?.close();
  await switchboard?.stop();
});

/** A visitor (fresh storage, or `storageState`) with page errors collected. */
async function visitor(storageState) {
  const context = await browser.newContext(storageState ? { storageState } : {});
  const tab = await context.newPage();
  const errors = [];
  tab.on('pageerror', (e) => errors.push(String(e)));
  return { context, tab, errors };
}

/** Waits until the tel: link no longer points at the original, and reads the page.
 * Polls from node: the page's own timers may be a fake clock. */
async function swapped(tab) {
  const deadline = Date.now() + 10000;
  while (await tab.evaluate((orig) => document.getElementById('call').getAttribute('href') === `tel:${orig}`, ORIGINAL)) {
    assert.ok(Date.now() < deadline, 'the number was not swapped within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return tab.evaluate(() => ({
    href: document.getElementById('call').getAttribute('href'),
    link: document.getElementById('call').textContent,
    icon: document.querySelector('#call b')?.textContent,
    text: document.getElementById('text').textContent,
    other: document.getElementById('other').textContent,
    stored: localStorage.getItem('sb_dni_demo'),
  }));
}

test('a visitor sees a pool number, and keeps it across a reload', async () => {
  const { context, tab, errors } = await visitor();
  await tab.goto(`${siteBase}/?utm_source=google&utm_medium=cpc&gclid=test-click`);
  const first = await swapped(tab);
  const number = first.href.replace('tel:', '');
  assert.ok(POOL.includes(number), `leased a pool number, got ${first.href}`);
  assert.equal(first.text, national(number));
  assert.equal(first.link, `☎ ${national(number)}`, 'the link text is swapped, its markup kept');
  assert.equal(first.icon, '☎');
  assert.equal(first.other, 'Fax: 555-000-9999', 'elements outside the selector are untouched');
  assert.ok(first.stored, 'the session id is kept in localStorage');

  await tab.reload();
  const again = await swapped(tab);
  assert.equal(again.href, `tel:${number}`, 'the same number after a reload');
  assert.equal(again.text, national(number));
  assert.equal(again.stored, first.stored, 'the same session');
  assert.deepEqual(errors, []);
  returning = await context.storageState();
  firstVisit = { number, session: first.stored };
  await context.close();
});

/** The demo console's session cookie. */
async function demoLogin() {
  const { status, cookie } = await signIn(sbBase);
  assert.equal(status, 200);
  return cookie;
}

test('a call to that number is attributed to the visit, its UTM fields and click id', async () => {
  // Twilio's voice webhook for a call to the leased number, signed with the demo token.
  const url = `${sbBase}/api/webhooks/voice`;
  const params = { CallSid: 'CAbrowser000000000000000000000001', AccountSid: 'ACdemo00000000000000000000000000',
    From: '+15551230000', To: firstVisit.number, CallStatus: 'ringing', Direction: 'inbound' };
  const signature = twilioSignature('demo-token', url, params);
  const twiml = await (await fetch(url, { method: 'POST', body: new URLSearchParams(params),
    headers: { 'X-Twilio-Signature': signature } })).text();
  const callId = twiml.match(/dial-status\/([0-9a-f-]{36})/)?.[1];
  assert.ok(callId, `the call was routed: ${twiml}`);

  const cookie = await demoLogin();
  const call = await (await fetch(`${sbBase}/api/calls/${callId}`, { headers: { cookie } })).json();
  const a = call.attribution;
  assert.ok(a, `the call carries an attribution: ${JSON.stringify(call)}`);
  assert.equal(a.sessionId, firstVisit.session);
  assert.deepEqual([a.source, a.medium, a.gclid], ['google', 'cpc', 'test-click']);
  assert.ok(a.landingPage.startsWith(siteBase), a.landingPage);
});

test('two visitors at once see two different numbers', async () => {
  const a = await visitor();
  const b = await visitor();
  await Promise.all([a.tab.goto(siteBase), b.tab.goto(siteBase)]);
  const [na, nb] = await Promise.all([swapped(a.tab), swapped(b.tab)]);
  assert.notEqual(na.href, nb.href);
  assert.ok(POOL.includes(na.href.slice(4)) && POOL.includes(nb.href.slice(4)));
  await a.context.close();
  await b.context.close();
});

test('with every number leased, a new visitor gets the fallback number', async () => {
  // Three numbers: the first visitor holds one, the two above the others.
  const { context, tab, errors } = await visitor();
  await tab.goto(siteBase);
  const deadline = Date.now() + 10000;
  let answer;
  while (!(answer = await tab.evaluate(() => window.SwitchboardDNI.phoneNumber))) {
    assert.ok(Date.now() < deadline, 'no answer within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(answer, ORIGINAL, 'the demo pool falls back to +15550001000');
  assert.equal(await tab.evaluate(() => document.getElementById('text').textContent), national(ORIGINAL));
  assert.deepEqual(errors, []);
  await context.close();
});

test('without localStorage the session is kept in a first-party cookie', async () => {
  const { context, tab, errors } = await visitor();
  // As in some privacy modes and sandboxed frames: any use of localStorage throws.
  await tab.addInitScript(() => {
    Object.defineProperty(window, 'localStorage', { get() { throw new Error('storage is disabled'); } });
  });
  const sent = [];
  tab.on('request', (r) => { if (r.url().endsWith('/api/dni/track') && r.method() === 'POST') sent.push(r.postDataJSON()); });
  const answer = tab.waitForResponse((r) => r.url().endsWith('/api/dni/track') && r.request().method() === 'POST');
  await tab.goto(siteBase);
  const { sessionId } = await (await answer).json();
  assert.equal(sent[0].sessionId, undefined, 'a new visitor has no session yet');
  const cookies = await context.cookies(siteBase);
  assert.equal(cookies.find((c) => c.name === 'sb_dni_demo')?.value, sessionId, 'kept in a cookie of the site');
  const again = tab.waitForResponse((r) => r.url().endsWith('/api/dni/track') && r.request().method() === 'POST');
  await tab.reload();
  await again;
  assert.equal(sent[1].sessionId, sessionId, 'the same session after a reload');
  assert.deepEqual(errors, [], 'a throwing localStorage does not reach the page');
  await context.close();
});

test('the heartbeat re-tracks every minute while the page is open', async () => {
  // The first visitor comes back in a new tab: same session, same number.
  const { context, tab, errors } = await visitor(returning);
  await tab.clock.install();
  const tracks = [];
  tab.on('request', (r) => { if (r.url().endsWith('/api/dni/track') && r.method() === 'POST') tracks.push(r.postDataJSON()); });
  await tab.goto(siteBase);
  const first = await swapped(tab);
  assert.equal(tracks.length, 1);
  const beat = tab.waitForResponse((r) => r.url().endsWith('/api/dni/track') && r.request().method() === 'POST');
  await tab.clock.runFor(61000);
  await beat;
  assert.equal(tracks.length, 2, 'one heartbeat after a minute');
  assert.ok(tracks[1].sessionId, 'the heartbeat names the session');
  assert.equal(tracks[1].sessionId, first.stored);
  assert.equal(tracks[0].sessionId, returning.origins[0].localStorage.find((i) => i.name === 'sb_dni_demo').value,
    'a returning visitor names its session from the start');
  assert.equal((await swapped(tab)).href, first.href, 'the lease (and number) is kept');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a tag for paid traffic only leaves an unpaid visit alone, and stops asking', async () => {
  const cookie = await demoLogin();
  const pools = await (await fetch(`${sbBase}/api/pools`, { headers: { cookie } })).json();
  const created = await fetch(`${sbBase}/api/tracking-tags`, { method: 'POST',
    headers: { cookie, Origin: sbBase, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Paid only', tagCode: 'paid-only', poolId: pools.items[0].id, paidOnly: true }) });
  assert.equal(created.status, 201, await created.text());

  const { context, tab, errors } = await visitor();
  await tab.clock.install();
  let tracks = 0;
  tab.on('request', (r) => { if (r.url().endsWith('/api/dni/track') && r.method() === 'POST') tracks++; });
  const answer = tab.waitForResponse((r) => r.url().endsWith('/api/dni/track') && r.request().method() === 'POST');
  await tab.goto(`${siteBase}/?tag=paid-only&utm_source=newsletter`);
  assert.equal((await (await answer).json()).success, false);
  await tab.clock.runFor(125000);
  await tab.waitForTimeout(300);
  assert.equal(tracks, 1, 'no heartbeat: there is no lease to keep');
  const now = await tab.evaluate(() => document.getElementById('call').getAttribute('href'));
  assert.equal(now, `tel:${ORIGINAL}`, 'the original number stays');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a hidden page does not heartbeat, and catches up when shown again', async () => {
  const { context, tab, errors } = await visitor(returning);
  // The test decides what document.visibilityState says.
  await tab.addInitScript(() => {
    Object.defineProperty(document, 'visibilityState', { get: () => window.__visibility || 'visible' });
  });
  await tab.clock.install();
  let tracks = 0;
  tab.on('request', (r) => { if (r.url().endsWith('/api/dni/track') && r.method() === 'POST') tracks++; });
  await tab.goto(siteBase);
  await swapped(tab);
  assert.equal(tracks, 1);
  await tab.evaluate(() => { window.__visibility = 'hidden'; document.dispatchEvent(new Event('visibilitychange')); });
  await tab.clock.runFor(125000);
  await tab.waitForTimeout(300);
  assert.equal(tracks, 1, 'no heartbeat while hidden');
  const back = tab.waitForResponse((r) => r.url().endsWith('/api/dni/track') && r.request().method() === 'POST');
  await tab.evaluate(() => { window.__visibility = 'visible'; document.dispatchEvent(new Event('visibilitychange')); });
  await back;
  assert.equal(tracks, 2, 'one catch-up track when shown again');
  assert.deepEqual(errors, []);
  await context.close();
});

test('a server that never answers leaves the original number, within the 3 s timeout', async () => {
  const { context, tab, errors } = await visitor();
  await tab.goto(`${slowBase}/page`);
  await tab.waitForTimeout(5000);
  const now = await tab.evaluate(() => ({
    href: document.getElementById('call').getAttribute('href'),
    text: document.getElementById('text').textContent,
  }));
  assert.deepEqual(now, { href: `tel:${ORIGINAL}`, text: '555-000-1000' });
  const post = slowRequests.find((r) => r.method === 'POST');
  assert.ok(post, 'the script did try');
  assert.ok(post.closed && post.closed - post.started < 4500, 'the browser gave up after about 3 s');
  assert.deepEqual(errors, [], 'no exception reached the page');
  await context.close();
});
