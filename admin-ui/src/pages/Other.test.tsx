import { afterEach, describe, expect, it, vi } from 'vitest';
import { act, screen, waitFor, within } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { App } from '../App';
import { callQuery, exportCsv } from './Calls';
import { JsonEditor, parseEditor } from './Resources';
import { fakeFetch, json } from '../test/fetch';
import { api } from '../api';
import { metrics } from '../test/metrics';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

describe('calls', () => {
  it('exports every page as one CSV, following X-Next-Cursor, with one header line', async () => {
    const sent = fakeFetch((req) => {
      const cursor = new URL(req.url, 'http://x').searchParams.get('cursor');
      return cursor
        ? new Response('id,from\nc2,+1555\n', { headers: { 'Content-Type': 'text/csv' } })
        : new Response('id,from\nc1,+1444\n', { headers: { 'Content-Type': 'text/csv', 'X-Next-Cursor': 'k1' } });
    });
    const csv = await exportCsv({ campaignId: 'c9', buyerId: '', publisherId: '', status: 'completed', from: '', to: '', caller: '' });
    expect(csv).toBe('id,from\nc1,+1444\nc2,+1555\n');
    expect(sent.map((r) => r.headers.accept)).toEqual(['text/csv', 'text/csv']);
    expect(sent[0].url).toBe('/api/calls?campaignId=c9&status=completed&limit=500');
    expect(sent[1].url).toBe('/api/calls?campaignId=c9&status=completed&cursor=k1&limit=500');
  });

  it('sends time filters as RFC 3339', () => {
    const q = callQuery({ campaignId: '', buyerId: '', publisherId: 'p7', status: '', from: '2026-11-01T00:00', to: '', caller: ' +15551230000 ' });
    expect(q.publisherId).toBe('p7');
    expect(q.from).toBe(new Date('2026-11-01T00:00').toISOString());
    expect(q.to).toBeUndefined();
    expect(q.caller).toBe('+15551230000');
  });
});

describe('JSON editor', () => {
  it('refuses text that is not a JSON object before sending', async () => {
    expect(parseEditor('[1]').error).toMatch(/JSON object/);
    expect(parseEditor('{"a":').error).toMatch(/not valid JSON/);
    const onSubmit = vi.fn();
    render(<JsonEditor initial={{ name: 'x' }} label="Pool (JSON)" submitLabel="Save pool" save={onSubmit} />);
    const u = userEvent.setup();
    await u.clear(screen.getByLabelText('Pool (JSON)'));
    await u.type(screen.getByLabelText('Pool (JSON)'), '{{"name": ');
    await u.click(screen.getByRole('button', { name: 'Save pool' }));
    expect(onSubmit).not.toHaveBeenCalled();
    expect(screen.getByLabelText('Pool (JSON)').getAttribute('aria-invalid')).toBe('true');
  });

  it('keeps money typed as a JSON number as its decimal text, never a float', () => {
    const v = parseEditor('{"floorPrice": 2.10, "revenue": 12345678.99, "big": {"amount": 1234567890123456.78}, "biddingTimeoutMs": 1000}').value!;
    expect(v.floorPrice).toBe('2.10');
    expect(v.revenue).toBe('12345678.99');
    expect((v.big as Record<string, unknown>).amount).toBe('1234567890123456.78');
    expect(v.biddingTimeoutMs).toBe(1000);
  });

  it("lists the API's field errors", async () => {
    fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [{ field: 'numbers[0]', message: 'is not in the inventory' }] } }));
    render(<JsonEditor initial={{ name: 'x', numbers: ['+15550009999'] }} label="Pool (JSON)" submitLabel="Save pool"
      save={(v) => api.post('/api/pools', v)} />);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Save pool' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/numbers\[0\].*is not in the inventory/);
  });
});

