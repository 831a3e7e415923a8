import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { LOGS, LogPage } from './Logs';
import { fakeFetch, json } from '../test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
});

const audit = LOGS.find((k) => k.route === 'audit')!;
const entry = (id: string, action: string) => ({ id, at: '2026-11-26T09:00:00Z', actor: 'user:demo', action, kind: 'buyer', resourceId: id });

describe('log pages', () => {
  it('shows the answer to the filter applied last, even when an earlier one answers after it', async () => {
    let answerFirst: (r: Response) => void = () => {};
    fakeFetch((req) => {
      const kind = new URL(req.url, 'http://x').searchParams.get('kind');
      if (kind === 'first') return new Promise<Response>((resolve) => { answerFirst = resolve; });
      if (kind === 'second') return json(200, { items: [entry('e2', 'second-filter')], nextCursor: null });
      return json(200, { items: [], nextCursor: null });
    });
    const user = userEvent.setup();
    render(<LogPage kind={audit} />);
    await screen.findByText('Nothing yet.');

    await user.type(screen.getByLabelText('Kind'), 'first');
    await user.click(screen.getByRole('button', { name: 'Apply filters' }));
    await user.clear(screen.getByLabelText('Kind'));
    await user.type(screen.getByLabelText('Kind'), 'second');
    await user.click(screen.getByRole('button', { name: 'Apply filters' }));
    await screen.findByText('second-filter');

    // The first filter's answer comes late: it must not replace the second's.
    answerFirst(json(200, { items: [entry('e1', 'first-filter')], nextCursor: null }));
    await new Promise((r) => setTimeout(r, 50));
    expect(screen.queryByText('first-filter')).toBeNull();
    expect(screen.getByText('second-filter')).toBeTruthy();
    expect(screen.queryByText('Loading…')).toBeNull();
  });

  it('appends the next page on "More", and shows a failure', async () => {
    const sent = fakeFetch((req) => {
      const cursor = new URL(req.url, 'http://x').searchParams.get('cursor');
      if (cursor === 'k2') return json(503, { error: { code: 'unavailable', message: 'store is busy' } });
      return cursor === 'k1'
        ? json(200, { items: [entry('e2', 'second-page')], nextCursor: 'k2' })
        : json(200, { items: [entry('e1', 'first-page')], nextCursor: 'k1' });
    });
    const user = userEvent.setup();
    render(<LogPage kind={audit} />);
    await screen.findByText('first-page');
    await user.click(screen.getByRole('button', { name: 'More' }));
    await screen.findByText('second-page');
    expect(screen.getByText('first-page')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'More' }));
    await waitFor(() => expect(screen.getByRole('alert').textContent).toContain('store is busy'));
    // What was loaded stays.
    expect(screen.getByText('first-page')).toBeTruthy();
    expect(sent.map((r) => r.url)).toEqual(['/api/audit', '/api/audit?cursor=k1', '/api/audit?cursor=k2']);
  });
});
