// The one form hook every form uses: the draft (what the inputs hold), the
// version it was loaded at (sent as If-Match), the field errors (the
// browser's own checks first, then the API's 422), the saving state, a
// second submit refused while one is in flight, and, after a conflict
// (someone else saved first: 409 or 412), a reload of the current version.
import { useRef, useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ApiError, type FieldError } from './api';
import { invalidate } from './query';

export interface FormSpec<D, B, T> {
  /** The draft to start from (called once). */
  initial: () => D;
  /** The version loaded (null or undefined: a new resource). */
  version?: number | null;
  /** The request body for a draft, or what the browser can already tell is wrong. */
  check: (draft: D) => { body?: B; errors: FieldError[] };
  /** Sends it: POST, or PUT with the version as If-Match. */
  save: (body: B, version: number | null | undefined) => Promise<T>;
  /** The collections the save changes (their queries are invalidated). */
  invalidates: string[];
  /** After a successful save. */
  onSaved?: (saved: T) => void;
  /** After a conflict: the current version of the resource, as a draft and its version. */
  reload?: () => Promise<{ draft: D; version?: number | null }>;
}

export function useForm<D, B, T>(spec: FormSpec<D, B, T>) {
  const client = useQueryClient();
  const [draft, setDraft] = useState<D>(spec.initial);
  const [version, setVersion] = useState(spec.version);
  const [localErrors, setLocalErrors] = useState<FieldError[]>([]);
  const [error, setError] = useState<unknown>();
  /** The draft as last submitted: field errors name its parts (`buyers[1].weight`). */
  const [submitted, setSubmitted] = useState<D>();
  // State updates are not seen until the next render: a second click before it must not send twice.
  const inFlight = useRef(false);
  const mutation = useMutation({
    mutationFn: ({ body, version }: { body: B; version: number | null | undefined }) => spec.save(body, version),
    onSuccess: () => { void invalidate(client, spec.invalidates); },
  });

  const apiError = error instanceof ApiError ? error : undefined;
  /** The message for one field: the browser's check, else the API's. */
  const err = (field: string) => localErrors.find((e) => e.field === field)?.message ?? apiError?.field(field);
  /** The API's messages for every field under a prefix (`schedule.monday`), joined. */
  const errUnder = (prefix: string, withField = false) =>
    apiError?.fields.filter((f) => f.field.startsWith(prefix)).map((f) => (withField ? `${f.field}: ${f.message}` : f.message)).join('; ') || undefined;

  /** Sets one field of a draft object. */
  const set = <K extends keyof D>(k: K) => (v: D[K]) => setDraft((d) => ({ ...d, [k]: v }));

  async function submit(e?: FormEvent) {
    e?.preventDefault();
    if (inFlight.current) return;
    const { body, errors } = spec.check(draft);
    setSubmitted(draft);
    setLocalErrors(errors);
    setError(undefined);
    if (body === undefined) return;
    inFlight.current = true;
    try {
      const saved = await mutation.mutateAsync({ body, version });
      const v = (saved as { version?: number } | undefined)?.version;
      if (typeof v === 'number') setVersion(v);
      spec.onSaved?.(saved);
    } catch (e) {
      setError(e);
    } finally {
      inFlight.current = false;
    }
  }

  /**
   * For another request made from the form (a preview): the body of the
   * draft, or undefined with what is wrong shown as a save's would be.
   */
  function checked(): B | undefined {
    const { body, errors } = spec.check(draft);
    setSubmitted(draft);
    setLocalErrors(errors);
    setError(undefined);
    return body;
  }

  /** Replaces the draft with the current version (after a conflict). */
  async function reload() {
    if (!spec.reload) return;
    try {
      const current = await spec.reload();
      setDraft(current.draft);
      setVersion(current.version);
      setError(undefined);
      setLocalErrors([]);
    } catch (e) {
      setError(e);
    }
  }

  return {
    draft,
    setDraft,
    set,
    version,
    err,
    errUnder,
    error,
    apiError,
    localErrors,
    submitted,
    saving: mutation.isPending,
    submit,
    checked,
    /** Shows the refusal of another request made from the form as a save's: a 422's field errors on the fields. */
    showError: setError,
    reload: spec.reload ? reload : undefined,
  };
}
