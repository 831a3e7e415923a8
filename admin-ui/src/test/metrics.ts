// Report figures for tests.
import type { Metrics } from '../types';

/** Metrics with these figures, zero elsewhere. */
export function metrics(over: Partial<Metrics> = {}): Metrics {
  return {
    incoming: 0, live: 0, connected: 0, completed: 0, converted: 0, rejected: 0, rejectedByReason: {}, noConnect: 0, duplicate: 0,
    blocked: 0, fallback: 0, totalDurationSeconds: 0, averageDurationSeconds: 0, averageAnswerSeconds: 0, revenueMinor: 0, payoutMinor: 0,
    profitMinor: 0, revenuePerCallMinor: 0, payoutPerCallMinor: 0, conversionRate: 0, connectRate: 0, fallbackRate: 0, marginRate: null,
    roi: null, ...over,
  };
}

/** What a publisher's login gets: no revenue, profit, margin or ROI (the server leaves them out). */
export function publisherMetrics(over: Partial<Metrics> = {}): Metrics {
  const m: Partial<Metrics> = metrics(over);
  for (const k of ['revenueMinor', 'profitMinor', 'revenuePerCallMinor', 'marginRate', 'roi'] as const) delete m[k];
  return m as Metrics;
}
