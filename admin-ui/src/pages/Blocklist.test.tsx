import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { fakeFetch, json } from '../test/fetch';
import { BlockCaller, BlocklistForm, BlocklistImport, BlocklistList, blocked, expiry, type BlocklistEntry } from './Blocklist';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const campaigns = [{ id: 'c1', name: 'Spring' }];

describe('BlocklistForm', () => {
  it('blocks a prefix on one campaign', async () => {
    const sent = fakeFetch(() => json(201, {}));
    render(<BlocklistForm campaigns={campaigns} />);
    const u = userEvent.setup();
    await u.selectOptions(screen.getByLabelText('What to block'), 'prefix');
    await u.type(screen.getByLabelText('Prefix'), '+1900');
    await u.selectOptions(screen.getByLabelText('Campaign'), 'c1');
    await u.type(screen.getByLabelText('Note'), ' premium ');
    await u.click(screen.getByRole('button', { name: 'Block' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/blocklist' });
    expect(sent[0].body).toEqual({ number: null, prefix: '+1900', anonymous: false, campaignId: 'c1', expiresAt: null, note: 'premium' });
  });

  it('refuses an empty number before sending, and shows the API\'s field error', async () => {
    const sent = fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [{ field: 'number', message: '"12" is not a phone number' }] } }));
    render(<BlocklistForm campaigns={campaigns} />);
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Block' }));
    expect(sent).toHaveLength(0);
    expect(screen.getByText('enter a phone number')).toBeTruthy();
    await u.type(screen.getByLabelText('Phone number'), '12');
    await u.click(screen.getByRole('button', { name: 'Block' }));
    await waitFor(() => expect(screen.getByText('"12" is not a phone number')).toBeTruthy());
    expect(sent).toHaveLength(1);
  });

  it('edits anonymous with If-Match', async () => {
    const entry: BlocklistEntry = { id: 'b1', tenantId: 't1', number: null, prefix: null, anonymous: true, campaignId: null,
      expiresAt: null, note: null, version: 2, createdAt: '2026-12-03T00:00:00Z' };
    const sent = fakeFetch(() => json(200, { ...entry, version: 3 }));
    render(<BlocklistForm entry={entry} campaigns={campaigns} />);
    expect(screen.queryByLabelText('Phone number')).toBeNull();
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Note'), 'withheld');
    await u.click(screen.getByRole('button', { name: 'Save entry' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/blocklist/b1', body: { anonymous: true, number: null, note: 'withheld' } });
    expect(sent[0].headers['if-match']).toBe('"2"');
  });
});

describe('the blocklist', () => {
  it('says who an entry blocks and whether it has expired', () => {
    expect(blocked({ number: '+15551230000', prefix: null, anonymous: false })).toBe('+15551230000');
    expect(blocked({ number: null, prefix: '+1900', anonymous: false })).toBe('+1900…');
    expect(blocked({ number: null, prefix: null, anonymous: true })).toContain('anonymous');
    expect(expiry({ expiresAt: null })).toBe('never');
    expect(expiry({ expiresAt: '2026-01-01T00:00:00Z' }, new Date('2026-06-01T00:00:00Z'))).toMatch(/^expired /);
  });

  it('imports CSV as text/csv and lists the refused lines', async () => {
    const sent = fakeFetch((req) => (req.url.startsWith('/api/campaigns')
      ? json(200, { items: campaigns, nextCursor: null })
      : json(200, { imported: 1, refused: [{ line: 2, reason: '"x" is not a number or prefix' }] })));
    render(<BlocklistImport />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('CSV lines'), '+15551230000,spam,{enter}x,,');
    await waitFor(() => expect(screen.getByRole('option', { name: 'Spring' })).toBeTruthy());
    await u.selectOptions(screen.getByLabelText('Blocks on'), 'c1');
    await u.click(screen.getByRole('button', { name: 'Import' }));
    await waitFor(() => expect(screen.getByTestId('imported').textContent).toBe('1'));
    const post = sent.find((r) => r.method === 'POST')!;
    expect(post.url).toBe('/api/blocklist/import?campaignId=c1');
    expect(post.headers['content-type']).toBe('text/csv');
    expect(post.body).toBe('+15551230000,spam,\nx,,');
    expect(screen.getByText('line 2: "x" is not a number or prefix')).toBeTruthy();
  });

  it('blocks a call\'s caller from its details, and says so', async () => {
    const sent = fakeFetch(() => json(201, {}));
    render(<BlockCaller call={{ from: '+15551230000', callSid: 'CA1' }} />);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Block this caller' }));
    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('Blocked: calls from +15551230000 are refused'));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/blocklist', body: { number: '+15551230000', note: 'blocked from call CA1' } });
  });

  it('says when the caller is blocked already, and offers nothing for a withheld number', async () => {
    fakeFetch(() => json(409, { error: { code: 'conflict', message: '+15551230000 is already on the blocklist (entry b1)' } }));
    const { unmount } = render(<BlockCaller call={{ from: '+15551230000', callSid: 'CA1' }} />);
    await userEvent.setup().click(screen.getByRole('button', { name: 'Block this caller' }));
    await waitFor(() => expect(screen.getByRole('status').textContent).toContain('on the blocklist already'));
    unmount();
    render(<BlockCaller call={{ from: 'anonymous', callSid: 'CA2' }} />);
    expect(screen.queryByRole('button', { name: 'Block this caller' })).toBeNull();
  });
});

describe('BlocklistList', () => {
  const entry = (n: number, over: Partial<BlocklistEntry> = {}): BlocklistEntry => ({ id: `b${n}`, tenantId: 't1', number: `+1555123000${n}`, prefix: null,
    anonymous: false, campaignId: null, expiresAt: null, note: null, version: n, createdAt: '2026-12-03T00:00:00Z', ...over });

  it('reads a page at a time, narrows to a campaign, and deletes with If-Match', async () => {
    const sent = fakeFetch((req) => {
      if (req.url.startsWith('/api/campaigns')) return json(200, { items: campaigns, nextCursor: null });
      if (req.method === 'DELETE') return json(204, null);
      if (req.url.includes('cursor=b1')) return json(200, { items: [entry(2, { prefix: '+1900', number: null })], nextCursor: null });
      if (req.url.includes('campaignId=c1')) return json(200, { items: [entry(3, { campaignId: 'c1' })], nextCursor: null });
      return json(200, { items: [entry(1, { note: 'spam' })], nextCursor: 'b1' });
    });
    vi.stubGlobal('confirm', () => true);
    render(<BlocklistList />);
    const u = userEvent.setup();
    await waitFor(() => expect(screen.getByText('+15551230001')).toBeTruthy());
    expect(screen.getByText('spam')).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'More entries' }));
    await waitFor(() => expect(screen.getByText('+1900…')).toBeTruthy());
    expect(screen.queryByRole('button', { name: 'More entries' })).toBeNull();

    await waitFor(() => expect(screen.getByRole('option', { name: 'entries of campaign Spring' })).toBeTruthy());
    await u.selectOptions(screen.getByLabelText('Show'), 'c1');
    await waitFor(() => expect(screen.getByText('+15551230003')).toBeTruthy());
    expect(sent.some((r) => r.url.startsWith('/api/blocklist?campaignId=c1'))).toBe(true);
    expect(screen.getByRole('cell', { name: 'Spring' })).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(sent.some((r) => r.method === 'DELETE')).toBe(true));
    const del = sent.find((r) => r.method === 'DELETE')!;
    expect(del.url).toBe('/api/blocklist/b3');
    expect(del.headers['if-match']).toBe('"3"');
  });
});
