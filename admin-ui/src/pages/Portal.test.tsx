import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { App } from '../App';
import { fakeFetch, json } from '../test/fetch';
import { publisherMetrics } from '../test/metrics';
import { UsersPage } from './Admin';
import type { PublisherCall } from '../types';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const me = { id: 'u1', username: 'leads', role: 'publisher', publisherId: 'p1', tenantId: 't1', tenantName: 'Acme Leads' };
const call: PublisherCall = {
  id: 'c1', campaignId: 'k1', campaignName: 'Auto insurance', from: '+*******4321', to: '+15550700001', callerState: 'CA', callerZip: null,
  status: 'completed', rejectReason: null, duplicate: false, tags: {}, startedAt: '2026-12-03T10:00:00Z', answeredAt: null, endedAt: null,
  durationSeconds: 61, converted: true, payout: '5.00', payoutMinor: 500, currency: 'USD', publisherId: 'p1',
};

describe("a publisher's login", () => {
  it('shows only its own pages: calls with the payout and a masked caller, numbers, and its publisher', async () => {
    const sent = fakeFetch((req) => {
      if (req.url === '/api/auth/user') return json(200, me);
      if (req.url.startsWith('/api/calls')) return json(200, { items: [call], nextCursor: null });
      if (req.url.startsWith('/api/numbers')) return json(200, { items: [{ id: 'n1', phoneNumber: '+15550700001', friendlyName: 'Main', status: 'active' }] });
      if (req.url === '/api/publishers/p1') return json(200, { id: 'p1', name: 'Leads Co', company: 'Leads LLC', contact: '', status: 'active', dailyCap: 100 });
      if (req.url.startsWith('/api/reports/timeseries')) return json(200, { from: '', to: '', tz: 'UTC', interval: 'hour', buckets: [] });
      if (req.url.startsWith('/api/reports/summary')) {
        const own = publisherMetrics({ incoming: 1, payoutMinor: 500 });
        return json(200, { from: '', to: '', tz: 'UTC', groupBy: 'campaign', rows: [{ key: 'k1', name: 'Auto insurance', currency: 'USD', metrics: own }],
          totals: { currency: 'USD', metrics: own } });
      }
      return json(403, { error: { code: 'forbidden', message: 'not for a publisher' } });
    });
    render(<App />);
    const nav = await screen.findByRole('navigation', { name: 'Sections' });
    expect(within(nav).getAllByRole('link').map((a) => a.textContent)).toEqual(['My calls', 'My reports', 'My numbers', 'My publisher']);
    const row = (await screen.findByText('+*******4321')).closest('tr')!;
    expect(within(row).getByText('5.00 USD')).toBeTruthy();
    expect(within(row).getByText('Auto insurance')).toBeTruthy();
    const headers = screen.getAllByRole('columnheader').map((h) => h.textContent);
    expect(headers).toContain('Payout');
    for (const hidden of ['Revenue', 'Profit', 'Buyer', 'Publisher']) expect(headers).not.toContain(hidden);

    // Its reports: its own calls' figures, with its payout and no revenue or profit.
    window.location.hash = '#/reports';
    const report = await screen.findByRole('table', { name: 'By campaign' });
    const columns = within(report).getAllByRole('columnheader').map((h) => h.textContent);
    expect(columns).toContain('Payout');
    for (const hidden of ['Revenue', 'Profit', 'Margin']) expect(columns).not.toContain(hidden);
    expect(within(report).getAllByRole('row')[1].textContent).toMatch(/Auto insurance1.*5\.00 USD/);

    window.location.hash = '#/numbers';
    expect(await screen.findByText('+15550700001')).toBeTruthy();
    window.location.hash = '#/publisher';
    expect(await screen.findByText('Leads Co')).toBeTruthy();
    // Staff pages are not there at all, and nothing asked the API for them.
    window.location.hash = '#/buyers';
    expect(await screen.findByText(/There is no page buyers/)).toBeTruthy();
    const asked = sent.map((r) => r.url.split('?')[0]);
    expect(asked.every((u) => ['/api/auth/user', '/api/calls', '/api/numbers', '/api/publishers/p1', '/api/reports/summary',
      '/api/reports/timeseries'].includes(u))).toBe(true);
  });
});

describe('users', () => {
  it('makes a publisher user bound to the publisher picked', async () => {
    const sent = fakeFetch((req) => {
      if (req.url.startsWith('/api/publishers')) return json(200, { items: [{ id: 'p1', name: 'Leads Co' }] });
      if (req.url.startsWith('/api/users') && req.method === 'GET') return json(200, { items: [] });
      if (req.url === '/api/users') return json(201, { id: 'u2', username: 'leads', role: 'publisher', publisherId: 'p1', createdAt: '2026-12-03T10:00:00Z', version: 1 });
      return json(404, {});
    });
    render(<UsersPage />);
    const u = userEvent.setup();
    const form = await screen.findByRole('form', { name: 'New user' });
    await u.type(within(form).getByLabelText('Username'), 'leads');
    await u.type(within(form).getByLabelText('Password'), 'secret123');
    expect(within(form).queryByLabelText('Publisher')).toBeNull();
    await u.selectOptions(within(form).getByLabelText('Role'), 'publisher');
    await waitFor(() => expect(within(form).getByRole('option', { name: 'Leads Co' })).toBeTruthy());
    await u.selectOptions(within(form).getByLabelText('Publisher'), 'p1');
    await u.click(within(form).getByRole('button', { name: 'Create user' }));
    await screen.findByText('Created leads.');
    const post = sent.find((r) => r.method === 'POST');
    expect(post?.body).toEqual({ username: 'leads', password: 'secret123', role: 'publisher', publisherId: 'p1' });
  });
});
