// The data layer as a user notices it: a page seen before shows at once
// from the cache while it is read again; a save shows in the lists on the
// screen; signing out forgets what the last user saw.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from './test/render';
import { fakeFetch, json } from './test/fetch';
import { App } from './App';
import { BuyerForm, BuyerList } from './pages/Buyers';
import type { Buyer } from './types';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const buyer = (id: string, name: string): Buyer => ({
  id, tenantId: 't1', name, company: '', contact: '', phoneNumber: '+15550002001', status: 'active', timezone: 'UTC',
  concurrencyLimit: null, hourlyCap: null, dailyCap: null, monthlyCap: null, totalCap: null, schedule: null,
  geo: { allowStates: [], denyStates: [], allowZips: [], denyZips: [] }, filters: [], conversionSeconds: 60, revenue: '10', currency: 'USD', version: 1,
});
const ann = { id: 'u1', username: 'ann', role: 'manager', tenantId: 't1', tenantName: 'Acme Leads' };
const bob = { id: 'u2', username: 'bob', role: 'manager', tenantId: 't2', tenantName: 'Other Leads' };
const empty = { items: [], nextCursor: null };

describe('the data layer', () => {
  it('shows a list seen before at once, while it is read again', async () => {
    let hold = false;
    let reads = 0;
    fakeFetch((req) => {
      if (req.url === '/api/auth/user') return json(200, ann);
      if (req.url.startsWith('/api/buyers?')) {
        reads++;
        if (hold) return new Promise<Response>(() => {});
      }
      return json(200, req.url.startsWith('/api/buyers?') ? { items: [buyer('b1', 'Acme Insurance')], nextCursor: null } : empty);
    });
    window.location.hash = '#/buyers';
    render(<App />);
    await screen.findByRole('link', { name: 'Acme Insurance' });
    window.location.hash = '#/campaigns';
    await screen.findByRole('heading', { level: 1, name: 'Campaigns' });
    // Back to buyers: the server is slow now; the list seen is there meanwhile.
    hold = true;
    const before = reads;
    window.location.hash = '#/buyers';
    await screen.findByRole('heading', { level: 1, name: 'Buyers' });
    expect(screen.getByRole('link', { name: 'Acme Insurance' })).toBeTruthy();
    expect(screen.queryByText('Loading…')).toBeNull();
    await waitFor(() => expect(reads).toBe(before + 1));
  });

  it('a saved buyer shows in the list on the same screen without a reload', async () => {
    const stored = [buyer('b1', 'Acme Insurance')];
    fakeFetch((req) => {
      if (req.method === 'POST') {
        const made = { ...buyer('b2', 'Delta Dental'), ...(req.body as object) };
        stored.push(made);
        return json(201, made);
      }
      return json(200, { items: stored, nextCursor: null });
    });
    render(<><BuyerList /><BuyerForm onSaved={() => {}} /></>);
    await screen.findByRole('link', { name: 'Acme Insurance' });
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Delta Dental');
    await u.type(screen.getByLabelText('Phone number'), '+15550002999');
    await u.click(screen.getByRole('button', { name: 'Create buyer' }));
    const row = (await screen.findByRole('link', { name: 'Delta Dental' })).closest('tr') as HTMLElement;
    expect(within(row).getByText('+15550002999')).toBeTruthy();
  });

  it("after signing out, the next user never sees the last one's data", async () => {
    let user: typeof ann | null = ann;
    let bobsBuyers: (r: Response) => void = () => {};
    fakeFetch((req) => {
      if (req.url === '/api/auth/user') return user ? json(200, user) : json(401, { error: { code: 'unauthorized', message: 'sign in' } });
      if (req.url === '/api/auth/logout') { user = null; return new Response(null, { status: 204 }); }
      if (req.url === '/api/auth/login') { user = bob; return json(200, bob); }
      if (req.url.startsWith('/api/buyers?') && user === bob) return new Promise<Response>((resolve) => { bobsBuyers = resolve; });
      if (req.url.startsWith('/api/buyers?')) return json(200, { items: [buyer('b1', 'Acme Insurance')], nextCursor: null });
      return json(200, empty);
    });
    window.location.hash = '#/buyers';
    render(<App />);
    await screen.findByRole('link', { name: 'Acme Insurance' });
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Sign out' }));
    await u.type(await screen.findByLabelText('Username'), 'bob');
    await u.type(screen.getByLabelText('Password'), 'secret123');
    await u.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByTestId('username')).textContent).toBe('bob');
    await screen.findByRole('heading', { level: 1, name: 'Buyers' });
    expect(screen.queryByText('Acme Insurance')).toBeNull();
    bobsBuyers(json(200, { items: [buyer('b7', 'Bob Buyer')], nextCursor: null }));
    await screen.findByRole('link', { name: 'Bob Buyer' });
    expect(screen.queryByText('Acme Insurance')).toBeNull();
  });
});
