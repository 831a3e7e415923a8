// Hash routing (#/campaigns, #/campaigns/new, #/campaigns/ID): the server
// serves only index.html and /assets, so the path never leaves the hash.
import { useEffect, useState } from 'react';

/** The route's parts: `#/campaigns/abc` → ['campaigns', 'abc']. */
export function parseHash(hash: string): string[] {
  return hash.replace(/^#\/?/, '').split('?')[0].split('/').filter(Boolean).map(decodeURIComponent);
}

/** The current route, updated on navigation. */
export function useRoute(): string[] {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

/** Goes to a route: navigate('campaigns', id). */
export function navigate(...parts: string[]): void {
  window.location.hash = '#/' + parts.map(encodeURIComponent).join('/');
}

/** An href for a route. */
export function href(...parts: string[]): string {
  return '#/' + parts.map(encodeURIComponent).join('/');
}
