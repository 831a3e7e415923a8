// RTB inbound ping: a publisher asks for a price for a caller; Switchboard runs
// the router's auction among its bidders and answers with the winning bid (or
// a no-bid). setup() signs in to the demo console, creates an API key (the
// publisher's credential), an RTB target per bidder URL and a router; each
// iteration pings for a new caller. Start the demo with local bidders:
//
//   target/debug/switchboard serve --demo --rtb-allow-private-targets --data /tmp/sb --listen 127.0.0.1:8080 &
//   target/debug/bidder --listen 127.0.0.1:9101 --latency-ms 5..15 &
//   target/debug/bidder --listen 127.0.0.1:9102 --latency-ms 5..15 --format nested &
//   BASE_URL=http://127.0.0.1:8080 BIDDERS=http://127.0.0.1:9101/bid,http://127.0.0.1:9102/bid k6 run load-tests/k6/rtb_ping.js
//
// A publisher key may ping 20 times a second (then 429): KEYS (default 4)
// keys share the load, RATE (default 60 pings/s) stays under KEYS × 20.
// Env: BASE_URL, BIDDERS (comma-separated bid URLs), RATE, KEYS, DURATION,
// TIMEOUT_MS (router deadline, default 200), P99_MS (default 400).
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const BIDDERS = (__ENV.BIDDERS || 'http://127.0.0.1:9101/bid').split(',').map((s) => s.trim()).filter(Boolean);
const KEYS = Number(__ENV.KEYS || 4);
const TIMEOUT_MS = Number(__ENV.TIMEOUT_MS || 200);
const P99_MS = Number(__ENV.P99_MS || 400);

export const options = {
  scenarios: {
    ping: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 60),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: 16,
      maxVUs: 64,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{hook:ping}': [`p(99)<${P99_MS}`],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
};

function admin(jar, method, path, body) {
  const res = http.request(method, `${BASE_URL}${path}`, body ? JSON.stringify(body) : null, {
    jar,
    headers: { 'Content-Type': 'application/json', Origin: BASE_URL },
  });
  if (res.status >= 300) {
    throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
  }
  return res.json();
}

export function setup() {
  const jar = http.cookieJar();
  admin(jar, 'POST', '/api/auth/login', { username: 'demo', password: 'demo' });
  const suffix = Date.now();
  const targets = BIDDERS.map((url, i) =>
    admin(jar, 'POST', '/api/rtb/targets', {
      name: `k6 bidder ${i} ${suffix}`,
      endpointUrl: url,
      maxBidAmount: 50,
      requestBody: '{"callerId":"{callerId}","state":"{callerState}","zip":"{callerZip}"}',
    }),
  );
  const router = admin(jar, 'POST', '/api/rtb/routers', {
    name: `k6 router ${suffix}`,
    biddingTimeoutMs: TIMEOUT_MS,
    targets: targets.map((t) => ({ targetId: t.id })),
  });
  // The publisher delivers the call to this campaign's tracking number.
  admin(jar, 'POST', '/api/campaigns', {
    name: `k6 auction ${suffix}`,
    routingType: 'rtb',
    rtbRouterId: router.id,
    phoneNumber: `+1555${String(suffix % 10000000).padStart(7, '0')}`,
    status: 'active',
  });
  const keys = [];
  for (let i = 0; i < KEYS; i++) {
    keys.push(admin(jar, 'POST', '/api/api-keys', { name: `k6 publisher ${i} ${suffix}`, role: 'viewer' }).key);
  }
  return { router: router.id, keys };
}

let n = 0;

export default function (data) {
  n += 1;
  const key = data.keys[(__VU + n) % data.keys.length];
  const caller = `+1555${String(__VU * 100000 + (n % 100000)).padStart(7, '0').slice(-7)}`;
  const res = http.post(
    `${BASE_URL}/api/rtb/webhook/${data.router}`,
    JSON.stringify({ callerId: caller, state: 'CA', zip: '94105' }),
    { headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` }, tags: { hook: 'ping' } },
  );
  let body = {};
  try {
    body = res.json();
  } catch (e) {
    body = {};
  }
  check(res, {
    'ping: 200': (r) => r.status === 200,
    'ping: a bid with a number, or a no-bid with a reason': () =>
      (body.bid === true && typeof body.phoneNumber === 'string' && body.bidAmount > 0) ||
      (body.bid === false && typeof body.reason === 'string' && !['no-tracking-number', 'unknown-router'].includes(body.reason)),
  });
}
