import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, waitFor, within } from '@testing-library/react';
import { render } from '../test/render';
import userEvent from '@testing-library/user-event';
import { CampaignForm, CampaignList } from './Campaigns';
import { fakeFetch, json } from '../test/fetch';
import type { Buyer, Campaign } from '../types';
import { RoleContext } from '../role';

afterEach(() => vi.unstubAllGlobals());

const buyer = (id: string, name: string): Buyer => ({
  id, tenantId: 't1', name, company: '', contact: '', phoneNumber: '+15550002001', status: 'active', timezone: 'UTC',
  concurrencyLimit: null, hourlyCap: null, dailyCap: null, monthlyCap: null, totalCap: null, schedule: null,
  geo: { allowStates: [], denyStates: [], allowZips: [], denyZips: [] }, filters: [], conversionSeconds: 60, revenue: '10', currency: 'USD', version: 1,
});
const buyers = [buyer('b1', 'Acme'), buyer('b2', 'Beta'), buyer('b3', 'Gamma')];
const campaign: Campaign = {
  id: 'c1', tenantId: 't1', name: 'Spring', description: '', status: 'active', routingType: 'direct', phoneNumber: '+15550001000',
  poolId: null, rtbRouterId: null, routingPolicy: 'priority',
  buyers: [{ buyerId: 'b2', priority: 1, weight: 1 }, { buyerId: 'b1', priority: 2, weight: 3 }],
  recording: false, dialTimeoutSeconds: 30, callerIdMode: 'caller', duplicateWindowHours: 0, duplicateAction: 'same-buyer',
  maxFallthrough: 3, payoutRules: [], version: 7,
};
const pools = [{ id: 'p1', name: 'Web pool' }];
const publishers = [{ id: 'pub1', name: 'Leads Co' }];

