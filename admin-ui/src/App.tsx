// The console's shell: who is signed in (and in which tenant), the
// navigation, and the page the hash names. Any 401 from the API sends the
// user back to the login page, and signing out (or in) forgets every cached
// answer: the next user must not see the last one's data.
import { useEffect, useRef, useState } from 'react';
import { QueryClientProvider, useQueryClient } from '@tanstack/react-query';
import { auth, setUnauthorizedHandler, type CurrentUser } from './api';
import { ErrorBanner } from './components';
import { ApiKeysPage, UsersPage } from './pages/Admin';
import { BuyerList, BuyerPage } from './pages/Buyers';
import { CallsPage } from './pages/Calls';
import { CampaignList, CampaignPage } from './pages/Campaigns';
import { LoginPage } from './pages/Login';
import { LOGS, LogPage } from './pages/Logs';
import { SettingsPage } from './pages/Settings';
import { TodayPage } from './pages/Today';
import { PUBLISHER_GROUPS, ReportsPage } from './pages/Reports';
import { LiveCount } from './LiveCount';
import { PoolPage } from './pages/PoolForm';
import { TagPage } from './pages/TagForm';
import { RouterPage } from './pages/RouterForm';
import { NumberPage } from './pages/NumberForm';
import { PublisherPage } from './pages/PublisherForm';
import { PORTAL_NAV, PortalCallsPage, PortalNumbersPage, PortalPublisherPage } from './pages/Portal';
import { TargetPage } from './pages/TargetForm';
import { BlocklistList, BlocklistPage } from './pages/Blocklist';
import { PixelList } from './pages/Pixels';
import { PixelPage } from './pages/PixelForm';
import { DeliveriesPage, DeliveryPage } from './pages/Deliveries';
import { KINDS, ResourceEdit, ResourceList } from './pages/Resources';
import { RoleContext } from './role';
import { href, useRoute } from './route';
import { makeQueryClient } from './query';

const NAV: [string, string][] = [
  ['reports', 'Reports'],
  ['campaigns', 'Campaigns'],
  ['buyers', 'Buyers'],
  ['calls', 'Calls'],
  ['today', 'Today'],
  ['pixels', 'Pixels'],
  ['pixels/deliveries', 'Deliveries'],
  ...KINDS.map((k) => [k.route, k.title] as [string, string]),
  ...LOGS.map((k) => [k.route, k.title] as [string, string]),
  ['api-keys', 'API keys'],
  ['users', 'Users'],
  ['settings', 'Settings'],
];

function Page({ route, onTenant }: { route: string[]; onTenant: (name: string) => void }) {
  const [section = 'reports', id, sub] = route;
  if (section === 'reports') return <ReportsPage />;
  if (section === 'campaigns') return id ? <CampaignPage id={id} /> : <CampaignList />;
  if (section === 'buyers') return id ? <BuyerPage id={id} /> : <BuyerList />;
  if (section === 'calls') return <CallsPage />;
  if (section === 'today') return <TodayPage />;
  // #/pixels/deliveries is the log (a pixel's id is a UUID, never that word).
  if (section === 'pixels' && id === 'deliveries') return sub ? <DeliveryPage id={sub} /> : <DeliveriesPage />;
  if (section === 'pixels') return id ? <PixelPage id={id} /> : <PixelList />;
  // Every resource has a form; #/pools/ID/json (and so on) is its JSON editor.
  if (section === 'pools' && id && sub !== 'json') return <PoolPage id={id} />;
  if (section === 'tracking-tags' && id && sub !== 'json') return <TagPage id={id} />;
  if (section === 'rtb-routers' && id && sub !== 'json') return <RouterPage id={id} />;
  if (section === 'numbers' && id && sub !== 'json') return <NumberPage id={id} />;
  if (section === 'publishers' && id && sub !== 'json') return <PublisherPage id={id} />;
  if (section === 'rtb-targets' && id && sub !== 'json') return <TargetPage id={id} />;
  if (section === 'blocklist' && !id) return <BlocklistList />;
  if (section === 'blocklist' && id && sub !== 'json') return <BlocklistPage id={id} />;
  if (section === 'api-keys') return <ApiKeysPage />;
  if (section === 'users') return <UsersPage />;
  if (section === 'settings') return <SettingsPage onTenant={onTenant} />;
  const log = LOGS.find((k) => k.route === section);
  if (log) return <LogPage kind={log} />;
  const kind = KINDS.find((k) => k.route === section);
  if (kind) return id ? <ResourceEdit kind={kind} id={id} /> : <ResourceList kind={kind} />;
  return <p>There is no page {section}. <a href={href('reports')}>Reports</a></p>;
}

