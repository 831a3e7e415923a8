import { afterEach, describe, expect, it, vi } from 'vitest';
import { screen, } from '@testing-library/react';
import { render } from '../test/render';
import { presetRange } from '../reports';
import { fakeFetch, json } from '../test/fetch';
import { NY, params, path } from '../test/reports';
import { RtbTargetReport } from './RtbReport';

afterEach(() => vi.unstubAllGlobals());

describe('the RTB targets report', () => {
  it('lists each target: bids, wins, timeouts, errors, response times, win rate and winning bids', async () => {
    const sent = fakeFetch((req) => {
      if (path(req) === '/api/reports/summary') return json(200, { tz: NY });
      return json(200, {
        from: '', to: '', tz: NY, groupBy: 'rtbTarget',
        rows: [{ key: 't1', name: 'Local bidder', currency: 'USD', metrics: { bidRequests: 4, validBids: 3, wins: 2, rejectedByReason: {}, timeouts: 1,
          errors: 0, responseMsP50: 12, responseMsP95: 45, winRate: 0.5, averageWinningBidMinor: 750, maxWinningBidMinor: 900 } }],
        totals: [],
      });
    });
    render(<RtbTargetReport />);
    const row = (await screen.findByText('Local bidder')).closest('tr')!;
    expect([...row.children].map((c) => c.textContent)).toEqual(['Local bidder', '4', '3', '2', '1', '0', '12 ms', '45 ms', '50.0%', '7.50 USD', '9.00 USD']);
    const q = params(sent.find((r) => path(r) === '/api/reports/rtb')!);
    expect(q).toEqual({ groupBy: 'rtbTarget', ...presetRange('last7', new Date(), NY)!, tz: NY });
  });
});