describe('App', () => {
  it('shows the login page when not signed in, then the user and tenant', async () => {
    fakeFetch((req) => {
      if (req.url === '/api/auth/user') return json(401, { error: { code: 'unauthorized', message: 'sign in' } });
      if (req.url === '/api/auth/login') return json(200, { id: 'u1', username: 'ann', role: 'manager', tenantId: 't1', tenantName: 'Acme Leads' });
      if (req.url === '/api/reports/live') return json(200, { live: 0, campaigns: [], buyers: [] });
      if (req.url.startsWith('/api/reports/timeseries')) return json(200, { from: '', to: '', tz: 'America/Chicago', interval: 'hour', buckets: [] });
      if (req.url.startsWith('/api/reports/summary')) {
        return json(200, { from: '', to: '', tz: 'America/Chicago', groupBy: 'campaign', rows: [], totals: { currency: 'USD', metrics: metrics() } });
      }
      return json(200, { items: [], nextCursor: null });
    });
    render(<App />);
    const u = userEvent.setup();
    await u.type(await screen.findByLabelText('Username'), 'ann');
    await u.type(screen.getByLabelText('Password'), 'secret123');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByTestId('username')).textContent).toBe('ann');
    expect(screen.getByTestId('tenant').textContent).toBe('Acme Leads');
    // Staff land on Reports.
    expect(await screen.findByRole('heading', { level: 1, name: 'Reports' })).toBeTruthy();
    expect(await screen.findByRole('table', { name: 'By campaign' })).toBeTruthy();
  });

  it('shows the calls in progress in the header, read again when a call event streams in; sign-out closes the stream', async () => {
    const streams: FakeEventSource[] = [];
    class FakeEventSource {
      listeners = new Map<string, () => void>();
      closed = false;
      onerror: (() => void) | null = null;
      onopen: (() => void) | null = null;
      constructor(readonly url: string) { streams.push(this); }
      addEventListener(name: string, f: () => void) { this.listeners.set(name, f); }
      close() { this.closed = true; }
    }
    vi.stubGlobal('EventSource', FakeEventSource);
    let live = 2;
    const sent = fakeFetch((req) => {
      if (req.url === '/api/auth/user') return json(200, { id: 'u1', username: 'ann', role: 'viewer', tenantId: 't1', tenantName: 'Acme Leads' });
      if (req.url === '/api/reports/live') return json(200, { live, campaigns: [], buyers: [] });
      if (req.url === '/api/auth/logout') return json(204, null);
      return json(200, { items: [], nextCursor: null });
    });
    window.location.hash = '#/campaigns';
    render(<App />);
    await waitFor(() => expect(screen.getByTestId('live-calls').textContent).toBe('2'));
    expect(streams.map((s) => s.url)).toEqual(['/api/events']);
    live = 3;
    streams[0].listeners.get('incoming')!();
    await waitFor(() => expect(screen.getByTestId('live-calls').textContent).toBe('3'));
    // A burst of events is one read.
    const reads = () => sent.filter((r) => r.url === '/api/reports/live').length;
    const before = reads();
    live = 1;
    streams[0].listeners.get('completed')!();
    streams[0].listeners.get('finalized')!();
    await waitFor(() => expect(screen.getByTestId('live-calls').textContent).toBe('1'));
    expect(reads()).toBe(before + 1);
    // The stream failed: the count is polled until it is back.
    act(() => streams[0].onerror!());
    expect(screen.getByTestId('live-calls').parentElement!.title).toMatch(/every 10 s/);
    act(() => streams[0].onopen!());
    expect(screen.getByTestId('live-calls').parentElement!.title).toMatch(/live/);

    await userEvent.setup().click(screen.getByRole('button', { name: 'Sign out' }));
    await screen.findByRole('button', { name: 'Sign in' });
    expect(streams[0].closed).toBe(true);
  });

  it('routes #/pixels/deliveries to the delivery log, marked in the navigation as Deliveries, not Pixels', async () => {
    vi.stubGlobal('EventSource', class { addEventListener() {} close() {} });
    fakeFetch((req) => {
      if (req.url === '/api/auth/user') return json(200, { id: 'u1', username: 'ann', role: 'manager', tenantId: 't1', tenantName: 'Acme Leads' });
      if (req.url === '/api/reports/live') return json(200, { live: 0, campaigns: [], buyers: [] });
      return json(200, { items: [], nextCursor: null });
    });
    window.location.hash = '#/pixels/deliveries';
    render(<App />);
    expect(await screen.findByRole('heading', { level: 1, name: 'Deliveries' })).toBeTruthy();
    const nav = screen.getByRole('navigation');
    expect(within(nav).getByRole('link', { name: 'Deliveries' }).getAttribute('aria-current')).toBe('page');
    expect(within(nav).getByRole('link', { name: 'Deliveries' }).getAttribute('href')).toBe('#/pixels/deliveries');
    expect(within(nav).getByRole('link', { name: 'Pixels' }).getAttribute('aria-current')).toBeNull();
    expect(document.title).toBe('Deliveries · Switchboard');
    window.location.hash = '#/pixels/new';
    expect(await screen.findByRole('heading', { level: 1, name: 'New pixel' })).toBeTruthy();
    expect(within(nav).getByRole('link', { name: 'Pixels' }).getAttribute('aria-current')).toBe('page');
    window.location.hash = '';
  });

  it('a 401 from any page sends the user back to the login page', async () => {
    fakeFetch((req) => {
      if (req.url === '/api/auth/user') return json(200, { id: 'u1', username: 'ann', role: 'manager', tenantId: 't1', tenantName: 'Acme Leads' });
      return json(401, { error: { code: 'unauthorized', message: 'sign in or send an api key' } });
    });
    window.location.hash = '#/buyers';
    render(<App />);
    await screen.findByRole('button', { name: 'Sign in' });
    expect(screen.getByRole('status').textContent).toMatch(/session ended/);
    await waitFor(() => expect(screen.queryByTestId('username')).toBeNull());
  });
});

