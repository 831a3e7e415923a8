import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { PoolForm, type Pool } from './PoolForm';
import { fakeFetch, json } from '../test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const pool: Pool = { id: 'p1', tenantId: 't1', createdAt: '2026-11-26T00:00:00Z', name: 'Web', numbers: ['+15550001100'], fallbackNumber: '+15550001000', sessionTimeoutSeconds: 1800,
  closedBrowserDelaySeconds: 30, status: 'active', version: 4 };
const inventory = [
  { id: 'n1', phoneNumber: '+15550001100', poolId: 'p1' },
  { id: 'n2', phoneNumber: '+15550001101', friendlyName: 'spare' },
  { id: 'n3', phoneNumber: '+15550001102', poolId: 'p9' },
  { id: 'n4', phoneNumber: '+15550001000', campaignId: 'c1' },
];

describe('PoolForm', () => {
  it("picks numbers from the inventory, not other pools' or campaigns', and saves with If-Match", async () => {
    const sent = fakeFetch(() => json(200, { ...pool, version: 5 }));
    render(<PoolForm pool={pool} inventory={inventory} />);
    expect((screen.getByRole('checkbox', { name: /\+15550001102/ }) as HTMLInputElement).disabled).toBe(true);
    expect((screen.getByRole('checkbox', { name: /\+15550001000/ }) as HTMLInputElement).disabled).toBe(true);
    const u = userEvent.setup();
    await u.click(screen.getByRole('checkbox', { name: /\+15550001101 \(spare\)/ }));
    await u.click(screen.getByRole('checkbox', { name: /\+15550001100/ }));
    await u.clear(screen.getByLabelText('Fallback number'));
    await u.click(screen.getByRole('button', { name: 'Save pool' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/pools/p1' });
    expect(sent[0].headers['if-match']).toBe('"4"');
    expect(sent[0].body).toEqual({ name: 'Web', numbers: ['+15550001101'], fallbackNumber: null, sessionTimeoutSeconds: 1800,
      closedBrowserDelaySeconds: 30, status: 'active' });
    await waitFor(() => expect(window.location.hash).toBe('#/pools'));
  });

  it("shows the API's errors about the numbers and the fields", async () => {
    fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [
      { field: 'numbers[0]', message: 'is not in the inventory' }, { field: 'sessionTimeoutSeconds', message: 'must be at least 60' }] } }));
    render(<PoolForm inventory={inventory} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'New');
    await u.click(screen.getByRole('button', { name: 'Create pool' }));
    expect(await screen.findByText('numbers[0]: is not in the inventory')).toBeTruthy();
    expect(screen.getByLabelText('Session timeout seconds').getAttribute('aria-invalid')).toBe('true');
  });
});
