// DNI track with sticky sessions: each VU is a visitor's browser. Its first
// request has no session id; it keeps the one Switchboard answers and sends
// it on every later request (what dni.js does on each page view and every
// minute as a heartbeat), so most requests renew a live lease. Every
// NEW_EVERY-th request a VU starts a new visit, which leases a number (or,
// once the pool is exhausted, gets the fallback: the demo pool has three).
//
// Checks: 200, success, and stickiness: a session that got a pool number
// keeps that number on every renewal.
//
// The server limits track requests per client address (120/min) and per tag
// (30,000/min). Start it with --trust-forwarded-for: the script spreads its
// requests over many X-Forwarded-For addresses, as many visitors would; keep
// the offered load under the per-tag limit (500/s) or count the 429s.
//
//   target/debug/switchboard serve --demo --trust-forwarded-for --data /tmp/sb --listen 127.0.0.1:8080
//   BASE_URL=http://127.0.0.1:8080 TAG=demo VUS=16 DURATION=30s k6 run load-tests/k6/dni.js
//
// Env: BASE_URL, TAG (tag code, default demo), FALLBACK (the pool's fallback
// number, default +15550001000), NEW_EVERY (default 10), VUS, DURATION,
// P99_MS (latency threshold, default 50), RATE (requests/s: an open-loop
// constant arrival rate instead of VUS closed loops).
import http from 'k6/http';
import { check } from 'k6';
import { load } from './lib/load.js';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TAG = __ENV.TAG || 'demo';
const FALLBACK = __ENV.FALLBACK || '+15550001000';
const NEW_EVERY = Number(__ENV.NEW_EVERY || 10);
const P99_MS = Number(__ENV.P99_MS || 50);


export const options = {
  ...load('track'),
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{hook:track}': [`p(99)<${P99_MS}`],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
};

// This VU's visitor: its session and the number leased to it.
let session = null;
let leased = null;
let n = 0;

// One client address per VU and visit, spread over 10.0.0.0/8.
function address(visit) {
  const v = (__VU * 7919 + visit) % 16777216;
  return `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
}

export default function () {
  if (NEW_EVERY > 0 && n % NEW_EVERY === 0) {
    session = null;
    leased = null;
  }
  const visit = Math.floor(n / Math.max(NEW_EVERY, 1));
  n++;
  const body = {
    tagCode: TAG,
    referrer: 'https://www.google.com/',
    userAgent: 'k6 dni.js',
    landingPage: `https://acme.example/landing?utm_source=google&utm_medium=cpc&utm_campaign=k6&gclid=k6-${__VU}-${visit}`,
  };
  if (session) body.sessionId = session;
  const res = http.post(`${BASE_URL}/api/dni/track`, JSON.stringify(body), {
    headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': address(visit) },
    tags: { hook: 'track' },
  });
  let r = null;
  try {
    r = res.json();
  } catch (e) {
    r = null;
  }
  const sticky = !!r && (leased === null || r.phoneNumber === leased);
  check(res, {
    'track: 200': (x) => x.status === 200,
    'track: success with a number': () => !!r && r.success === true && typeof r.phoneNumber === 'string',
    'track: a session keeps its number': () => sticky,
  });
  if (r && r.sessionId) session = r.sessionId;
  if (r && r.phoneNumber && r.phoneNumber !== FALLBACK && leased === null) leased = r.phoneNumber;
}