describe('settings', () => {
  it('keeps the stored auth token unless a new one is typed, and sends the version loaded', async () => {
    const { SettingsPage } = await import('./Settings');
    const tenant = { id: 't1', name: 'Acme Leads', twilioAccountSid: 'AC1', twilioAuthTokenSet: true, timezone: 'America/Chicago', version: 2 };
    const sent = fakeFetch((req) => {
      if (req.url === '/api/tenant' && req.method === 'GET') return json(200, tenant);
      if (req.url === '/api/tenant') return json(200, { ...tenant, version: (req.body as { version?: number }).version ?? 3 });
      return json(200, []);
    });
    render(<SettingsPage />);
    const u = userEvent.setup();
    await u.clear(await screen.findByLabelText('Tenant name'));
    await u.type(screen.getByLabelText('Tenant name'), 'Acme');
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await screen.findByText('Settings saved.');
    const puts = sent.filter((r) => r.method === 'PUT');
    expect(puts[0].body).toEqual({ name: 'Acme', twilioAccountSid: 'AC1', timezone: 'America/Chicago', publisherSeesCallerNumbers: false });
    expect(puts[0].headers['if-match']).toBe('"2"');

    await u.click(screen.getByLabelText('Remove the auth token (webhooks are then refused)'));
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(sent.filter((r) => r.method === 'PUT')).toHaveLength(2));
    expect(sent.filter((r) => r.method === 'PUT')[1].body).toEqual({ name: 'Acme', twilioAccountSid: 'AC1', timezone: 'America/Chicago',
      publisherSeesCallerNumbers: false, twilioAuthToken: '' });

    await u.click(screen.getByLabelText("Publishers see their callers' whole numbers (otherwise only the last 4 digits)"));
    await u.click(screen.getByRole('button', { name: 'Save settings' }));
    await waitFor(() => expect(sent.filter((r) => r.method === 'PUT')).toHaveLength(3));
    expect(sent.filter((r) => r.method === 'PUT')[2].body).toMatchObject({ publisherSeesCallerNumbers: true });
  });
});
