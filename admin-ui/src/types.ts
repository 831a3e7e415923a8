// The API's resources, from the server's own OpenAPI document: `api/schema.d.ts`
// is generated from `openapi.json` (`npm run gen:api`), and these are its
// schemas as the console reads them. Two differences are spelled out here:
// - an answer carries every field, where the schema marks as optional what a
//   write may leave out (`Answer`);
// - money is decimal text in the console (`parseJson`), never a float (`Money`).
import type { components } from './api/schema';

type Schemas = components['schemas'];

/** A decimal amount as the text the server wrote, such as "25.5". */
export type Money = string;

/** A resource as the API answers it: every field present, but those in `Opt` (left out when empty, or write-only). */
type Answer<T, Opt extends keyof T = never> = Required<Omit<T, Opt>> & Partial<Pick<T, Opt>>;

/** With the money fields `K` as decimal text. */
type WithMoney<T, K extends keyof T> = Omit<T, K> & { [P in K]: Money };

export type CampaignStatus = Schemas['CampaignStatus'];
export type BuyerStatus = Schemas['BuyerStatus'];
export type TimeWindow = Schemas['TimeWindow'];
export type Schedule = Schemas['Schedule'];
export type Weekday = keyof Schedule;
export const WEEKDAYS: Weekday[] = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
export type GeoFilter = Answer<Schemas['GeoFilter']>;

export type Buyer = WithMoney<Answer<Schemas['Buyer']>, 'revenue'>;
/** A buyer's capacity in use now (`GET /api/buyers/{id}/stats`), counted in its time zone. */
export type BuyerCapacity = Answer<Schemas['BuyerCapacity']>;
export type BuyerAssignment = Answer<Schemas['BuyerAssignment']>;
/** What a campaign pays a publisher for a call (`amount` as decimal text). */
export type PayoutRule = Answer<Schemas['PayoutRule'], 'publisherId' | 'seconds' | 'amount' | 'percent'>;
export type Campaign = Omit<Answer<Schemas['Campaign'], 'tags'>, 'buyers' | 'payoutRules'> & { buyers: BuyerAssignment[]; payoutRules: PayoutRule[] };
/** A traffic source the network pays for calls. */
export type Publisher = Answer<Schemas['Publisher'], 'subId'>;

export type Attempt = Answer<Schemas['Attempt'], 'bidMinor' | 'bidDurationSeconds'>;
export type CallRecord = Omit<Answer<Schemas['CallRecord']>, 'attempts'> & { attempts: Attempt[] };

/** A number of the inventory (the pool or campaign holding it is the server's to say). */
export type InventoryNumber = Answer<Schemas['Number'], 'publisherId'>;
export type Pool = Answer<Schemas['Pool'], 'publisherId'>;
export type TrackingTag = Answer<Schemas['TrackingTag'], 'publisherId'>;
export type BlocklistEntry = Answer<Schemas['BlocklistEntry']>;
export type RouterTarget = Answer<Schemas['RouterTarget']>;
export type RtbRouter = Omit<WithMoney<Answer<Schemas['RtbRouter']>, 'floorPrice'>, 'targets'> & { targets: RouterTarget[] };

export type ApiKey = Schemas['ApiKey'];
/** A key as created: with its secret, shown this once. */
export type NewApiKey = Schemas['CreatedApiKey'];
export type UserView = Schemas['UserView'];
export type TenantView = Answer<Schemas['TenantView']>;
export type SessionView = Schemas['SessionView'];
/** The signed-in user, as `GET /api/auth/user` and the login answer it. */
export type CurrentUser = Schemas['CurrentUser'];
/** A number Twilio offers for sale. */
export type AvailableNumber = Schemas['AvailableNumber'];

/** Any listed resource with an id (pools, routers, …) for pickers. */
export interface Named { id: string; name: string }
