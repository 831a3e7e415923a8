// Pixels (docs/pixels.md): the list (activate, pause, delete), the tenant's
// signing secret (made or rotated by an admin, shown once), and a campaign's
// pixels on its page. The form is PixelForm.tsx, the delivery log
// Deliveries.tsx.
import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api';
import { ErrorBanner } from '../components';
import { PIXELS, deliveriesWhere } from '../pixels';
import { list, useAction } from '../query';
import { useCan } from '../role';
import { href } from '../route';
import type { Named, NewSecret, Pixel } from '../types';

/** What a pixel is attached to, in words. */
function attached(p: Pixel, campaignName: (id: string) => string): string {
  const campaigns = p.campaignIds ?? [];
  const buyers = p.buyerIds ?? [];
  if (!campaigns.length && !buyers.length) return 'account-wide';
  const where = campaigns.length ? campaigns.map(campaignName).join(', ') : 'every campaign';
  return buyers.length ? `${where}; ${buyers.length} buyer${buyers.length > 1 ? 's' : ''}` : where;
}

/** Makes the tenant a new signing secret (an admin) and shows it this once. */
function SigningSecret() {
  const [secret, setSecret] = useState<string>();
  const rotate = useAction(async () => setSecret((await api.post<NewSecret>(`${PIXELS}/signing-secret`, undefined)).secret), []);

  function make() {
    if (!window.confirm('Make a new signing secret? Deliveries are signed with it from now on; a secret it replaces keeps signing for 24 hours.')) return;
    void rotate.run(undefined);
  }

  return (
    <>
      <button type="button" onClick={make} disabled={rotate.busy}>Signing secret</button>
      <ErrorBanner error={rotate.error} />
      {secret && (
        <div className="banner success" role="status">
          <p>The signing secret: copy it now, it is shown only this time.</p>
          <p><code className="secret" aria-label="New signing secret">{secret}</code></p>
          <p>Receivers check <code>Switchboard-Signature</code> with it (docs/pixels.md, "Signatures"); a secret it replaced keeps signing for 24 hours.</p>
          <button type="button" onClick={() => setSecret(undefined)}>I copied it</button>
        </div>
      )}
    </>
  );
}

export function PixelList() {
  const canEdit = useCan('manager');
  const isAdmin = useCan('admin');
  const pixels = useQuery(list<Pixel>(PIXELS));
  const campaigns = useQuery(list<Named>('/api/campaigns'));
  const campaignName = (id: string) => campaigns.data?.find((c) => c.id === id)?.name ?? id.slice(0, 8);
  // Pause, activate and delete: one at a time, each with the version listed.
  const action = useAction(
    ({ p, status }: { p: Pixel; status?: Pixel['status'] }) =>
      status ? api.patch<Pixel>(`${PIXELS}/${p.id}`, { status }, p.version) : api.del(`${PIXELS}/${p.id}`, p.version),
    [PIXELS],
  );
  const busy = action.pending?.p.id;

  function remove(p: Pixel) {
    if (!window.confirm(`Delete pixel ${p.name}? Its deliveries stay in the log.`)) return;
    void action.run({ p });
  }

  return (
    <section>
      <header className="page-head">
        <h1>Pixels</h1>
        <a href={href('pixels', 'deliveries')}>Delivery log</a>
        {isAdmin && <SigningSecret />}
        {canEdit && <a className="button" href={href('pixels', 'new')}>New pixel</a>}
      </header>
      <p className="hint">Postbacks and webhooks: each fires on the call events it names, signed, retried until delivered, and logged.</p>
      <ErrorBanner error={pixels.error ?? campaigns.error ?? action.error} onReload={() => { action.clear(); void pixels.refetch(); }} />
      {pixels.isPending && <p>Loading…</p>}
      {pixels.data && pixels.data.length === 0 && <p>No pixels yet.</p>}
      {pixels.data && pixels.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Events</th>
              <th scope="col">Method</th>
              <th scope="col">URL</th>
              <th scope="col">Attached to</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {pixels.data.map((p) => (
              <tr key={p.id}>
                <td><a href={href('pixels', p.id)}>{p.name}</a></td>
                <td>{p.events.join(', ')}</td>
                <td>{p.method}</td>
                <td><code className="url">{p.url}</code></td>
                <td>{attached(p, campaignName)}</td>
                <td><span className={`status ${p.status}`}>{p.status}</span></td>
                <td className="actions">
                  <a href={deliveriesWhere({ pixelId: p.id })} aria-label={`Deliveries of ${p.name}`}>Deliveries</a>
                  {!canEdit ? null : p.status === 'active' ? (
                    <button type="button" disabled={busy === p.id} onClick={() => void action.run({ p, status: 'paused' })} aria-label={`Pause ${p.name}`}>Pause</button>
                  ) : (
                    <button type="button" disabled={busy === p.id} onClick={() => void action.run({ p, status: 'active' })} aria-label={`Activate ${p.name}`}>Activate</button>
                  )}
                  {canEdit && <button type="button" disabled={busy === p.id} onClick={() => remove(p)} aria-label={`Delete ${p.name}`}>Delete</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The pixels a campaign's calls may fire: attached to it, or to every campaign (account-wide, or to some buyers only). */
export function CampaignPixels({ campaignId }: { campaignId: string }) {
  const { data, error } = useQuery(list<Pixel>(PIXELS));
  const mine = (data ?? []).filter((p) => !p.campaignIds?.length || p.campaignIds.includes(campaignId));
  const scope = (p: Pixel) =>
    p.campaignIds?.length ? 'this campaign' : p.buyerIds?.length ? 'every campaign' : 'account-wide';
  return (
    <section aria-label="Pixels of the campaign">
      <h2>Pixels</h2>
      <ErrorBanner error={error} />
      {data && mine.length === 0 && <p>No pixel fires for this campaign's calls. <a href={href('pixels', 'new')}>New pixel</a></p>}
      {mine.length > 0 && (
        <table>
          <thead>
            <tr><th scope="col">Pixel</th><th scope="col">Events</th><th scope="col">Attached</th><th scope="col">Status</th></tr>
          </thead>
          <tbody>
            {mine.map((p) => (
              <tr key={p.id}>
                <td><a href={href('pixels', p.id)}>{p.name}</a></td>
                <td>{p.events.join(', ')}</td>
                <td>{scope(p)}{p.buyerIds?.length ? ` (${p.buyerIds.length} buyer${p.buyerIds.length > 1 ? 's' : ''})` : ''}</td>
                <td><span className={`status ${p.status}`}>{p.status}</span></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
