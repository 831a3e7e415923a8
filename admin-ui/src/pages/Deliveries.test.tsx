import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { render } from '../test/render';
import { fakeFetch, json } from '../test/fetch';
import { params, path } from '../test/reports';
import { RoleContext } from '../role';
import { DeliveriesPage, DeliveryPage } from './Deliveries';
import type { Delivery } from '../types';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const CALL = '01a2429b-a159-7104-86d6-a89e7f8ff131';
const delivery = (id: string, over: Partial<Delivery> = {}): Delivery => ({
  id, tenantId: 'x', pixelId: 'p1', callId: CALL, event: 'converted', position: 7, state: 'delivered', attempt: 1,
  request: { method: 'POST', url: 'https://crm.example/hook?c=1', headers: [['Content-Type', 'application/json'], ['Authorization', 'Basic ********']], body: '{"id":"1"}' },
  responseStatus: 200, responseBody: 'ok', durationMs: 12, createdAt: '2026-12-04T10:00:00Z', updatedAt: '2026-12-04T10:00:01Z', ...over,
});
const pixels = [{ id: 'p1', name: 'CRM', events: ['converted'], url: 'https://crm.example/hook', method: 'POST' }, { id: 'p2', name: 'Everflow', events: ['converted'], url: 'https://t.example', method: 'GET' }];

/** The delivery log's API: two pages of deliveries unfiltered; `answer` for one delivery. */
function deliveryApi(one: () => Delivery = () => delivery('d1')) {
  return fakeFetch((req) => {
    const q = params(req);
    if (path(req) === '/api/pixels') return json(200, { items: pixels, nextCursor: null });
    if (path(req) === '/api/pixels/deliveries') {
      return q.cursor === 'k2'
        ? json(200, { items: [delivery('d3', { event: 'incoming', state: 'dead', attempt: 12, responseStatus: 503 })], nextCursor: null })
        : json(200, { items: [delivery('d1'), delivery('d2', { pixelId: 'p2', state: 'retrying', attempt: 2, responseStatus: null, error: 'timed out',
          durationMs: 5000, nextAttemptAt: '2026-12-04T10:01:00Z' })], nextCursor: 'k2' });
    }
    if (path(req) === '/api/pixels/deliveries/d1/resend') return json(202, delivery('d1', { state: 'pending' }));
    if (path(req) === '/api/pixels/deliveries/d1') return json(200, one());
    return json(404, { error: { code: 'not_found', message: 'no' } });
  });
}

const logAsked = (sent: ReturnType<typeof deliveryApi>) => sent.filter((r) => path(r) === '/api/pixels/deliveries').map(params);