describe('CampaignForm', () => {
  it('creates a campaign with its number, policy and buyer assignments', async () => {
    const sent = fakeFetch(() => json(201, { ...campaign, id: 'c9', version: 1 }));
    const onSaved = vi.fn();
    render(<CampaignForm buyers={buyers} pools={pools} routers={[]} publishers={publishers} onSaved={onSaved} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Summer');
    await u.type(screen.getByLabelText('Description'), 'auto leads');
    await u.selectOptions(screen.getByLabelText('Status'), 'active');
    await u.type(screen.getByLabelText('Phone number'), '+15550004242');
    await u.selectOptions(screen.getByLabelText('Routing policy'), 'round-robin');
    await u.click(screen.getByLabelText('Assign Gamma'));
    await u.clear(screen.getByLabelText('Gamma priority'));
    await u.type(screen.getByLabelText('Gamma priority'), '2');
    await u.clear(screen.getByLabelText('Gamma weight'));
    await u.type(screen.getByLabelText('Gamma weight'), '5');
    await u.click(screen.getByLabelText('Assign Acme'));
    await u.click(screen.getByLabelText('Record calls'));
    await u.type(screen.getByLabelText('RTB template tags'), 'vertical = auto');
    await u.click(screen.getByRole('button', { name: 'Create campaign' }));

    await waitFor(() => expect(onSaved).toHaveBeenCalled());
    expect(sent[0]).toMatchObject({ method: 'POST', url: '/api/campaigns' });
    expect(sent[0].body).toEqual({
      name: 'Summer', description: 'auto leads', status: 'active', routingType: 'direct', phoneNumber: '+15550004242',
      poolId: null, rtbRouterId: null, routingPolicy: 'round-robin',
      // In the form's order: Acme, Beta, Gamma (Beta not assigned).
      buyers: [{ buyerId: 'b1', priority: 1, weight: 1 }, { buyerId: 'b3', priority: 2, weight: 5 }],
      recording: true, dialTimeoutSeconds: 30, callerIdMode: 'caller', duplicateWindowHours: 0, duplicateAction: 'same-buyer',
      maxFallthrough: 3, tags: { vertical: 'auto' }, payoutRules: [],
    });
  });

  it('sends a pool campaign without a number', async () => {
    const sent = fakeFetch(() => json(201, campaign));
    render(<CampaignForm buyers={buyers} pools={pools} routers={[]} publishers={publishers} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.type(screen.getByLabelText('Name'), 'Web');
    await u.selectOptions(screen.getByLabelText('Routing type'), 'pool');
    expect(screen.queryByLabelText('RTB router')).toBeNull();
    await u.selectOptions(screen.getByLabelText('Number pool'), 'p1');
    await u.click(screen.getByRole('button', { name: 'Create campaign' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].body).toMatchObject({ routingType: 'pool', poolId: 'p1', phoneNumber: null, rtbRouterId: null, buyers: [] });
  });

  it("shows the API's 422 next to the field and the buyer row it names", async () => {
    fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [
      { field: 'buyers', message: 'an active campaign needs at least one active buyer' },
      { field: 'buyers[1].weight', message: 'must be at least 1' },
      { field: 'name', message: 'must not be empty' },
    ] } }));
    render(<CampaignForm campaign={campaign} buyers={buyers} pools={pools} routers={[]} publishers={publishers} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Save campaign' }));
    await screen.findByText('an active campaign needs at least one active buyer');
    // buyers[1] is the second assignment sent: Acme (Beta first, as the campaign orders them).
    const acmeWeight = screen.getByLabelText('Acme weight');
    expect(acmeWeight.getAttribute('aria-invalid')).toBe('true');
    expect(within(acmeWeight.closest('.field') as HTMLElement).getByText('must be at least 1')).toBeTruthy();
    expect(screen.getByLabelText('Beta weight').getAttribute('aria-invalid')).toBeNull();
    expect(screen.getByLabelText('Name').getAttribute('aria-invalid')).toBe('true');
  });

  it('edits with If-Match of the version loaded; a 409 in-use conflict is shown as such', async () => {
    const sent = fakeFetch(() => json(409, { error: { code: 'conflict', message: 'phone number +15550001100 is in use by pool "Web pool"' } }));
    render(<CampaignForm campaign={campaign} buyers={buyers} pools={pools} routers={[]} publishers={publishers} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.clear(screen.getByLabelText('Phone number'));
    await u.type(screen.getByLabelText('Phone number'), '+15550001100');
    await u.click(screen.getByRole('button', { name: 'Save campaign' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toMatch(/Conflict: phone number \+15550001100 is in use by pool "Web pool"/);
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/campaigns/c1' });
    expect(sent[0].headers['if-match']).toBe('"7"');
    expect(sent[0].body).toMatchObject({ phoneNumber: '+15550001100',
      buyers: [{ buyerId: 'b2', priority: 1, weight: 1 }, { buyerId: 'b1', priority: 2, weight: 3 }] });
  });
});

describe('payout rules', () => {
  it('sends a default rule and a publisher override, amounts as decimal text, seconds only where they count', async () => {
    const sent = fakeFetch(() => json(200, campaign));
    render(<CampaignForm campaign={campaign} buyers={buyers} pools={pools} routers={[]} publishers={publishers} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    await u.click(screen.getByRole('button', { name: 'Add payout rule' }));
    await u.selectOptions(screen.getByLabelText('Rule 1 pays'), 'afterSeconds');
    await u.type(screen.getByLabelText('Rule 1 seconds'), '90');
    await u.type(screen.getByLabelText('Rule 1 amount'), '7.5');
    await u.click(screen.getByRole('button', { name: 'Add payout rule' }));
    await u.selectOptions(screen.getByLabelText('Rule 2 publisher'), 'pub1');
    await u.selectOptions(screen.getByLabelText('Rule 2 basis'), 'percent');
    await u.type(screen.getByLabelText('Rule 2 percent'), '40');
    await u.click(screen.getByLabelText('Rule 2 pays duplicate calls'));
    await u.click(screen.getByRole('button', { name: 'Save campaign' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0].body).toMatchObject({ payoutRules: [
      { publisherId: null, type: 'afterSeconds', seconds: 90, amount: '7.5', currency: 'USD', payDuplicates: false },
      { publisherId: 'pub1', type: 'onConversion', percent: 40, currency: 'USD', payDuplicates: true },
    ] });
    expect((sent[0].body as { payoutRules: object[] }).payoutRules[1]).not.toHaveProperty('seconds');
  });

  it('refuses a negative amount and a percent over 100 before sending; shows the API\'s currency 422 on its rule', async () => {
    const sent = fakeFetch(() => json(422, { error: { code: 'invalid', message: 'validation failed', fields: [
      { field: 'payoutRules[0].currency', message: 'must be USD, the currency of buyer "Beta"\'s revenue' },
    ] } }));
    const withRules = { ...campaign, payoutRules: [{ type: 'perCall' as const, amount: '5', currency: 'EUR', payDuplicates: false }] };
    render(<CampaignForm campaign={withRules} buyers={buyers} pools={pools} routers={[]} publishers={publishers} onSaved={vi.fn()} />);
    const u = userEvent.setup();
    expect((screen.getByLabelText('Rule 1 amount') as HTMLInputElement).value).toBe('5.00');
    await u.clear(screen.getByLabelText('Rule 1 amount'));
    await u.type(screen.getByLabelText('Rule 1 amount'), '-1');
    await u.click(screen.getByRole('button', { name: 'Add payout rule' }));
    await u.selectOptions(screen.getByLabelText('Rule 2 basis'), 'percent');
    await u.type(screen.getByLabelText('Rule 2 percent'), '101');
    await u.click(screen.getByRole('button', { name: 'Save campaign' }));
    expect(screen.getByLabelText('Rule 1 amount').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Rule 2 percent').getAttribute('aria-invalid')).toBe('true');
    expect(sent).toHaveLength(0);
    await u.click(screen.getByRole('button', { name: 'Remove rule 2' }));
    await u.clear(screen.getByLabelText('Rule 1 amount'));
    await u.type(screen.getByLabelText('Rule 1 amount'), '5');
    await u.click(screen.getByRole('button', { name: 'Save campaign' }));
    await screen.findByText('must be USD, the currency of buyer "Beta"\'s revenue');
    expect(screen.getByLabelText('Rule 1 currency').getAttribute('aria-invalid')).toBe('true');
  });
});

describe('CampaignList', () => {
  it('lists campaigns with their buyers and pauses one with its version', async () => {
    const sent = fakeFetch((req) => {
      if (req.url.startsWith('/api/campaigns?')) return json(200, { items: [campaign], nextCursor: null });
      if (req.url.startsWith('/api/buyers?')) return json(200, { items: buyers, nextCursor: null });
      return json(200, { ...campaign, status: 'paused', version: 8 });
    });
    render(<CampaignList />);
    const row = (await screen.findByText('Spring')).closest('tr') as HTMLElement;
    expect(row.textContent).toMatch(/active.*\+15550001000.*priority.*Beta \(p1, w1\), Acme \(p2, w3\)/);
    await userEvent.setup().click(within(row).getByRole('button', { name: 'Pause Spring' }));
    await waitFor(() => expect(sent.some((r) => r.method === 'PATCH')).toBe(true));
    const patch = sent.find((r) => r.method === 'PATCH')!;
    expect(patch).toMatchObject({ url: '/api/campaigns/c1', body: { status: 'paused' } });
    expect(patch.headers['if-match']).toBe('"7"');
    expect(patch.headers['content-type']).toBe('application/merge-patch+json');
  });
});

describe('a viewer', () => {
  it('sees campaigns without the controls that change them', async () => {
    fakeFetch((req) => json(200, { items: req.url.startsWith('/api/campaigns') ? [campaign] : buyers, nextCursor: null }));
    render(<RoleContext.Provider value="viewer"><CampaignList /></RoleContext.Provider>);
    const row = (await screen.findByText('Spring')).closest('tr') as HTMLElement;
    expect(within(row).queryByRole('button')).toBeNull();
    expect(within(row).getByRole('link', { name: 'View' })).toBeTruthy();
    expect(screen.queryByRole('link', { name: 'New campaign' })).toBeNull();
  });

  it('cannot submit the form', () => {
    fakeFetch(() => json(200, campaign));
    render(<RoleContext.Provider value="viewer"><CampaignForm campaign={campaign} buyers={buyers} pools={[]} routers={[]} publishers={publishers} onSaved={vi.fn()} /></RoleContext.Provider>);
    expect((screen.getByRole('button', { name: 'Save campaign' }) as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByRole('note').textContent).toMatch(/Read only/);
  });
});
