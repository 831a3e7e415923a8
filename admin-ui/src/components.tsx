// Small form and page parts shared by every page: labelled fields with their
// field error, the error banner, and the hooks that load data (once, or a
// page at a time).
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError, api, type Page } from './api';

/** A labelled control with its error under it (the control gets `id`, `aria-invalid`, `aria-describedby`). */
export function Field(props: {
  label: string;
  error?: string;
  hint?: string;
  children: (a11y: { id: string; 'aria-invalid'?: boolean; 'aria-describedby'?: string }) => ReactNode;
}) {
  const id = useId();
  const errId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [props.error ? errId : '', props.hint ? hintId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={props.error ? 'field invalid' : 'field'}>
      <label htmlFor={id}>{props.label}</label>
      {props.children({ id, 'aria-invalid': props.error ? true : undefined, 'aria-describedby': describedBy })}
      {props.hint && <small id={hintId} className="hint">{props.hint}</small>}
      {props.error && <span id={errId} className="field-error">{props.error}</span>}
    </div>
  );
}

export function TextField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  error?: string;
  hint?: string;
  type?: string;
  required?: boolean;
  placeholder?: string;
  autoComplete?: string;
  inputMode?: 'numeric' | 'decimal' | 'tel' | 'text';
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(a) => (
        <input
          {...a}
          type={props.type ?? 'text'}
          value={props.value}
          required={props.required}
          placeholder={props.placeholder}
          autoComplete={props.autoComplete}
          inputMode={props.inputMode}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function SelectField(props: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  options: { value: string; label: string }[];
  error?: string;
  hint?: string;
}) {
  return (
    <Field label={props.label} error={props.error} hint={props.hint}>
      {(a) => (
        <select {...a} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
          {props.options.map((o) => (
            <option key={o.value} value={o.value}>{o.label}</option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function CheckField(props: { label: string; checked: boolean; onChange: (v: boolean) => void; error?: string }) {
  const id = useId();
  return (
    <div className={props.error ? 'field check invalid' : 'field check'}>
      <input id={id} type="checkbox" checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
      <label htmlFor={id}>{props.label}</label>
      {props.error && <span className="field-error">{props.error}</span>}
    </div>
  );
}

/** Options from a list of words. */
export const opts = (...values: string[]) => values.map((v) => ({ value: v, label: v }));

/** A failed request, said plainly (409s and 422s in their own words). */
export function ErrorBanner({ error, onReload }: { error: unknown; onReload?: () => void }) {
  const banner = useRef<HTMLDivElement>(null);
  // Long forms are submitted from their bottom: bring the answer into view.
  useEffect(() => {
    if (error) banner.current?.scrollIntoView?.({ block: 'nearest' });
  }, [error]);
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  const text = e ? e.summary : String(error);
  // Field errors the form has no field for still need to be seen.
  return (
    <div ref={banner} role="alert" className={e?.status === 409 ? 'banner conflict' : 'banner error'}>
      <p>{text}</p>
      {e && e.fields.length > 0 && (
        <ul>
          {e.fields.map((f) => (
            <li key={f.field}>
              <code>{f.field}</code>: {f.message}
            </li>
          ))}
        </ul>
      )}
      {e?.code === 'version_conflict' && onReload && (
        <button type="button" onClick={onReload}>Reload the current version</button>
      )}
    </div>
  );
}

/** Loads data with `load` (again when `deps` change or on `reload()`). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load().then(
      (d) => { if (live) { setData(d); setError(undefined); setLoading(false); } },
      (e) => { if (live) { setError(e); setLoading(false); } },
    );
    return () => { live = false; };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload, setData };
}

/**
 * A list read a page at a time, newest first: the first page with
 * `getPage()` whenever `deps` change (or on `reload()`), the next one
 * appended on `more()`. Only the latest request counts: an answer that
 * comes after a newer request (other filters, a refresh) is dropped, so the
 * list never mixes two filters.
 */
export function usePaged<T>(getPage: (cursor?: string) => Promise<Page<T>>, deps: unknown[]) {
  const [items, setItems] = useState<T[]>([]);
  const [next, setNext] = useState<string | null>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(false);
  const latest = useRef(0);
  const get = useRef(getPage);
  get.current = getPage;

  const load = useCallback(async (cursor?: string) => {
    const mine = ++latest.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await get.current(cursor);
      if (mine !== latest.current) return;
      setItems((old) => (cursor ? [...old, ...page.items] : page.items));
      setNext(page.nextCursor);
    } catch (e) {
      if (mine === latest.current) setError(e);
    } finally {
      if (mine === latest.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    void load();
    // Unmounted or new deps: whatever is in flight no longer counts.
    return () => { latest.current++; };
  }, deps);

  const more = useCallback(() => { if (next) void load(next); }, [next, load]);
  const reload = useCallback(() => void load(), [load]);
  return { items, next, error, loading, more, reload };
}

/** Integer text → number, empty → null; NaN marks bad input for the caller to report. */
export function intOrNull(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

/** A number from the API as form text. */
export const text = (v: number | string | null | undefined) => (v === null || v === undefined ? '' : String(v));

/** Every item of a list, following its cursor: configuration lists are small (at most 100 pages of 500 are read). */
export async function listAll<T>(path: string): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await api.get<Page<T>>(path, { cursor, limit: 500 });
    out.push(...page.items);
    if (!page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return out;
}
