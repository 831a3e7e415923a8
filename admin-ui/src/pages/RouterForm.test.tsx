import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { RouterForm, type RtbRouter } from './RouterForm';
import { fakeFetch, json } from '../test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const targets = [{ id: 't1', name: 'Alpha' }, { id: 't2', name: 'Beta' }];

describe('RouterForm', () => {
  it('creates a router with its bidders and a decimal floor price', async () => {
    const sent = fakeFetch(() => json(201, {}));
    render(<RouterForm targets={targets} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Auto');
    await u.click(screen.getByLabelText('Ask Beta'));
    await u.clear(screen.getByLabelText('Beta weight'));
    await u.type(screen.getByLabelText('Beta weight'), '3');
    await u.clear(screen.getByLabelText('Floor price'));
    await u.type(screen.getByLabelText('Floor price'), '2.5');
    await u.click(screen.getByRole('button', { name: 'Create router' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/rtb/routers' });
    expect(sent[0].body).toEqual({ name: 'Auto', targets: [{ targetId: 't2', priority: 1, weight: 3 }], biddingTimeoutMs: 1000,
      minBiddersRequired: 1, floorPrice: '2.5', status: 'active' });
  });

  it("edits with If-Match and shows the API's error on a bidder's row", async () => {
    const router: RtbRouter = { id: 'r1', tenantId: 't1', createdAt: '2026-11-26T00:00:00Z', name: 'Auto', targets: [{ targetId: 't2', priority: 1, weight: 1 }, { targetId: 't1', priority: 2, weight: 1 }],
      biddingTimeoutMs: 800, minBiddersRequired: 1, floorPrice: '2.5', status: 'active', version: 6 };
    const sent = fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [{ field: 'targets[1].priority', message: 'must be at least 1' }] } }));
    render(<RouterForm router={router} targets={targets} />);
    expect((screen.getByLabelText('Floor price') as HTMLInputElement).value).toBe('2.50');
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Save router' }));
    await waitFor(() => expect(screen.getByLabelText('Alpha priority').getAttribute('aria-invalid')).toBe('true'));
    expect(screen.getByLabelText('Beta priority').getAttribute('aria-invalid')).toBeNull();
    expect(sent[0].headers['if-match']).toBe('"6"');
    expect((sent[0].body as { targets: unknown }).targets).toEqual([{ targetId: 't2', priority: 1, weight: 1 }, { targetId: 't1', priority: 2, weight: 1 }]);
  });
});
