import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { fakeFetch, json } from '../test/fetch';
import { PublisherForm } from './PublisherForm';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

describe('PublisherForm', () => {
  it('creates a publisher (an empty sub id is none) and edits it with If-Match', async () => {
    const sent = fakeFetch(() => json(201, {}));
    const u = userEvent.setup();
    const { unmount } = render(<PublisherForm />);
    await u.type(screen.getByLabelText('Name'), ' Leads Co ');
    await u.type(screen.getByLabelText('Contact'), 'ops@leads.example');
    await u.type(screen.getByLabelText('Daily cap'), 'ten');
    await u.click(screen.getByRole('button', { name: 'Create publisher' }));
    expect(screen.getByLabelText('Daily cap').getAttribute('aria-invalid')).toBe('true');
    expect(sent).toHaveLength(0);
    await u.clear(screen.getByLabelText('Daily cap'));
    await u.type(screen.getByLabelText('Daily cap'), '10');
    await u.click(screen.getByRole('button', { name: 'Create publisher' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/publishers',
      body: { name: 'Leads Co', company: '', contact: 'ops@leads.example', status: 'active', subId: null,
        concurrencyLimit: null, dailyCap: 10, monthlyCap: null } });
    unmount();

    render(<PublisherForm publisher={{ id: 'p1', tenantId: 't1', name: 'Leads Co', company: '', contact: '', status: 'active',
      concurrencyLimit: 2, dailyCap: null, monthlyCap: null, createdAt: '2026-12-03T00:00:00Z', version: 4 }} />);
    await u.selectOptions(screen.getByLabelText('Status'), 'paused');
    await u.type(screen.getByLabelText('Sub ID'), 'pub-7');
    await u.click(screen.getByRole('button', { name: 'Save publisher' }));
    await waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1]).toMatchObject({ method: 'PUT', url: '/api/publishers/p1', body: { status: 'paused', subId: 'pub-7', concurrencyLimit: 2 } });
    expect(sent[1].headers['if-match']).toBe('"4"');
  });

  it("shows the API's 422 next to the field it names", async () => {
    fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [{ field: 'subId', message: "must be 1 to 100 letters, digits, '_', '-' or '.'" }] } }));
    const u = userEvent.setup();
    render(<PublisherForm />);
    await u.type(screen.getByLabelText('Name'), 'Leads Co');
    await u.type(screen.getByLabelText('Sub ID'), 'has space');
    await u.click(screen.getByRole('button', { name: 'Create publisher' }));
    await screen.findByText("must be 1 to 100 letters, digits, '_', '-' or '.'");
    expect(screen.getByLabelText('Sub ID').getAttribute('aria-invalid')).toBe('true');
  });
});
