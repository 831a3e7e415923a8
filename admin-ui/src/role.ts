// The signed-in user's role, so pages offer only what the API would allow
// (the API decides: a hidden button is a courtesy, not the check).
import { createContext, useContext } from 'react';

export type Role = 'viewer' | 'manager' | 'admin' | 'owner' | 'publisher';

/** The staff ranks. A publisher has none: it sees only its own pages, and may do nothing a rank allows. */
const RANK: Record<Role, number> = { viewer: 0, manager: 1, admin: 2, owner: 3, publisher: -1 };

/** Provided by the app shell; a page rendered alone (tests) may do everything. */
export const RoleContext = createContext<Role>('owner');

/** Whether the user's role is at least `min`. */
export function useCan(min: Role): boolean {
  return RANK[useContext(RoleContext)] >= RANK[min];
}
