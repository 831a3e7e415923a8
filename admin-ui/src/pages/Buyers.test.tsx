import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { BuyerForm, BuyerList, CapacityNow } from './Buyers';
import { fakeFetch, json } from '../test/fetch';
import type { Buyer } from '../types';

afterEach(() => vi.unstubAllGlobals());

const acme: Buyer = {
  id: 'b1', tenantId: 't1', name: 'Acme Insurance', company: 'Acme', contact: '', phoneNumber: '+15550002001', status: 'active',
  timezone: 'America/New_York', concurrencyLimit: 2, hourlyCap: null, dailyCap: 100, monthlyCap: null, totalCap: null,
  schedule: null, geo: { allowStates: [], denyStates: [], allowZips: [], denyZips: [] }, filters: [], conversionSeconds: 60,
  revenue: '25.5', currency: 'USD', version: 3,
};

describe('BuyerForm', () => {
  it('creates a buyer: every field in the body, caps as numbers, revenue as decimal text, tag filters a line each', async () => {
    const sent = fakeFetch(() => json(201, { ...acme, id: 'new', name: 'Delta', version: 1 }));
    const onSaved = vi.fn();
    render(<BuyerForm onSaved={onSaved} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Delta');
    await u.type(screen.getByLabelText('Company'), 'Delta Dental');
    await u.type(screen.getByLabelText('Phone number'), '+15550002999');
    await u.clear(screen.getByLabelText('Time zone'));
    await u.type(screen.getByLabelText('Time zone'), 'America/Denver');
    await u.selectOptions(screen.getByLabelText('Status'), 'paused');
    await u.type(screen.getByLabelText('Concurrency limit'), '3');
    await u.type(screen.getByLabelText('Hourly cap'), '10');
    await u.type(screen.getByLabelText('Daily cap'), '50');
    await u.type(screen.getByLabelText('Monthly cap'), '900');
    await u.type(screen.getByLabelText('Total cap'), '5000');
    await u.clear(screen.getByLabelText('Revenue'));
    await u.type(screen.getByLabelText('Revenue'), '12.5');
    await u.clear(screen.getByLabelText('Conversion seconds'));
    await u.type(screen.getByLabelText('Conversion seconds'), '90');
    await u.type(screen.getByLabelText('Allowed states'), 'CA, NY');
    await u.type(screen.getByLabelText('Tag filters'), 'language in es, pt{enter}gclid exists');
    await u.click(screen.getByRole('button', { name: 'Create buyer' }));

    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(sent).toHaveLength(1);
    expect(sent[0].method).toBe('POST');
    expect(sent[0].url).toBe('/api/buyers');
    expect(sent[0].headers['if-match']).toBeUndefined();
    expect(sent[0].body).toEqual({
      name: 'Delta', company: 'Delta Dental', contact: '', phoneNumber: '+15550002999', status: 'paused',
      timezone: 'America/Denver', concurrencyLimit: 3, hourlyCap: 10, dailyCap: 50, monthlyCap: 900, totalCap: 5000,
      conversionSeconds: 90, revenue: '12.5', currency: 'USD',
      geo: { allowStates: ['CA', 'NY'], denyStates: [], allowZips: [], denyZips: [] }, schedule: null,
      filters: [{ tag: 'language', op: 'in', values: ['es', 'pt'] }, { tag: 'gclid', op: 'exists', values: [] }],
    });
  });

  it("shows the API's 422 field errors next to their fields", async () => {
    fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [
      { field: 'phoneNumber', message: '"555" is not a phone number: use E.164 such as +15550001000' },
      { field: 'timezone', message: '"Mars/Base" is not an IANA time zone such as America/New_York' },
      { field: 'schedule.monday[0].close', message: '"25:00" is not a time HH:MM between 00:00 and 24:00' },
    ] } }));
    render(<BuyerForm onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Delta');
    await u.type(screen.getByLabelText('Phone number'), '555');
    await u.click(screen.getByLabelText('Take calls only during opening hours'));
    await u.click(screen.getByRole('button', { name: 'Create buyer' }));

    const phone = await screen.findByLabelText('Phone number');
    await waitFor(() => expect(phone.getAttribute('aria-invalid')).toBe('true'));
    // The message is the field's description, so a screen reader reads it with the field.
    const describedBy = phone.getAttribute('aria-describedby')!.split(' ');
    const messages = describedBy.map((id) => document.getElementById(id)?.textContent);
    expect(messages).toContain('"555" is not a phone number: use E.164 such as +15550001000');
    expect(screen.getByLabelText('Time zone').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('monday closes').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Name').getAttribute('aria-invalid')).toBeNull();
    expect(screen.getByRole('alert').textContent).toMatch(/Please correct the fields below/);
  });

  it('refuses a revenue with more than two decimals before sending', async () => {
    const sent = fakeFetch(() => json(201, acme));
    render(<BuyerForm onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.clear(screen.getByLabelText('Revenue'));
    await u.type(screen.getByLabelText('Revenue'), '1.005');
    await u.type(screen.getByLabelText('Daily cap'), 'lots');
    await u.click(screen.getByRole('button', { name: 'Create buyer' }));
    expect(sent).toHaveLength(0);
    expect(screen.getByLabelText('Revenue').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('must be an amount such as 25.00 (at most two decimals)')).toBeTruthy();
    expect(screen.getByText('must be a whole number')).toBeTruthy();
  });

  it('edits with the version loaded as If-Match, keeps the revenue exact, and clears a cap', async () => {
    const sent = fakeFetch(() => json(200, { ...acme, version: 4 }));
    const onSaved = vi.fn();
    render(<BuyerForm buyer={acme} onSaved={onSaved} />);
    expect((screen.getByLabelText('Revenue') as HTMLInputElement).value).toBe('25.50');
    const u = userEvent.setup();
    await u.clear(screen.getByLabelText('Daily cap'));
    await u.click(screen.getByRole('button', { name: 'Save buyer' }));
    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/buyers/b1' });
    expect(sent[0].headers['if-match']).toBe('"3"');
    expect(sent[0].body).toMatchObject({ revenue: '25.50', dailyCap: null, concurrencyLimit: 2, timezone: 'America/New_York' });
  });

  it('sends the opening hours as a schedule', async () => {
    const sent = fakeFetch(() => json(200, { ...acme, version: 4 }));
    render(<BuyerForm buyer={acme} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.click(screen.getByLabelText('Take calls only during opening hours'));
    // Saturday and Sunday closed.
    for (const day of ['saturday', 'sunday']) {
      await u.clear(screen.getByLabelText(`${day} opens`));
      await u.clear(screen.getByLabelText(`${day} closes`));
    }
    await u.click(screen.getByRole('button', { name: 'Save buyer' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    const schedule = (sent[0].body as { schedule: Record<string, unknown> }).schedule;
    expect(schedule.monday).toEqual([{ open: '09:00', close: '17:00' }]);
    expect(schedule.saturday).toEqual([]);
    expect(schedule.sunday).toEqual([]);
  });

  it('says clearly when someone else changed the buyer, and reloads their version', async () => {
    let calls = 0;
    const sent = fakeFetch((req) => {
      calls++;
      if (req.method === 'PUT') return json(409, { error: { code: 'version_conflict', message: 'buyer changed: version 3 is no longer current' } });
      return json(200, { ...acme, name: 'Acme (renamed)', version: 5 });
    });
    render(<BuyerForm buyer={acme} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Save buyer' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/Someone else changed this since you loaded it/);
    await u.click(screen.getByRole('button', { name: 'Reload the current version' }));
    await waitFor(() => expect((screen.getByLabelText('Name') as HTMLInputElement).value).toBe('Acme (renamed)'));
    await u.click(screen.getByRole('button', { name: 'Save buyer' }));
    await waitFor(() => expect(calls).toBe(3));
    expect(sent[2].headers['if-match']).toBe('"5"');
  });
});

describe('CapacityNow', () => {
  it("shows the buyer's live counts next to its caps and marks a cap reached", async () => {
    const sent = fakeFetch(() => json(200, { buyerId: 'b1', active: 2, concurrencyLimit: 2, hour: 1, hourlyCap: null,
      day: 7, dailyCap: 100, month: 7, monthlyCap: null, total: 31, totalCap: null }));
    render(<CapacityNow id="b1" />);
    const now = await screen.findByRole('row', { name: /On calls now/ });
    expect(sent[0].url).toBe('/api/buyers/b1/stats');
    expect(now.textContent).toBe('On calls now22');
    expect(now.className).toBe('at-cap');
    const today = screen.getByRole('row', { name: /Today/ });
    expect(today.textContent).toBe('Today7100');
    expect(today.className).toBe('');
    expect(screen.getByRole('row', { name: /This hour/ }).textContent).toBe('This hour1none');
  });
});

describe('BuyerList', () => {
  it('a stale delete says so; reloading the current version clears the message and deletes with the new version', async () => {
    vi.stubGlobal('confirm', () => true);
    let version = 1;
    const sent = fakeFetch((req) => {
      if (req.method === 'DELETE') {
        return req.headers['if-match'] === '"2"'
          ? new Response(null, { status: 204 })
          : json(409, { error: { code: 'version_conflict', message: 'buyer changed: version 1, current 2' } });
      }
      return json(200, { items: [{ ...acme, version }], nextCursor: null });
    });
    const u = userEvent.setup();
    render(<BuyerList />);
    version = 2; // changed elsewhere after the list was read
    await u.click(await screen.findByRole('button', { name: 'Delete Acme Insurance' }));
    await screen.findByText(/Someone else changed this/);

    await u.click(screen.getByRole('button', { name: 'Reload the current version' }));
    await waitFor(() => expect(screen.queryByRole('alert')).toBeNull());
    await u.click(screen.getByRole('button', { name: 'Delete Acme Insurance' }));
    await waitFor(() => expect(sent.filter((r) => r.method === 'DELETE').map((r) => r.headers['if-match'])).toEqual(['"1"', '"2"']));
    expect(screen.queryByRole('alert')).toBeNull();
  });
});

describe('a refused save on a long form', () => {
  it('scrolls the error into view, since the button that sent it is at the bottom', async () => {
    const scrolled = vi.fn();
    Element.prototype.scrollIntoView = scrolled;
    fakeFetch(() => json(409, { error: { code: 'conflict', message: 'phone number +15550002001 is already used by buyer "Acme"' } }));
    render(<BuyerForm onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Twin');
    await u.type(screen.getByLabelText('Phone number'), '+15550002001');
    await u.click(screen.getByRole('button', { name: 'Create buyer' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('already used');
    expect(scrolled).toHaveBeenCalled();
    expect(scrolled.mock.contexts[0]).toBe(alert);
  });
});
