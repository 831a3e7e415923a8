// The API's resources, as far as the console reads them (field names are the API's).

export type CampaignStatus = 'draft' | 'active' | 'paused' | 'completed';
export type BuyerStatus = 'active' | 'paused' | 'inactive';

export interface TimeWindow { open: string; close: string }
export type Weekday = 'monday' | 'tuesday' | 'wednesday' | 'thursday' | 'friday' | 'saturday' | 'sunday';
export type Schedule = Partial<Record<Weekday, TimeWindow[]>>;
export const WEEKDAYS: Weekday[] = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

export interface GeoFilter { allowStates: string[]; denyStates: string[]; allowZips: string[]; denyZips: string[] }

export interface Buyer {
  id: string;
  name: string;
  company: string;
  contact: string;
  phoneNumber: string;
  status: BuyerStatus;
  timezone: string;
  concurrencyLimit: number | null;
  hourlyCap: number | null;
  dailyCap: number | null;
  monthlyCap: number | null;
  totalCap: number | null;
  schedule: Schedule | null;
  geo: GeoFilter;
  conversionSeconds: number;
  /** Decimal text (the client never holds money as a float). */
  payout: string;
  currency: string;
  version: number;
}

export interface BuyerAssignment { buyerId: string; priority: number; weight: number }

export interface Campaign {
  id: string;
  name: string;
  description: string;
  status: CampaignStatus;
  routingType: 'direct' | 'pool' | 'rtb';
  phoneNumber: string | null;
  poolId: string | null;
  rtbRouterId: string | null;
  routingPolicy: 'priority' | 'round-robin';
  buyers: BuyerAssignment[];
  recording: boolean;
  dialTimeoutSeconds: number;
  callerIdMode: 'caller' | 'trackingNumber';
  duplicateWindowHours: number;
  duplicateAction: 'same-buyer' | 'reject';
  maxFallthrough: number;
  webhookUrl: string | null;
  pixelUrl: string | null;
  tags?: Record<string, string>;
  version: number;
}

export interface Attempt {
  buyerId: string;
  number: string;
  outcome: string;
  durationSeconds: number;
  startedAt: string;
}

export interface CallRecord {
  id: string;
  callSid: string;
  campaignId: string;
  from: string;
  to: string;
  status: 'ringing' | 'in-progress' | 'completed' | 'no-answer' | 'rejected';
  buyerId: string | null;
  startedAt: string;
  endedAt?: string | null;
  durationSeconds?: number;
  converted?: boolean;
  revenueMinor?: number;
  currency?: string;
  rejectReason?: string | null;
  attempts?: Attempt[];
  recordingUrl?: string | null;
  attribution?: { source?: string | null; medium?: string | null; campaign?: string | null; landingPage?: string | null } | null;
}

/** Any listed resource with an id (pools, routers, …) for pickers. */
export interface Named { id: string; name: string }
