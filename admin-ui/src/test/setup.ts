import { afterEach, vi } from 'vitest';
import { cleanup } from '@testing-library/react';

afterEach(() => cleanup());

// jsdom draws nothing: charts get a recording stand-in (src/test/uplot.ts) and a ResizeObserver that never fires.
vi.mock('uplot', () => import('./uplot'));
vi.mock('uplot/dist/uPlot.min.css', () => ({}));
globalThis.ResizeObserver ??= class { observe() {} unobserve() {} disconnect() {} } as unknown as typeof ResizeObserver;
