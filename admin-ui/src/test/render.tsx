// `render` with what the app shell provides: a query client of its own per
// test (nothing cached from another test).
import type { ReactElement } from 'react';
import { QueryClientProvider } from '@tanstack/react-query';
import { render as rtlRender } from '@testing-library/react';
import { makeQueryClient } from '../query';

export function render(ui: ReactElement) {
  const client = makeQueryClient();
  return rtlRender(<QueryClientProvider client={client}>{ui}</QueryClientProvider>);
}
