// Report queries: a 30-day summary by campaign, by buyer and by day, and a
// 30-day hourly time series, in turn, each tagged with its name. With
// WEBHOOKS=1 a second scenario floods signed voice webhooks at the same
// time (WEBHOOK_VUS closed loops), so the queries are measured under load.
//
//   BASE_URL=http://127.0.0.1:8080 USERNAME=bench PASSWORD=… TO_TIME=2026-12-01T00:00:00Z \
//     VUS=4 DURATION=20s k6 run load-tests/k6/reports.js
//
// Env: BASE_URL, USERNAME, PASSWORD (a console user of the tenant), TO_TIME
// (the range's end, RFC 3339; default now; the range is the 30 days before),
// VUS, DURATION; WEBHOOKS, WEBHOOK_VUS, AUTH_TOKEN, ACCOUNT_SID, TO as in voice.js.
import http from 'k6/http';
import { check } from 'k6';
import { BASE_URL, NUMBERS, PUBLIC_URL, callSid, post, voiceParams } from './lib/twilio.js';

const VUS = Number(__ENV.VUS || 4);
const DURATION = __ENV.DURATION || '20s';
const end = __ENV.TO_TIME ? new Date(__ENV.TO_TIME) : new Date();
const start = new Date(end.getTime() - 30 * 24 * 3600 * 1000);
const range = `from=${start.toISOString()}&to=${end.toISOString()}&tz=UTC`;
const QUERIES = [
  ['summary-campaign', `/api/reports/summary?groupBy=campaign&${range}`],
  ['summary-buyer', `/api/reports/summary?groupBy=buyer&${range}`],
  ['summary-day', `/api/reports/summary?groupBy=day&${range}`],
  ['timeseries-hour', `/api/reports/timeseries?interval=hour&${range}`],
];

const scenarios = {
  reports: { executor: 'constant-vus', vus: VUS, duration: DURATION, exec: 'reports' },
};
if (__ENV.WEBHOOKS === '1') {
  scenarios.webhooks = {
    executor: 'constant-vus',
    vus: Number(__ENV.WEBHOOK_VUS || 32),
    duration: DURATION,
    exec: 'webhooks',
  };
}

export const options = {
  scenarios,
  // A threshold per query, so the summary keeps each one's own p99.
  thresholds: Object.fromEntries([
    ['checks{kind:report}', ['rate>0.99']],
    ...QUERIES.map(([name]) => [`http_req_duration{report:${name}}`, ['p(99)<100000']]),
  ]),
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(99)', 'max'],
};

export function setup() {
  const res = http.post(`${BASE_URL}/api/auth/login`, JSON.stringify({
    username: __ENV.USERNAME || 'bench',
    password: __ENV.PASSWORD || '',
  }), { headers: { 'Content-Type': 'application/json' } });
  const cookie = res.cookies.sb_session && res.cookies.sb_session[0];
  if (!cookie) {
    throw new Error(`login failed: ${res.status} ${res.body}`);
  }
  return { cookie: `sb_session=${cookie.value}` };
}

let n = 0;

export function reports(data) {
  const [name, path] = QUERIES[n++ % QUERIES.length];
  const res = http.get(`${BASE_URL}${path}`, { headers: { Cookie: data.cookie }, tags: { report: name } });
  check(res, { 'report: 200': (r) => r.status === 200 }, { kind: 'report' });
}

export function webhooks() {
  const to = NUMBERS[n++ % NUMBERS.length];
  post(http, `${PUBLIC_URL}/api/webhooks/voice`, voiceParams(callSid(), to), { hook: 'voice' });
}
