import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { TargetForm } from './TargetForm';
import { fakeFetch, json } from '../test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const stored = {
  id: 't1', tenantId: 'x', name: 'Alpha', company: '', contact: '', endpointUrl: 'https://bids.example/ping', httpMethod: 'POST', contentType: 'json',
  headers: { 'X-Source': 'sb' }, authType: 'bearer', authHeader: 'X-API-Key', authUsername: null, authConfigured: true,
  requestBody: '{}', timeoutMs: 400, bidAmountPath: 'bid', destinationNumberPath: 'number', acceptancePath: null, currencyPath: null,
  durationPath: null, expiryPath: null, rejectReasonPath: null, concurrencyLimit: 5, hourlyCap: null, dailyCap: null, monthlyCap: null,
  totalCap: null, timezone: 'UTC', schedule: { monday: [{ open: '09:00', close: '17:00' }] }, minBidAmount: '1.5', maxBidAmount: '40.0',
  currency: 'USD', geo: { allowStates: ['CA'], denyStates: [], allowZips: [], denyZips: [] }, status: 'active', version: 7, createdAt: '2026-11-26T00:00:00Z',
};

describe('TargetForm', () => {
  it('replaces the target with the form laid over it: schedule and geography kept, the token only when typed, money as text', async () => {
    const sent = fakeFetch(() => json(200, {}));
    render(<TargetForm target={stored} />);
    expect((screen.getByLabelText('Minimum bid') as HTMLInputElement).value).toBe('1.50');
    const u = userEvent.setup();
    await u.clear(screen.getByLabelText('Daily cap'));
    await u.type(screen.getByLabelText('Daily cap'), '20');
    await u.type(screen.getByLabelText('Extra headers'), '{Enter}X-Key: 1');
    await u.click(screen.getByRole('button', { name: 'Save target' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    const body = sent[0].body as Record<string, unknown>;
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/rtb/targets/t1' });
    expect(sent[0].headers['if-match']).toBe('"7"');
    expect(body).toMatchObject({ dailyCap: 20, concurrencyLimit: 5, minBidAmount: '1.50', maxBidAmount: '40.00', acceptancePath: null,
      schedule: stored.schedule, geo: stored.geo, headers: { 'X-Source': 'sb', 'X-Key': '1' } });
    expect('authToken' in body).toBe(false);
    expect('authConfigured' in body).toBe(false);

    await u.type(screen.getByLabelText('Bearer token'), 's3cret');
    await u.click(screen.getByRole('button', { name: 'Save target' }));
    await waitFor(() => expect(sent).toHaveLength(2));
    expect((sent[1].body as Record<string, unknown>).authToken).toBe('s3cret');
  });
});

describe('the content type', () => {
  const options = () => Array.from((screen.getByLabelText('Content type') as HTMLSelectElement).options).map((o) => o.value);

  it('is chosen among the MIME types, application/json first, and sent as chosen', async () => {
    const sent = fakeFetch(() => json(201, {}));
    render(<TargetForm />);
    expect(options()).toEqual(['application/json', 'application/x-www-form-urlencoded', 'application/xml', 'text/xml']);
    expect((screen.getByLabelText('Content type') as HTMLSelectElement).value).toBe('application/json');
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Beta');
    await u.selectOptions(screen.getByLabelText('Content type'), 'text/xml');
    await u.click(screen.getByRole('button', { name: 'Create target' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect((sent[0].body as Record<string, unknown>).contentType).toBe('text/xml');
  });

  it('shows the stored value selected, an old short name too, and sends it back unchanged', async () => {
    const sent = fakeFetch(() => json(200, {}));
    const { unmount } = render(<TargetForm target={{ ...stored, contentType: 'application/x-www-form-urlencoded' }} />);
    expect((screen.getByLabelText('Content type') as HTMLSelectElement).value).toBe('application/x-www-form-urlencoded');
    expect(options()).toHaveLength(4);
    unmount();

    render(<TargetForm target={stored} />);
    expect((screen.getByLabelText('Content type') as HTMLSelectElement).value).toBe('json');
    expect(options()).toEqual(['json', 'application/json', 'application/x-www-form-urlencoded', 'application/xml', 'text/xml']);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Save target' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect((sent[0].body as Record<string, unknown>).contentType).toBe('json');
  });
});
