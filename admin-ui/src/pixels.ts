// Where the pixel pages read and link (the list, the form and the delivery
// log share them; one module, so none of those imports another's page).
import { href } from './route';

export const PIXELS = '/api/pixels';
export const DELIVERIES = '/api/pixels/deliveries';

/** The delivery log, filtered to one pixel's or one call's deliveries. */
export const deliveriesWhere = (filter: { pixelId: string } | { callId: string }) => `${href('pixels', 'deliveries')}?${new URLSearchParams(filter)}`;
