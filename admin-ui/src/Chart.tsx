// A time series as a uPlot chart: incoming, connected and converted calls
// per bucket, the axis in the report's time zone. uPlot draws on a canvas
// and styles through the DOM, which the console's CSP allows.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { seriesOf } from './reports';
import type { Timeseries } from './types';

const SERIES: [string, string][] = [['Incoming', '#0b5cad'], ['Connected', '#1a7f37'], ['Converted', '#9a6700']];
/** Daily buckets get ticks on whole days (1, 2 or 7 days, or months apart), never hours. */
const DAY_TICKS = [1, 2, 7, 30].map((days) => days * 86400);

export function CallsChart({ series, label, height = 260 }: { series: Timeseries; label: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const s = seriesOf(series.buckets);
    const tz = series.tz;
    const plot = new uPlot({
      width: Math.max(el.clientWidth, 320),
      height,
      // Ticks and the legend's time in the report's zone, not the browser's.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      scales: { y: { range: (_u, _min, max) => [0, Math.max(max, 1)] } },
      series: [
        { label: series.interval === 'hour' ? 'Hour' : 'Day' },
        ...SERIES.map(([name, stroke]) => ({ label: name, stroke, width: 2, points: { show: s.x.length < 60 } })),
      ],
      axes: [series.interval === 'day' ? { incrs: DAY_TICKS } : {}, { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) }],
    }, [s.x, s.incoming, s.connected, s.converted], el);
    // Follow the page's width (uPlot has a fixed size).
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 320), height }));
    resize.observe(el);
    return () => { resize.disconnect(); plot.destroy(); };
  }, [series, height]);
  return <figure className="chart" aria-label={label} ref={box} />;
}
