/// <reference types="vitest/config" />
// The console is served by the Switchboard server itself (`--console-dir`,
// at `/` and `/assets/*`), on the same origin as the API. `npm run dev`
// proxies /api to a running server (SWITCHBOARD_URL, default 127.0.0.1:8080)
// so the session cookie stays same-origin.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// (Node's `process`, without pulling in all of @types/node.)
declare const process: { env: Record<string, string | undefined> };
const target = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true },
  server: {
    // The server checks Origin on cookie writes: present ours as its own.
    proxy: { '/api': { target, changeOrigin: true, headers: { Origin: target } } },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    // A test types into whole forms: on a loaded machine that passes the
    // default 5 s, and a timed-out test keeps clicking in the next one's page.
    testTimeout: 30000,
  },
});
