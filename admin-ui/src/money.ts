// Money as decimal text (never a float): what the API wrote, shown with two decimals.

/** `"25"` → `"25.00"`, `"25.5"` → `"25.50"`; anything else as it is. */
export function formatMoney(text: string | number | null | undefined): string {
  if (text === null || text === undefined || text === '') return '';
  const s = String(text);
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(s);
  if (!m) return s;
  const frac = (m[3] ?? '').padEnd(2, '0');
  return `${m[1]}${m[2]}.${frac}`;
}

/** Minor units (integer, e.g. a call's revenueMinor) as decimal text: 2550 → "25.50". */
export function minorToDecimal(minor: number): string {
  const neg = minor < 0;
  const abs = Math.abs(Math.trunc(minor)).toString().padStart(3, '0');
  return `${neg ? '-' : ''}${abs.slice(0, -2)}.${abs.slice(-2)}`;
}

/** Whether text is an amount the API takes: digits, at most two decimals. */
export function isAmount(text: string): boolean {
  return /^\d+(\.\d{1,2})?$/.test(text.trim());
}
