import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, within } from '@testing-library/react';
import { render } from '../test/render';
import { presetRange } from '../reports';
import { NY, path, reportApi, summariesAsked } from '../test/reports';
import { TodayPage } from './Today';

afterEach(() => vi.unstubAllGlobals());

describe('the Today page', () => {
  it("shows the server's figures for today by campaign and by buyer, never reading the calls", async () => {
    const sent = reportApi();
    render(<TodayPage />);
    const table = await screen.findByRole('table', { name: 'By campaign' });
    await screen.findByRole('table', { name: 'By buyer (the buyer that took the call)' });
    const today = presetRange('today', new Date(), NY)!;
    const groups = summariesAsked(sent);
    expect(groups).toEqual([{ ...today, tz: NY, groupBy: 'campaign' }, { ...today, tz: NY, groupBy: 'buyer' }]);
    expect(sent.some((r) => path(r) === '/api/calls')).toBe(false);
    expect(within(table).getAllByRole('columnheader').map((h) => h.textContent))
      .toEqual(['Campaign', 'Incoming', 'Live', 'Connected', 'Rejected', 'Blocked', 'Converted', 'Revenue']);
    // Counts add up over the currencies; revenue stays per currency.
    expect(screen.getByTestId('today-calls').textContent).toBe('17');
    expect(screen.getByText(/revenue/).textContent).toMatch(/revenue 90\.00 EUR, 65\.00 USD/);
  });
});
