// Small form and page parts shared by every page: labelled fields with their
// field error, the error banner, a form's banners, a pixel's request as
// shown. (Data comes from `query.ts`, form state from `form.ts`.)
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { ApiError, type FieldError } from './api';
import type { PixelRequest } from './types';

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
    <div ref={banner} role="alert" className={e?.status === 409 || e?.stale ? 'banner conflict' : 'banner error'}>
      <p>{text}</p>
      {e && e.fields.length > 0 && (
        <ul>
          {/* A field may have several messages (a URL both malformed and with an unknown token). */}
          {e.fields.map((f, i) => (
            <li key={i}>
              <code>{f.field}</code>: {f.message}
            </li>
          ))}
        </ul>
      )}
      {e?.stale && onReload && (
        <button type="button" onClick={onReload}>Reload the current version</button>
      )}
    </div>
  );
}

/**
 * A form's banners: the API's answer (with "Reload the current version"
 * after a conflict), the browser's own refusal, and a read-only note.
 */
export function FormBanner(props: { error: unknown; localErrors: FieldError[]; onReload?: () => void; readOnly?: boolean }) {
  return (
    <>
      <ErrorBanner error={props.error} onReload={props.onReload} />
      {props.readOnly && <p className="banner" role="note">Read only: changes need the manager role.</p>}
      {props.localErrors.length > 0 && <div role="alert" className="banner error"><p>Please correct the fields below.</p></div>}
    </>
  );
}

/** Integer text → number, empty → null; NaN marks bad input for the caller to report. */
export function intOrNull(text: string): number | null {
  const t = text.trim();
  if (t === '') return null;
  return /^\d+$/.test(t) ? Number(t) : NaN;
}

/** A reader of required whole-number fields that lists each bad one in `errors`. */
export function wholeNumbers(errors: FieldError[]) {
  return (field: string, v: string) => {
    const n = intOrNull(v);
    if (n === null || Number.isNaN(n)) errors.push({ field, message: 'must be a whole number' });
    return n;
  };
}

/** A number from the API as form text. */
export const text = (v: number | string | null | undefined) => (v === null || v === undefined ? '' : String(v));

/** A buyer's or RTB target's tag filter, as the API has it. */
export interface TagFilter { tag: string; op: string; values?: string[] }

/** Tag filters as text, one a line: `language in es, pt`, `gclid exists`. */
export function filtersText(filters?: TagFilter[] | null): string {
  return (filters ?? []).map((f) => [f.tag, f.op, (f.values ?? []).join(', ')].filter(Boolean).join(' ')).join('\n');
}

/** The filters a text holds, a line each (`tag op value, value`); the server checks names, operators and values. */
export function parseFilters(text: string): TagFilter[] {
  return text.split('\n').map((l) => l.trim()).filter(Boolean).map((line) => {
    const [tag = '', op = '', ...rest] = line.split(/\s+/);
    return { tag, op, values: rest.join(' ').split(',').map((v) => v.trim()).filter(Boolean) };
  });
}

/** The tag filters of a buyer or target, edited as text (errors of any `filters[i]` shown under it). */
export function FiltersField(props: { value: string; onChange: (v: string) => void; error?: string }) {
  return (
    <Field label="Tag filters" error={props.error}
      hint="One a line: tag, operator (eq, in, notIn, exists, gt, lt, prefix), values: such as language in es, pt. Takes only calls matching all.">
      {(a) => <textarea {...a} rows={3} value={props.value} placeholder="language in es" onChange={(e) => props.onChange(e.target.value)} />}
    </Field>
  );
}

/** A request as rendered or sent: method and URL, headers, body. */
export function RequestView({ request, label }: { request: PixelRequest; label: string }) {
  return (
    <div className="detail" role="region" aria-label={label}>
      <p><strong>{request.method}</strong> <code className="url">{request.url}</code></p>
      {request.headers.length > 0 && (
        <table className="headers" aria-label={`${label}: headers`}>
          <tbody>
            {request.headers.map(([name, value], i) => (
              <tr key={i}><th scope="row">{name}</th><td><code>{value}</code></td></tr>
            ))}
          </tbody>
        </table>
      )}
      {request.body ? <pre className="wrap">{request.body}</pre> : <p className="hint">No body.</p>}
    </div>
  );
}
