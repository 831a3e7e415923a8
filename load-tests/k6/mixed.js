// Whole calls, as Twilio plays them: the signed voice webhook; on <Dial>, the
// dialed leg's status callbacks (initiated, ringing, in-progress, completed —
// or busy / no-answer — with SequenceNumber) and the <Dial action>, following
// fall-through until the call hangs up. Every leg ends, so buyers' capacity
// is given back and calls keep routing until the demo's daily caps are spent.
//
//   BASE_URL=http://127.0.0.1:8080 AUTH_TOKEN=demo-token VUS=16 DURATION=30s k6 run load-tests/k6/mixed.js
//
// Env: as voice.js, plus ANSWER_PROB (default 0.8) and P99_MS (default 50,
// applied to each webhook).
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { ACCOUNT_SID, NUMBERS, PUBLIC_URL, callSid, post, readTwiml, voiceParams } from './lib/twilio.js';

const P99_MS = Number(__ENV.P99_MS || 50);
const ANSWER_PROB = Number(__ENV.ANSWER_PROB || 0.8);
const MAX_DIALS = 10;

const dialed = new Counter('calls_dialed');
const rejected = new Counter('calls_rejected');
const fallthroughs = new Counter('calls_fallthroughs');

export const options = {
  vus: Number(__ENV.VUS || 16),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{hook:voice}': [`p(99)<${P99_MS}`],
    'http_req_duration{hook:status}': [`p(99)<${P99_MS}`],
    'http_req_duration{hook:action}': [`p(99)<${P99_MS}`],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
};

let n = 0;

function leg(sid, voice, dial) {
  const child = callSid();
  const answered = Math.random() < ANSWER_PROB;
  const end = answered ? 'completed' : Math.random() < 0.5 ? 'busy' : 'no-answer';
  const talk = answered ? String(5 + Math.floor(Math.random() * 296)) : '0';
  const statuses = ['initiated', 'ringing'].concat(answered ? ['in-progress'] : [], [end]);
  if (dial.statusCallback) {
    statuses.forEach((status, seq) => {
      const params = {
        AccountSid: ACCOUNT_SID,
        ApiVersion: '2010-04-01',
        CallSid: child,
        CallStatus: status,
        CallbackSource: 'call-progress-events',
        Called: dial.number,
        Caller: voice.From,
        Direction: 'outbound-dial',
        From: voice.From,
        ParentCallSid: sid,
        SequenceNumber: String(seq),
        Timestamp: new Date().toUTCString().replace('GMT', '+0000'),
        To: dial.number,
      };
      if (status === 'completed') {
        params.CallDuration = talk;
        params.Duration = String(Math.ceil(Number(talk) / 60));
      }
      const res = post(http, dial.statusCallback, params, { hook: 'status' });
      check(res, { 'status: 2xx': (r) => r.status >= 200 && r.status < 300 });
    });
  }
  const action = {
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    CallSid: sid,
    CallStatus: 'in-progress',
    Called: voice.To,
    Caller: voice.From,
    DialCallSid: child,
    DialCallStatus: end,
    Direction: 'inbound',
    From: voice.From,
    To: voice.To,
  };
  if (answered) action.DialCallDuration = talk;
  const res = post(http, dial.action, action, { hook: 'action' });
  const next = readTwiml(res.body);
  check(res, {
    'action: 200': (r) => r.status === 200,
    'action: TwiML is <Dial> or <Say>/<Hangup>': () => next.kind === 'dial' || next.kind === 'end',
  });
  return next;
}

export default function () {
  const to = NUMBERS[n++ % NUMBERS.length];
  const sid = callSid();
  const voice = voiceParams(sid, to);
  const res = post(http, `${PUBLIC_URL}/api/webhooks/voice`, voice, { hook: 'voice' });
  let twiml = readTwiml(res.body);
  check(res, {
    'voice: 200': (r) => r.status === 200,
    'voice: TwiML is <Dial> or <Say>/<Hangup>': () => twiml.kind === 'dial' || twiml.kind === 'end',
  });
  if (twiml.kind !== 'dial') {
    if (twiml.kind === 'end') rejected.add(1);
    return;
  }
  dialed.add(1);
  for (let dials = 1; twiml.kind === 'dial' && dials <= MAX_DIALS; dials++) {
    if (dials > 1) fallthroughs.add(1);
    twiml = leg(sid, voice, twiml);
  }
  check(twiml, { 'call: fall-through ends': (t) => t.kind !== 'dial' });
}
