import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { fakeFetch, json } from '../test/fetch';
import { path } from '../test/reports';
import { RoleContext } from '../role';
import { CampaignPixels, PixelList } from './Pixels';
import type { Pixel } from '../types';

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

const pixel = (id: string, name: string, over: Partial<Pixel> = {}): Pixel => ({
  id, tenantId: 'x', name, events: ['converted'], url: `https://t.example/${id}?c={callId}`, method: 'GET', contentType: 'application/json',
  maxFires: 1, status: 'active', version: 3, createdAt: '2026-12-01T00:00:00Z', ...over,
});
const pixels = [
  pixel('p1', 'Everflow', { campaignIds: ['c1'] }),
  pixel('p2', 'CRM', { events: ['incoming', 'completed'], method: 'POST' }),
  pixel('p3', 'Other campaign', { campaignIds: ['c2'], status: 'paused' }),
  pixel('p4', 'Buyer only', { buyerIds: ['b1', 'b2'] }),
];
const campaigns = [{ id: 'c1', name: 'Auto' }, { id: 'c2', name: 'Health' }];

function pixelApi() {
  return fakeFetch((req) => {
    if (path(req) === '/api/pixels' && req.method === 'GET') return json(200, { items: pixels, nextCursor: null });
    if (path(req) === '/api/campaigns') return json(200, { items: campaigns, nextCursor: null });
    if (path(req) === '/api/pixels/signing-secret') return json(201, { secret: 'whsec_abc123' });
    return json(200, { ...pixels[0], status: 'paused', version: 4 });
  });
}

describe('PixelList', () => {
  it('lists each pixel with its events, method, URL, attachment and status; pauses one with its version', async () => {
    const sent = pixelApi();
    render(<PixelList />);
    const row = (await screen.findByRole('link', { name: 'Everflow' })).closest('tr') as HTMLElement;
    expect(row.textContent).toMatch(/converted.*GET.*https:\/\/t\.example\/p1\?c=\{callId\}.*Auto.*active/);
    expect(screen.getByRole('link', { name: 'CRM' }).closest('tr')?.textContent).toMatch(/incoming, completed.*POST.*account-wide/);
    expect(screen.getByRole('link', { name: 'Buyer only' }).closest('tr')?.textContent).toMatch(/every campaign; 2 buyers/);
    expect(within(row).getByRole('link', { name: 'Deliveries of Everflow' }).getAttribute('href')).toBe('#/pixels/deliveries?pixelId=p1');

    await userEvent.setup().click(within(row).getByRole('button', { name: 'Pause Everflow' }));
    await waitFor(() => expect(sent.some((r) => r.method === 'PATCH')).toBe(true));
    const patch = sent.find((r) => r.method === 'PATCH')!;
    expect(patch).toMatchObject({ url: '/api/pixels/p1', body: { status: 'paused' } });
    expect(patch.headers['if-match']).toBe('"3"');
    expect(screen.getByRole('button', { name: 'Activate Other campaign' })).toBeTruthy();
  });

  it('deletes a pixel after asking, with its version', async () => {
    const sent = pixelApi();
    vi.spyOn(window, 'confirm').mockReturnValue(true);
    render(<PixelList />);
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Delete CRM' }));
    await waitFor(() => expect(sent.some((r) => r.method === 'DELETE')).toBe(true));
    const del = sent.find((r) => r.method === 'DELETE')!;
    expect(del.url).toBe('/api/pixels/p2');
    expect(del.headers['if-match']).toBe('"3"');
  });

  it("makes a signing secret (an admin) and shows it once, with the warning that it is not shown again", async () => {
    const sent = pixelApi();
    const confirm = vi.spyOn(window, 'confirm').mockReturnValue(true);
    render(<PixelList />);
    const u = userEvent.setup();
    await u.click(await screen.findByRole('button', { name: 'Signing secret' }));
    expect(confirm).toHaveBeenCalledWith(expect.stringMatching(/keeps signing for 24 hours/));
    expect((await screen.findByLabelText('New signing secret')).textContent).toBe('whsec_abc123');
    expect(screen.getByRole('status').textContent).toMatch(/copy it now, it is shown only this time/);
    expect(sent.filter((r) => r.url === '/api/pixels/signing-secret')).toMatchObject([{ method: 'POST' }]);
    await u.click(screen.getByRole('button', { name: 'I copied it' }));
    expect(screen.queryByLabelText('New signing secret')).toBeNull();
  });

  it('offers a manager no signing secret, and a viewer no changes', async () => {
    pixelApi();
    const { unmount } = render(<RoleContext.Provider value="manager"><PixelList /></RoleContext.Provider>);
    await screen.findByRole('link', { name: 'Everflow' });
    expect(screen.queryByRole('button', { name: 'Signing secret' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Pause Everflow' })).toBeTruthy();
    unmount();
    render(<RoleContext.Provider value="viewer"><PixelList /></RoleContext.Provider>);
    const row = (await screen.findByRole('link', { name: 'Everflow' })).closest('tr') as HTMLElement;
    expect(within(row).queryByRole('button')).toBeNull();
    expect(screen.queryByRole('link', { name: 'New pixel' })).toBeNull();
  });
});

describe("a campaign's pixels", () => {
  it('lists those attached to it and the account-wide ones, labelled, each linking to its pixel; not another campaign\'s', async () => {
    pixelApi();
    render(<CampaignPixels campaignId="c1" />);
    const table = within(await screen.findByRole('region', { name: 'Pixels of the campaign' }));
    await table.findByRole('link', { name: 'Everflow' });
    const rows = table.getAllByRole('row').slice(1).map((r) => r.textContent);
    expect(rows).toEqual([
      'Everflowconvertedthis campaignactive',
      'CRMincoming, completedaccount-wideactive',
      'Buyer onlyconvertedevery campaign (2 buyers)active',
    ]);
    expect(table.getByRole('link', { name: 'Everflow' }).getAttribute('href')).toBe('#/pixels/p1');
    expect(table.queryByText('Other campaign')).toBeNull();
  });

  it('says when none fires for it', async () => {
    fakeFetch(() => json(200, { items: [pixels[2]], nextCursor: null }));
    render(<CampaignPixels campaignId="c1" />);
    await screen.findByText(/No pixel fires for this campaign's calls/);
  });
});
