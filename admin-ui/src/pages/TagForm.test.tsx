import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { TagForm, type TrackingTag } from './TagForm';
import { fakeFetch, json } from '../test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
  window.location.hash = '';
});

const pools = [{ id: 'p1', name: 'Web pool' }];
const campaigns = [{ id: 'c1', name: 'Spring' }];

describe('TagForm', () => {
  it('creates a tag with its pool, campaign, sources and an optional code', async () => {
    const sent = fakeFetch(() => json(201, {}));
    render(<TagForm pools={pools} campaigns={campaigns} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Landing');
    await u.type(screen.getByLabelText('Tag code'), 'spring-lp');
    await u.selectOptions(screen.getByLabelText('Number pool'), 'p1');
    await u.selectOptions(screen.getByLabelText('Campaign'), 'c1');
    await u.selectOptions(screen.getByLabelText('Number format'), 'dashed');
    await u.type(screen.getByLabelText('Sticky days'), '7');
    await u.type(screen.getByLabelText('Only sources'), 'Google, bing');
    await u.click(screen.getByLabelText('Paid traffic only'));
    await u.click(screen.getByRole('button', { name: 'Create tag' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/tracking-tags' });
    expect(sent[0].body).toEqual({ name: 'Landing', tagCode: 'spring-lp', poolId: 'p1', campaignId: 'c1', selector: '.phone-number',
      numberFormat: 'dashed', sessionTimeoutSeconds: null, stickyDays: 7, onlySources: ['google', 'bing'], paidOnly: true, status: 'active' });
  });

  it('edits without the tag code, with If-Match', async () => {
    const tag: TrackingTag = { id: 't1', tenantId: 'x1', createdAt: '2026-11-26T00:00:00Z', tagCode: 'demo', name: 'Demo', poolId: 'p1', campaignId: null, selector: '.phone-number',
      numberFormat: 'national', sessionTimeoutSeconds: null, stickyDays: null, onlySources: [], paidOnly: false, status: 'active', version: 3 };
    const sent = fakeFetch(() => json(200, { ...tag, version: 4 }));
    render(<TagForm tag={tag} pools={pools} campaigns={campaigns} />);
    expect(screen.queryByLabelText('Tag code')).toBeNull();
    const u = userEvent.setup();
    await u.selectOptions(screen.getByLabelText('Status'), 'paused');
    await u.click(screen.getByRole('button', { name: 'Save tag' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/tracking-tags/t1', body: { status: 'paused', poolId: 'p1' } });
    expect((sent[0].body as Record<string, unknown>).tagCode).toBeUndefined();
    expect(sent[0].headers['if-match']).toBe('"3"');
  });
});
