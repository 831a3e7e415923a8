import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { NumberForm } from './NumberForm';
import { fakeFetch, json } from '../test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

describe('NumberForm', () => {
  it('adds a number; edits only its label, status and publisher, with If-Match', async () => {
    const sent = fakeFetch(() => json(201, {}));
    const u = userEvent.setup();
    const { unmount } = render(<NumberForm />);
    await u.type(screen.getByLabelText('Phone number'), '(555) 000-7001');
    await u.type(screen.getByLabelText('Friendly name'), 'spare');
    await u.click(screen.getByRole('button', { name: 'Add number' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/numbers', body: { phoneNumber: '(555) 000-7001', friendlyName: 'spare', status: 'active', publisherId: null } });
    unmount();

    render(<NumberForm number={{ id: 'n1', tenantId: 't1', phoneNumber: '+15550007001', friendlyName: 'spare', status: 'active', poolId: null, campaignId: null,
      createdAt: '2026-11-26T00:00:00Z', version: 2 }} publishers={[{ id: 'p1', name: 'Leads Co' }]} />);
    expect(screen.queryByLabelText('Phone number')).toBeNull();
    await u.selectOptions(screen.getByLabelText('Status'), 'paused');
    await u.selectOptions(screen.getByLabelText('Publisher'), 'p1');
    await u.click(screen.getByRole('button', { name: 'Save number' }));
    await waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1]).toMatchObject({ method: 'PUT', url: '/api/numbers/n1', body: { friendlyName: 'spare', status: 'paused', publisherId: 'p1' } });
    expect(sent[1].headers['if-match']).toBe('"2"');
  });
});