/** A publisher's login: its own pages only (the server refuses it everything else). */
function PortalPage({ route, publisherId }: { route: string[]; publisherId: string }) {
  const [section = 'calls'] = route;
  if (section === 'calls') return <PortalCallsPage />;
  if (section === 'reports') return <ReportsPage title="My reports" groups={PUBLISHER_GROUPS} />;
  if (section === 'numbers') return <PortalNumbersPage />;
  if (section === 'publisher') return <PortalPublisherPage publisherId={publisherId} />;
  return <p>There is no page {section}. <a href={href('calls')}>My calls</a></p>;
}

export function App() {
  const [client] = useState(makeQueryClient);
  return (
    <QueryClientProvider client={client}>
      <Shell />
    </QueryClientProvider>
  );
}

function Shell() {
  const client = useQueryClient();
  const route = useRoute();
  // undefined: not known yet; null: nobody signed in.
  const [user, setUser] = useState<CurrentUser | null | undefined>();
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();

  const portal = user?.role === 'publisher' && user.publisherId ? user.publisherId : undefined;
  const nav = portal ? PORTAL_NAV : NAV;
  // Staff land on Reports, as Ringba's users do; a publisher on its calls.
  const home = portal ? 'calls' : 'reports';
  // The entry a route is under: the longest whose parts begin it (#/pixels/deliveries/ID is under Deliveries, not Pixels).
  const parts = route.length ? route : [home];
  const current = nav.filter(([r]) => r.split('/').every((p, i) => parts[i] === p)).sort(([a], [b]) => b.length - a.length)[0];
  const title = current?.[1];
  useEffect(() => {
    document.title = user && title ? `${title} · Switchboard` : 'Switchboard console';
  }, [user, title]);

  // Whether someone was signed in when a 401 came (then the session ended).
  const signedIn = useRef(false);
  useEffect(() => {
    signedIn.current = !!user;
    if (user === null) client.clear();
  }, [user, client]);
  useEffect(() => {
    setUnauthorizedHandler(() => {
      if (signedIn.current) setNotice('Your session ended: please sign in again.');
      setUser(null);
    });
    auth.user().then(setUser, (e) => { setError(e); setUser(null); });
  }, []);

  async function logout() {
    try {
      await auth.logout();
    } catch {
      // Signed out either way.
    }
    setNotice('You are signed out.');
    setUser(null);
  }

  if (user === undefined) return <p className="loading">Loading…</p>;
  if (user === null) {
    return (
      <>
        <ErrorBanner error={error} />
        <LoginPage notice={notice} onLogin={(u) => { setNotice(undefined); setError(undefined); setUser(u); }} />
      </>
    );
  }
  return (
    <RoleContext.Provider value={user.role}>
    <div className="shell">
      <header className="top">
        <strong className="brand">Switchboard</strong>
        {!portal && <LiveCount />}
        <span className="who">
          Signed in as <strong data-testid="username">{user.username}</strong> ({user.role}) in tenant{' '}
          <strong data-testid="tenant">{user.tenantName}</strong>
        </span>
        <button type="button" onClick={logout}>Sign out</button>
      </header>
      <nav aria-label="Sections">
        <ul>
          {nav.map(([r, label]) => (
            <li key={r}><a href={href(...r.split('/'))} aria-current={current?.[0] === r ? 'page' : undefined}>{label}</a></li>
          ))}
        </ul>
      </nav>
      <main>
        {/* A new route starts a fresh page (and fresh loads). */}
        {portal ? <PortalPage key={route.join('/')} route={route} publisherId={portal} />
          : <Page key={route.join('/')} route={route} onTenant={(tenantName) => setUser({ ...user, tenantName })} />}
      </main>
    </div>
    </RoleContext.Provider>
  );
}
