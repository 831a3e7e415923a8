// Voice webhook flood: every request is a new call, signed with HMAC-SHA1 as
// Twilio signs it, to the demo's tracking numbers in turn. Measures the whole
// decision path: signature check, number lookup, routing (or rejection once
// the buyers are full), the call record made durable, TwiML rendered.
//
// The flood never hangs up, so after the first few calls the demo's buyers
// are full and most answers are polite rejections (<Say>…<Hangup/>): still a
// routed-and-recorded decision, and a valid answer. Use mixed.js for whole calls.
//
//   BASE_URL=http://127.0.0.1:8080 AUTH_TOKEN=demo-token VUS=16 DURATION=30s k6 run load-tests/k6/voice.js
//
// Env: BASE_URL, PUBLIC_URL (what the server signs; default BASE_URL),
// AUTH_TOKEN, ACCOUNT_SID, TO (comma-separated tracking numbers), VUS,
// DURATION, P99_MS (latency threshold, default 50), RATE (requests/s: an
// open-loop constant arrival rate instead of VUS closed loops, for latency
// at a fixed load).
import http from 'k6/http';
import { check } from 'k6';
import { load } from './lib/load.js';
import { NUMBERS, PUBLIC_URL, callSid, post, readTwiml, voiceParams } from './lib/twilio.js';

const P99_MS = Number(__ENV.P99_MS || 50);


export const options = {
  ...load('voice'),
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{hook:voice}': [`p(99)<${P99_MS}`],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'p(99.9)', 'max'],
};

let n = 0;

export default function () {
  const to = NUMBERS[n++ % NUMBERS.length];
  const res = post(http, `${PUBLIC_URL}/api/webhooks/voice`, voiceParams(callSid(), to), { hook: 'voice' });
  const twiml = readTwiml(res.body);
  check(res, {
    'voice: 200': (r) => r.status === 200,
    'voice: TwiML is <Dial> or <Say>/<Hangup>': () => twiml.kind === 'dial' || twiml.kind === 'end',
  });
}
