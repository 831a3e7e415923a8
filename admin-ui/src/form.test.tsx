// The one form hook, as every form uses it: a second submit while one is in
// flight sends nothing, and a stale version (409 in the body, 412 in
// If-Match) offers the current version, whose save then names it.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import type { ReactElement } from 'react';
import { render } from './test/render';
import { fakeFetch, json } from './test/fetch';
import { BuyerForm, BuyerList } from './pages/Buyers';
import { CampaignForm } from './pages/Campaigns';
import { NumberForm } from './pages/NumberForm';
import { PoolForm } from './pages/PoolForm';
import { RouterForm } from './pages/RouterForm';
import { TagForm } from './pages/TagForm';
import { NEW_TARGET, TargetForm } from './pages/TargetForm';
import { JsonEditor } from './pages/Resources';
import { api } from './api';
import type { Buyer } from './types';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const acme: Buyer = {
  id: 'b1', tenantId: 't1', name: 'Acme', company: '', contact: '', phoneNumber: '+15550002001', status: 'active', timezone: 'UTC',
  concurrencyLimit: null, hourlyCap: null, dailyCap: null, monthlyCap: null, totalCap: null, schedule: null,
  geo: { allowStates: [], denyStates: [], allowZips: [], denyZips: [] }, filters: [], conversionSeconds: 60, revenue: '10', currency: 'USD', version: 3,
};

// Every form of the console, filled enough to be sent.
const forms: [string, () => ReactElement, string][] = [
  ['buyer', () => <BuyerForm buyer={acme} onSaved={() => {}} />, 'Save buyer'],
  ['campaign', () => <CampaignForm buyers={[acme]} pools={[]} routers={[]} publishers={[]} onSaved={() => {}} />, 'Create campaign'],
  ['number', () => <NumberForm />, 'Add number'],
  ['pool', () => <PoolForm inventory={[]} />, 'Create pool'],
  ['tracking tag', () => <TagForm pools={[]} campaigns={[]} />, 'Create tag'],
  ['RTB router', () => <RouterForm targets={[]} />, 'Create router'],
  ['RTB target', () => <TargetForm />, 'Create target'],
  ['JSON editor', () => <JsonEditor initial={{ name: 'x' }} label="JSON" submitLabel="Save" save={(v) => api.post('/api/pools', v)} />, 'Save'],
];

describe('every form', () => {
  it.each(forms)('the %s form sends once however often it is submitted while saving', async (_, form, button) => {
    let answer: (r: Response) => void = () => {};
    const sent = fakeFetch(() => new Promise<Response>((resolve) => { answer = resolve; }));
    render(form());
    const submit = screen.getByRole('button', { name: button });
    // Two submits before the first is answered (a double click, Enter twice).
    fireEvent.submit(submit.closest('form')!);
    fireEvent.submit(submit.closest('form')!);
    await waitFor(() => expect((submit as HTMLButtonElement).disabled).toBe(true));
    fireEvent.submit(submit.closest('form')!);
    expect(sent).toHaveLength(1);
    answer(json(201, { id: 'x1', version: 1 }));
    await waitFor(() => expect((submit as HTMLButtonElement).disabled).toBe(false));
    expect(sent).toHaveLength(1);
  });
});

describe('a list action', () => {
  it('a delete clicked twice is sent once', async () => {
    vi.stubGlobal('confirm', () => true);
    let answer: (r: Response) => void = () => {};
    const sent = fakeFetch((req) => (req.method === 'DELETE'
      ? new Promise<Response>((resolve) => { answer = resolve; })
      : json(200, { items: [acme], nextCursor: null })));
    render(<BuyerList />);
    const del = await screen.findByRole('button', { name: 'Delete Acme' });
    fireEvent.click(del);
    fireEvent.click(del);
    await waitFor(() => expect(sent.filter((r) => r.method === 'DELETE')).toHaveLength(1));
    answer(new Response(null, { status: 204 }));
    // The list is read again after it.
    await waitFor(() => expect(sent.filter((r) => r.method === 'GET')).toHaveLength(2));
    expect(sent.filter((r) => r.method === 'DELETE')).toHaveLength(1);
  });
});

describe('a stale version', () => {
  it('refused with 412 (If-Match) offers the current version, and the next save names it', async () => {
    const sent = fakeFetch((req) => {
      if (req.method === 'PUT' && req.headers['if-match'] === '"3"') {
        return json(412, { error: { code: 'precondition_failed', message: 'buyer changed: version 3 is no longer current' } });
      }
      if (req.method === 'PUT') return json(200, { ...acme, version: 6 });
      return json(200, { ...acme, name: 'Acme (renamed)', version: 5 });
    });
    const onSaved = vi.fn();
    render(<BuyerForm buyer={acme} onSaved={onSaved} />);
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Save buyer' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Someone else changed this since you loaded it/);
    expect(onSaved).not.toHaveBeenCalled();
    await u.click(screen.getByRole('button', { name: 'Reload the current version' }));
    await waitFor(() => expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('Acme (renamed)'));
    expect(screen.queryByRole('alert')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Save buyer' }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(sent.filter((r) => r.method === 'PUT').map((r) => r.headers['if-match'])).toEqual(['"3"', '"5"']);
    expect(sent.filter((r) => r.method === 'GET').map((r) => r.url)).toEqual(['/api/buyers/b1']);
  });

  it.each<[string, () => ReactElement, string, string]>([
    ['pool', () => <PoolForm pool={{ id: 'p1', tenantId: 't1', createdAt: '', name: 'Web', numbers: [], fallbackNumber: null, sessionTimeoutSeconds: 1800,
      closedBrowserDelaySeconds: 30, status: 'active', version: 2 }} inventory={[]} />, 'Save pool', '/api/pools/p1'],
    ['number', () => <NumberForm number={{ id: 'n1', tenantId: 't1', createdAt: '', phoneNumber: '+15550007001', friendlyName: null, status: 'active',
      poolId: null, campaignId: null, version: 2 }} />, 'Save number', '/api/numbers/n1'],
    ['RTB router', () => <RouterForm router={{ id: 'r1', tenantId: 't1', createdAt: '', name: 'Auto', targets: [], biddingTimeoutMs: 800,
      minBiddersRequired: 1, floorPrice: '1', status: 'active', version: 2 }} targets={[]} />, 'Save router', '/api/rtb/routers/r1'],
    ['RTB target', () => <TargetForm target={{ ...NEW_TARGET, id: 't9', name: 'Alpha', version: 2 }} />, 'Save target', '/api/rtb/targets/t9'],
  ])('the %s form offers the current version after a conflict', async (_, form, button, url) => {
    const sent = fakeFetch((req) => (req.method === 'PUT'
      ? json(409, { error: { code: 'version_conflict', message: 'changed: version 2 is no longer current' } })
      : json(200, { ...NEW_TARGET, id: url.split('/').pop(), name: 'Current', version: 4 })));
    render(form());
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: button }));
    await u.click(await screen.findByRole('button', { name: 'Reload the current version' }));
    await waitFor(() => expect(sent.some((r) => r.method === 'GET' && r.url === url)).toBe(true));
    await waitFor(() => expect(screen.queryByRole('alert')).toBeNull());
    await u.click(screen.getByRole('button', { name: button }));
    await waitFor(() => expect(sent.filter((r) => r.method === 'PUT')).toHaveLength(2));
    expect(sent.filter((r) => r.method === 'PUT')[1].headers['if-match']).toBe('"4"');
  });
});
