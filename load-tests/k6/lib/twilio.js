// Twilio's side of the webhook dialect, for the k6 scripts: signatures,
// form bodies, SIDs, callers, and reading the TwiML Switchboard answers with.
import crypto from 'k6/crypto';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
// The URL the server signs (its --public-url); differs from BASE_URL behind a proxy.
export const PUBLIC_URL = (__ENV.PUBLIC_URL || BASE_URL).replace(/\/+$/, '');
export const AUTH_TOKEN = __ENV.AUTH_TOKEN || 'demo-token';
export const ACCOUNT_SID = __ENV.ACCOUNT_SID || 'ACdemo00000000000000000000000000';
export const NUMBERS = (__ENV.TO || '+15550001000,+15550001001').split(',').map((s) => s.trim()).filter(Boolean);

// X-Twilio-Signature: base64(HMAC-SHA1(token, url + name1 + value1 + ... sorted by name)).
export function sign(url, params) {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    data += name + params[name];
  }
  return crypto.hmac('sha1', AUTH_TOKEN, data, 'base64');
}

export function formBody(params) {
  return Object.keys(params)
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(params[k]))
    .join('&');
}

// Where to send a request for a URL the server put in its TwiML (under PUBLIC_URL).
export function sendUrl(signedUrl) {
  if (signedUrl.startsWith(PUBLIC_URL)) {
    return BASE_URL + signedUrl.slice(PUBLIC_URL.length);
  }
  return null;
}

// Signed form POST. `signedUrl` is the exact URL Twilio would request.
export function post(http, signedUrl, params, tags) {
  const url = sendUrl(signedUrl);
  if (url === null) {
    throw new Error(`callback URL ${signedUrl} is not under PUBLIC_URL ${PUBLIC_URL}`);
  }
  return http.post(url, formBody(params), {
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Twilio-Signature': sign(signedUrl, params),
    },
    tags,
  });
}

function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

// A call SID: CA + 32 hex digits.
export function callSid() {
  return 'CA' + hex(crypto.randomBytes(16));
}

const PLACES = [
  ['LOS ANGELES', 'CA', '90012', '213'],
  ['NEW YORK', 'NY', '10001', '212'],
  ['AUSTIN', 'TX', '78701', '512'],
  ['MIAMI', 'FL', '33101', '305'],
  ['CHICAGO', 'IL', '60601', '312'],
  ['SEATTLE', 'WA', '98101', '206'],
  ['BOSTON', 'MA', '02108', '617'],
  ['DENVER', 'CO', '80202', '303'],
];

function randInt(lo, hi) {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

// The voice webhook's parameters for a new inbound call to `to`.
export function voiceParams(sid, to) {
  const [city, state, zip, area] = PLACES[randInt(0, PLACES.length - 1)];
  const from = `+1${area}${randInt(200, 999)}${String(randInt(0, 9999)).padStart(4, '0')}`;
  return {
    AccountSid: ACCOUNT_SID,
    ApiVersion: '2010-04-01',
    CallSid: sid,
    CallStatus: 'ringing',
    Called: to,
    Caller: from,
    Direction: 'inbound',
    From: from,
    FromCity: city,
    FromCountry: 'US',
    FromState: state,
    FromZip: zip,
    To: to,
    ToCountry: 'US',
  };
}

function unescapeXml(s) {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(parseInt(d, 10)))
    .replace(/&amp;/g, '&');
}

function attr(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*("([^"]*)"|'([^']*)')`));
  return m ? unescapeXml(m[2] !== undefined ? m[2] : m[3]) : null;
}

// Reads a TwiML answer: {kind: 'dial', action, number, statusCallback} |
// {kind: 'end'} | {kind: 'invalid'}. Enough for load; callsim parses strictly.
export function readTwiml(body) {
  if (typeof body !== 'string' || !/<Response[\s>]/.test(body) || !/<\/Response>\s*$/.test(body)) {
    return { kind: 'invalid' };
  }
  const dial = body.match(/<Dial\b[^>]*>/);
  if (dial) {
    const num = body.match(/<Number\b[^>]*>([^<]*)<\/Number>/);
    if (!num) return { kind: 'invalid' };
    const numberTag = num[0].slice(0, num[0].indexOf('>') + 1);
    return {
      kind: 'dial',
      action: attr(dial[0], 'action'),
      number: unescapeXml(num[1].trim()),
      statusCallback: attr(numberTag, 'statusCallback'),
    };
  }
  if (/<Hangup\s*\/>|<Reject\b|<Say\b/.test(body)) return { kind: 'end' };
  return { kind: 'invalid' };
}
