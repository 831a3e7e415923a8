// What both browser test files need: the real server (`switchboard serve
// --demo` on 127.0.0.1 with a temp data dir) and headless chromium.
//
// Env: SWITCHBOARD_BIN (the built binary), CHROMIUM (default /usr/bin/chromium).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { chromium } from 'playwright-core';

const BIN = process.env.SWITCHBOARD_BIN || new URL('../../target/debug/switchboard', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/**
 * Starts `switchboard serve --demo` with `args` added, on a free port, and
 * resolves with its base URL (once it prints `listening on`) and `stop()`,
 * which ends it and removes its data dir.
 */
export async function startSwitchboard(args = []) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sb-browser-'));
  const server = spawn(BIN, ['serve', '--demo', '--data', dataDir, '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  let err = '';
  server.stderr.on('data', (d) => { err += d; });
  try {
    const base = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`switchboard did not start:\n${err}`)), 20000);
      server.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/listening on (http:\/\/\S+)/);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
      server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`switchboard exited ${code}:\n${err}`)); });
    });
    return { base, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Headless chromium: no sandbox (root), no background traffic to Google on a closed network. */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Signs in over HTTP; resolves with the answer's status, its JSON and the session cookie to send on. */
export async function signIn(base, username = 'demo', password = 'demo') {
  const res = await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json', Origin: base },
    body: JSON.stringify({ username, password }) });
  return { status: res.status, user: await res.json(), cookie: res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') };
}

/** Twilio's `X-Twilio-Signature` of a form POST of `params` to `url`, signed with `token`. */
export function twilioSignature(token, url, params) {
  const signed = url + Object.keys(params).sort().map((k) => k + params[k]).join('');
  return createHmac('sha1', token).update(signed).digest('base64');
}
