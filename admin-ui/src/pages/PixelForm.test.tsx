import { afterEach, describe, expect, it, vi } from 'vitest';
import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { fakeFetch, json } from '../test/fetch';
import { RoleContext } from '../role';
import { PixelForm } from './PixelForm';
import type { Pixel } from '../types';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const campaigns = [{ id: 'c1', name: 'Auto' }, { id: 'c2', name: 'Health' }];
const buyers = [{ id: 'b1', name: 'Acme' }, { id: 't1', name: 'Bidder (RTB target)' }];
const stored: Pixel = {
  id: 'p1', tenantId: 'x', name: 'CRM', events: ['completed', 'incoming'], url: 'https://crm.example/hook', method: 'POST',
  contentType: 'application/json', body: '{"id": "{callId}"}', headers: { 'X-Key': 'k' }, basicAuth: { username: 'u', password: '' },
  maxFires: 5, campaignIds: ['c2'], status: 'active', version: 4, createdAt: '2026-12-01T00:00:00Z',
};

const input = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
const event = (name: string) => screen.getByRole('checkbox', { name: new RegExp(`^${name} `) });

describe('PixelForm', () => {
  it('creates a pixel: the events checked, in their order, the request, a header, campaigns and buyers', async () => {
    const sent = fakeFetch(() => json(201, { ...stored, id: 'p9' }));
    render(<PixelForm campaigns={campaigns} buyers={buyers} />);
    const u = userEvent.setup();
    // The 13 events, none checked.
    expect(screen.getByRole('group', { name: 'Events' }).querySelectorAll('input[type=checkbox]')).toHaveLength(13);
    await u.type(input('Name'), 'Everflow');
    await u.click(event('payout'));
    await u.click(event('converted'));
    await u.selectOptions(screen.getByLabelText('Method'), 'POST');
    await u.clear(input('URL'));
    await u.type(input('URL'), 'https://t.example/pb');
    await u.selectOptions(screen.getByLabelText('Content type'), 'application/x-www-form-urlencoded');
    await u.type(screen.getByLabelText('Body'), 'amount=1');
    await u.click(screen.getByRole('button', { name: 'Add header' }));
    await u.type(input('Header 1 name'), 'X-Source');
    await u.type(input('Header 1 value'), 'sb');
    await u.clear(input('Most fires per call'));
    await u.type(input('Most fires per call'), '2');
    await u.click(screen.getByRole('checkbox', { name: 'Health' }));
    await u.click(screen.getByRole('checkbox', { name: 'Bidder (RTB target)' }));
    await u.selectOptions(screen.getByLabelText('Status'), 'paused');
    await u.click(screen.getByRole('button', { name: 'Create pixel' }));

    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/pixels' });
    expect(sent[0].body).toEqual({
      name: 'Everflow', events: ['converted', 'payout'], method: 'POST', url: 'https://t.example/pb',
      contentType: 'application/x-www-form-urlencoded', body: 'amount=1', headers: { 'X-Source': 'sb' }, basicAuth: null, filters: [],
      maxFires: 2, campaignIds: ['c2'], buyerIds: ['t1'], status: 'paused',
    });
  });

  it('a GET has no body: the field is gone and none is sent', async () => {
    const sent = fakeFetch(() => json(201, stored));
    render(<PixelForm campaigns={[]} buyers={[]} />);
    const u = userEvent.setup();
    expect(screen.queryByLabelText('Body')).toBeNull();
    await u.selectOptions(screen.getByLabelText('Method'), 'PUT');
    await u.type(screen.getByLabelText('Body'), 'x');
    await u.selectOptions(screen.getByLabelText('Method'), 'GET');
    expect(screen.queryByLabelText('Body')).toBeNull();
    await u.click(screen.getByRole('button', { name: 'Create pixel' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].body).toMatchObject({ method: 'GET', body: null });
  });
});

describe('the token picker', () => {
  it('inserts a token at the cursor of the template last edited, the URL or the body', async () => {
    const sent = fakeFetch(() => json(201, stored));
    render(<PixelForm campaigns={[]} buyers={[]} />);
    const u = userEvent.setup();
    await u.type(input('Name'), 'Tracker');
    await u.click(event('converted'));
    await u.clear(input('URL'));
    await u.type(input('URL'), 'https://t.example/pb?tx=&amt=');
    // The cursor after "tx=".
    input('URL').setSelectionRange(24, 24);
    const tokens = screen.getByRole('region', { name: 'Tokens' });
    expect(tokens.textContent).toMatch(/Inserted into the URL/);
    await u.click(within(tokens).getByRole('button', { name: 'Insert {callId}' }));
    expect(input('URL').value).toBe('https://t.example/pb?tx={callId}&amt=');
    // The cursor is after the token: the next one follows it.
    await u.click(within(tokens).getByRole('button', { name: 'Insert {revenue}' }));
    expect(input('URL').value).toBe('https://t.example/pb?tx={callId}{revenue}&amt=');

    await u.selectOptions(screen.getByLabelText('Method'), 'POST');
    const body = screen.getByLabelText('Body') as HTMLTextAreaElement;
    await u.type(body, '{{"caller": ""}');
    body.setSelectionRange(12, 12);
    expect(tokens.textContent).toMatch(/Inserted into the body/);
    await u.click(within(tokens).getByRole('button', { name: 'Insert {callerIdNoPlus}' }));
    expect(body.value).toBe('{"caller": "{callerIdNoPlus}"}');
    // {tag:NAME}: NAME is selected, and typing replaces it.
    body.setSelectionRange(body.value.length - 1, body.value.length - 1);
    await u.click(within(tokens).getByRole('button', { name: 'Insert {tag:NAME}' }));
    await u.keyboard('gclid');
    expect(body.value).toBe('{"caller": "{callerIdNoPlus}"{tag:gclid}}');
    expect(input('URL').value).toBe('https://t.example/pb?tx={callId}{revenue}&amt=');

    await u.click(screen.getByRole('button', { name: 'Create pixel' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].body).toMatchObject({ url: 'https://t.example/pb?tx={callId}{revenue}&amt=', body: '{"caller": "{callerIdNoPlus}"{tag:gclid}}' });
  });
});

describe('editing a pixel', () => {
  it('replaces it with If-Match; the password is write-only: empty keeps it (not sent), typed it is sent', async () => {
    const sent = fakeFetch(() => json(200, { ...stored, version: 5 }));
    render(<PixelForm pixel={stored} campaigns={campaigns} buyers={buyers} />);
    const u = userEvent.setup();
    expect(event('completed')).toHaveProperty('checked', true);
    expect(event('incoming')).toHaveProperty('checked', true);
    expect(screen.getByRole('checkbox', { name: 'Health' })).toHaveProperty('checked', true);
    expect(input('User name').value).toBe('u');
    expect(input('Password').value).toBe('');
    expect(screen.getByText('Stored (never shown); empty keeps it')).toBeTruthy();
    await u.click(screen.getByRole('button', { name: 'Save pixel' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/pixels/p1' });
    expect(sent[0].headers['if-match']).toBe('"4"');
    expect(sent[0].body).toMatchObject({ events: ['incoming', 'completed'], body: '{"id": "{callId}"}', headers: { 'X-Key': 'k' },
      basicAuth: { username: 'u' }, maxFires: 5, campaignIds: ['c2'], buyerIds: [] });

    await u.type(input('Password'), 'n3w');
    await u.click(screen.getByRole('button', { name: 'Save pixel' }));
    await waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1].headers['if-match']).toBe('"5"');
    expect((sent[1].body as Record<string, unknown>).basicAuth).toEqual({ username: 'u', password: 'n3w' });

    // No user name: no authentication.
    await u.clear(input('User name'));
    await u.click(screen.getByRole('button', { name: 'Save pixel' }));
    await waitFor(() => expect(sent).toHaveLength(3));
    expect((sent[2].body as Record<string, unknown>).basicAuth).toBeNull();
  });

  it("shows the API's 422 on the fields it names: the URL's every message, a header by its name, the events, a filter", async () => {
    const sent = fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [
      { field: 'url', message: 'must be an http(s) URL of at most 4096 characters' },
      { field: 'url', message: 'unknown token {nope}: the tokens are {event} …' },
      { field: 'headers.X-Key', message: 'unknown token {bad}: the tokens are …' },
      { field: 'events', message: 'must name at least one event' },
      { field: 'filters[0].op', message: 'unknown operator "zz"' },
      { field: 'body', message: 'is over 64 KiB' },
      { field: 'basicAuth.username', message: "must be non-empty, without ':'" },
    ] } }));
    render(<PixelForm pixel={stored} campaigns={campaigns} buyers={buyers} />);
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Save pixel' }));
    await screen.findByText('must name at least one event');
    const fieldOf = (label: string) => input(label).closest('.field') as HTMLElement;
    expect(input('URL').getAttribute('aria-invalid')).toBe('true');
    expect(fieldOf('URL').textContent).toMatch(/at most 4096 characters; unknown token \{nope\}/);
    expect(input('Header 1 value').getAttribute('aria-invalid')).toBe('true');
    expect(fieldOf('Header 1 value').textContent).toMatch(/unknown token \{bad\}/);
    expect(fieldOf('Tag filters').textContent).toMatch(/filters\[0\]\.op: unknown operator "zz"/);
    expect(fieldOf('Body').textContent).toMatch(/is over 64 KiB/);
    expect(fieldOf('User name').textContent).toMatch(/without ':'/);
    expect(input('Name').getAttribute('aria-invalid')).toBeNull();
    expect(sent).toHaveLength(1);
  });

  it('refuses a header without a name and a fire count that is no number before sending', async () => {
    const sent = fakeFetch(() => json(200, stored));
    render(<PixelForm pixel={stored} campaigns={[]} buyers={[]} />);
    const u = userEvent.setup();
    await u.clear(input('Header 1 name'));
    await u.clear(input('Most fires per call'));
    await u.type(input('Most fires per call'), 'x');
    await u.click(screen.getByRole('button', { name: 'Save pixel' }));
    expect(input('Header 1 value').getAttribute('aria-invalid')).toBe('true');
    expect(input('Most fires per call').getAttribute('aria-invalid')).toBe('true');
    expect(sent).toHaveLength(0);
    // A campaign no longer listed stays attached, named by its id.
    expect(screen.getByRole('checkbox', { name: '(not found) c2' })).toHaveProperty('checked', true);
  });
});

