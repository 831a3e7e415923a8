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
// `demo` is sent only when true (a call the demo seeded as history).
export type CallRecord = Omit<Answer<Schemas['CallRecord'], 'demo'>, 'attempts'> & { attempts: Attempt[] };

/** A call as a publisher's login sees it: no revenue, profit or buyer; the caller masked unless the tenant allows it. */
export type PublisherCall = Answer<Schemas['PublisherCall']>;

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

/** A report's figures (`/api/reports/*`): counts, money in minor units, rates as fractions. A publisher's login gets no revenue, profit or margin. */
export type Metrics = Schemas['Metrics'];
export type Summary = Schemas['Summary'];
export type SummaryRow = Schemas['SummaryRow'];
/** One currency's totals of a summary. */
export type ReportTotals = Schemas['Totals'];
export type Timeseries = Schemas['Timeseries'];
/** Calls in progress now, by campaign and buyer (`/api/reports/live`). */
export type Live = Schemas['Live'];
export type RtbReport = Schemas['RtbReport'];
export type RtbRow = Schemas['RtbRow'];

/** A call event's name, as pixels fire on them. */
export type EventKind = Schemas['EventKind'];
export type PixelMethod = Schemas['PixelMethod'];
/** A postback or webhook; the answer leaves out what is empty, and `basicAuth.password` is always "" (write-only). */
export type Pixel = Answer<Schemas['Pixel'], 'body' | 'headers' | 'basicAuth' | 'filters' | 'campaignIds' | 'buyerIds'>;
/** A request as a pixel renders it (credentials masked in the log). */
export type PixelRequest = Schemas['PixelRequest'];
export type DeliveryState = Schemas['DeliveryState'];
/** One request made for one call event, with its last attempt's outcome. */
export type Delivery = Answer<Schemas['Delivery'], 'responseStatus' | 'responseBody' | 'error' | 'durationMs' | 'nextAttemptAt'>;
/** The tenant's new signing secret, shown this once. */
export type NewSecret = Schemas['NewSecret'];
/** A pixel's request for the sample call (`POST /api/pixels/preview`). */
export type PixelPreview = Schemas['Preview'];
/** What a saved pixel's test send got (`POST /api/pixels/{id}/test`). */
export type TestSend = Answer<Schemas['TestSend']>;