describe('DeliveriesPage', () => {
  it('lists the newest first with each delivery\'s pixel, event, state, attempt, answer, time taken and next attempt; Load more follows the cursor', async () => {
    const sent = deliveryApi();
    render(<DeliveriesPage />);
    const first = (await screen.findAllByRole('row'))[1];
    await waitFor(() => expect(first.textContent).toMatch(/CRM.*converted.*delivered.*1.*200.*12 ms.*—.*Details/));
    const second = screen.getAllByRole('row')[2];
    expect(second.textContent).toMatch(/Everflow.*retrying.*2.*no answer.*5000 ms/);
    expect(within(second).getByRole('link', { name: 'Details' }).getAttribute('href')).toBe('#/pixels/deliveries/d2');

    await userEvent.setup().click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(screen.getAllByRole('row')).toHaveLength(4));
    expect(screen.getAllByRole('row')[3].textContent).toMatch(/incoming.*dead.*12.*503/);
    expect(logAsked(sent)).toEqual([{}, { cursor: 'k2' }]);
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });

  it('asks the API with the filters applied: pixel, state and call id', async () => {
    const sent = deliveryApi();
    render(<DeliveriesPage />);
    const u = userEvent.setup();
    await screen.findByRole('option', { name: 'Everflow' });
    await u.selectOptions(screen.getByLabelText('Pixel'), 'Everflow');
    await u.selectOptions(screen.getByLabelText('State'), 'dead');
    await u.type(screen.getByLabelText('Call id'), ` ${CALL} `);
    await u.click(screen.getByRole('button', { name: 'Apply filters' }));
    await waitFor(() => expect(logAsked(sent)).toContainEqual({ pixelId: 'p2', state: 'dead', callId: CALL }));
    // Another filter starts from its first page.
    await u.selectOptions(screen.getByLabelText('State'), 'any');
    await u.click(screen.getByRole('button', { name: 'Apply filters' }));
    await waitFor(() => expect(logAsked(sent).at(-1)).toEqual({ pixelId: 'p2', callId: CALL }));
  });

  it("opens filtered as a link says: a pixel's deliveries, or a call's", async () => {
    window.location.hash = '#/pixels/deliveries?pixelId=p2';
    const sent = deliveryApi();
    const { unmount } = render(<DeliveriesPage />);
    await waitFor(() => expect(logAsked(sent)).toEqual([{ pixelId: 'p2' }]));
    expect(await screen.findByDisplayValue('Everflow')).toBeTruthy();
    unmount();
    window.location.hash = `#/pixels/deliveries?callId=${CALL}`;
    render(<DeliveriesPage />);
    await waitFor(() => expect(logAsked(sent).at(-1)).toEqual({ callId: CALL }));
    expect((screen.getByLabelText('Call id') as HTMLInputElement).value).toBe(CALL);
  });
});

describe('DeliveryPage', () => {
  it('shows the request as sent, masked, and the answer; Resend posts and reads the delivery again', async () => {
    let state: Delivery['state'] = 'dead';
    const sent = deliveryApi(() => delivery('d1', state === 'dead' ? { state, attempt: 12, responseStatus: 503, responseBody: 'busy' } : { state, attempt: 0, responseStatus: null, responseBody: null }));
    render(<DeliveryPage id="d1" />);
    expect((await screen.findByTestId('delivery-id')).textContent).toBe('d1');
    const request = screen.getByRole('region', { name: 'Request as sent' });
    expect(request.textContent).toMatch(/POST https:\/\/crm\.example\/hook\?c=1/);
    expect(within(request).getByRole('row', { name: /Authorization/ }).textContent).toBe('AuthorizationBasic ********');
    expect(within(request).getByText('{"id":"1"}')).toBeTruthy();
    expect(screen.getByTestId('response-status').textContent).toBe('503');
    expect(screen.getByRole('region', { name: 'Response' }).textContent).toMatch(/busy/);
    await waitFor(() => expect(screen.getByRole('link', { name: 'CRM' }).getAttribute('href')).toBe('#/pixels/p1'));
    expect(screen.getByRole('link', { name: 'its deliveries' }).getAttribute('href')).toBe(`#/pixels/deliveries?callId=${CALL}`);

    state = 'pending';
    await userEvent.setup().click(screen.getByRole('button', { name: 'Resend' }));
    await screen.findByText(/Sent again with the same delivery id/);
    expect(sent.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual(['/api/pixels/deliveries/d1/resend']);
    // Read again after it: the new round shows.
    await waitFor(() => expect(screen.getByRole('row', { name: /^State/ }).textContent).toBe('Statepending'));
    expect(screen.getByText('No answer yet.')).toBeTruthy();
  });

  it('shows the error of an attempt without an answer, and no Resend to a viewer', async () => {
    deliveryApi(() => delivery('d1', { state: 'retrying', responseStatus: null, responseBody: null, error: '127.0.0.1:9 refused the connection' }));
    render(<RoleContext.Provider value="viewer"><DeliveryPage id="d1" /></RoleContext.Provider>);
    expect(await screen.findByText('127.0.0.1:9 refused the connection')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Resend' })).toBeNull();
  });
});