describe('preview and send test', () => {
  const sample = { method: 'POST', url: 'https://crm.example/hook?c=00000000-0000-0000-0000-0000005a3b1e', body: '{"id": "00000000-0000-0000-0000-0000005a3b1e"}',
    headers: [['X-Key', 'k'], ['Content-Type', 'application/json'], ['Authorization', 'Basic ********']] };

  it("previews the draft's request for the sample call, unsaved; a refusal shows on the fields as a save's", async () => {
    let refuse = false;
    const sent = fakeFetch(() => (refuse
      ? json(422, { error: { code: 'invalid', message: 'validation failed', fields: [{ field: 'url', message: 'unknown token {nope}: the tokens are …' }] } })
      : json(200, { request: sample, event: 'incoming' })));
    render(<PixelForm pixel={stored} campaigns={campaigns} buyers={buyers} />);
    const u = userEvent.setup();
    await u.type(input('Password'), 'pw');
    await u.click(screen.getByRole('button', { name: 'Preview' }));
    const shown = await screen.findByRole('region', { name: 'Preview: the incoming request' });
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/pixels/preview' });
    // The body a save would send (the password typed among it), without If-Match: nothing is stored.
    expect(sent[0].body).toMatchObject({ name: 'CRM', events: ['incoming', 'completed'], method: 'POST', url: 'https://crm.example/hook',
      basicAuth: { username: 'u', password: 'pw' }, maxFires: 5 });
    expect(sent[0].headers['if-match']).toBeUndefined();
    expect(shown.textContent).toMatch(/POST https:\/\/crm\.example\/hook\?c=00000000-0000-0000-0000-0000005a3b1e/);
    expect(within(shown).getByRole('row', { name: /Authorization/ }).textContent).toBe('AuthorizationBasic ********');
    expect(within(shown).getByText('{"id": "00000000-0000-0000-0000-0000005a3b1e"}')).toBeTruthy();

    refuse = true;
    await u.type(input('URL'), '/{{nope}');
    await u.click(screen.getByRole('button', { name: 'Preview' }));
    await waitFor(() => expect(input('URL').getAttribute('aria-invalid')).toBe('true'));
    expect((input('URL').closest('.field') as HTMLElement).textContent).toMatch(/unknown token \{nope\}/);
    expect(screen.queryByRole('region', { name: /^Preview: / })).toBeNull();
    expect(sent.map((r) => r.url)).toEqual(['/api/pixels/preview', '/api/pixels/preview']);
  });

  it("sends the saved pixel's test and shows the receiver's status, body and time, or why there was none", async () => {
    let answer: object = { request: sample, responseStatus: 202, responseBody: 'queued', error: null, durationMs: 41 };
    let release = () => {};
    const held = new Promise<void>((r) => { release = r; });
    const sent = fakeFetch(async () => { await held; return json(200, answer); });
    render(<PixelForm pixel={stored} campaigns={campaigns} buyers={buyers} />);
    const u = userEvent.setup();
    // A second click before the page shows the first in flight sends nothing.
    const send = screen.getByRole('button', { name: 'Send test' });
    fireEvent.click(send);
    fireEvent.click(send);
    release();
    const result = await screen.findByRole('region', { name: 'Test result' });
    expect(sent).toMatchObject([{ method: 'POST', url: '/api/pixels/p1/test' }]);
    expect(result.textContent).toMatch(/The receiver answered 202 in 41 ms\.queued/);
    expect(within(result).getByRole('region', { name: 'Test request as sent' }).textContent).toMatch(/POST https:\/\/crm\.example/);

    answer = { request: sample, responseStatus: null, responseBody: null, error: 'timed out after 5000 ms', durationMs: 5000 };
    await u.click(screen.getByRole('button', { name: 'Send test' }));
    await waitFor(() => expect(screen.getByRole('region', { name: 'Test result' }).textContent).toMatch(/No answer: timed out after 5000 ms/));
  });

  it('offers no test send for an unsaved pixel, nor to a viewer (who may preview)', () => {
    fakeFetch(() => json(200, {}));
    const { unmount } = render(<PixelForm campaigns={[]} buyers={[]} />);
    expect(screen.getByRole('button', { name: 'Preview' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Send test' })).toBeNull();
    unmount();
    render(<RoleContext.Provider value="viewer"><PixelForm pixel={stored} campaigns={[]} buyers={[]} /></RoleContext.Provider>);
    expect(screen.getByRole('button', { name: 'Preview' })).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Send test' })).toBeNull();
  });
});
