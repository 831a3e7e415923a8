import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, api, errorFrom, parseJson, send, setUnauthorizedHandler, withQuery } from './api';
import { formatMoney, minorToDecimal } from './money';
import { fakeFetch, json } from './test/fetch';

afterEach(() => {
  vi.unstubAllGlobals();
  setUnauthorizedHandler(() => {});
});

describe('parseJson', () => {
  it('keeps money as the decimal text the server wrote', () => {
    const v = parseJson('{"items":[{"name":"A","revenue":25.0,"dailyCap":100},{"revenue": 0.1,"concurrencyLimit":2}]}') as {
      items: { revenue: string; dailyCap?: number; concurrencyLimit?: number }[];
    };
    expect(v.items[0].revenue).toBe('25.0');
    expect(v.items[1].revenue).toBe('0.1');
    // Other numbers stay numbers.
    expect(v.items[0].dailyCap).toBe(100);
    expect(v.items[1].concurrencyLimit).toBe(2);
  });

  it('keeps large amounts and every money key exactly, both ways', async () => {
    const v = parseJson('{"revenue":12345678.99,"floorPrice":9999999999999.99,"minBidAmount":0.01,"maxBidAmount":100,'
      + '"bids":[{"amount":1234567890123456.78,"winningBid":-3.10}]}') as Record<string, unknown>;
    expect([v.revenue, v.floorPrice, v.minBidAmount, v.maxBidAmount]).toEqual(['12345678.99', '9999999999999.99', '0.01', '100']);
    expect(v.bids).toEqual([{ amount: '1234567890123456.78', winningBid: '-3.10' }]);
    expect(formatMoney(v.revenue as string)).toBe('12345678.99');
    // Sent back as the same text.
    const sent = fakeFetch(() => json(200, {}));
    await api.put('/api/buyers/b1', { revenue: v.revenue }, 1);
    expect(sent[0].body).toEqual({ revenue: '12345678.99' });
  });

  it('leaves text that only looks like a money field alone', () => {
    const v = parseJson('{"description":"\\"revenue\\":5","floorPrice":2.25}') as Record<string, string>;
    expect(v.description).toBe('"revenue":5');
    expect(v.floorPrice).toBe('2.25');
  });

  it('formats decimals without floats', () => {
    expect(formatMoney('25.0')).toBe('25.00');
    expect(formatMoney('0.1')).toBe('0.10');
    expect(formatMoney('12')).toBe('12.00');
    expect(minorToDecimal(2550)).toBe('25.50');
    expect(minorToDecimal(5)).toBe('0.05');
    expect(minorToDecimal(-120)).toBe('-1.20');
  });
});

describe('errors', () => {
  it('reads the API error shape with its field errors', async () => {
    const e = await errorFrom(json(422, { error: { code: 'invalid', message: 'validation failed',
      fields: [{ field: 'phoneNumber', message: 'is required' }, { field: 'buyers[0].weight', message: 'must be at least 1' }] } }));
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.code, e.message]).toEqual([422, 'invalid', 'validation failed']);
    expect(e.field('buyers[0].weight')).toBe('must be at least 1');
    expect(e.field('name')).toBeUndefined();
  });

  it('says a stale version and an in-use conflict in their own words', async () => {
    const stale = await errorFrom(json(409, { error: { code: 'version_conflict', message: 'campaign changed: version 3, current 4' } }));
    expect(stale.summary).toMatch(/Someone else changed this/);
    const inUse = await errorFrom(json(409, { error: { code: 'conflict', message: 'buyer is assigned to campaign "X"' } }));
    expect(inUse.summary).toBe('Conflict: buyer is assigned to campaign "X"');
  });

  it('turns a body that is not ours into a readable error', async () => {
    const e = await errorFrom(new Response('Bad Gateway', { status: 502 }));
    expect([e.status, e.code, e.message]).toEqual([502, 'http_502', 'Bad Gateway']);
  });

  it('throws ApiError on failure and calls the 401 handler', async () => {
    fakeFetch(() => json(401, { error: { code: 'unauthorized', message: 'sign in or send an api key' } }));
    const onUnauthorized = vi.fn();
    setUnauthorizedHandler(onUnauthorized);
    await expect(api.get('/api/buyers')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('does not call the 401 handler for other failures', async () => {
    fakeFetch(() => json(403, { error: { code: 'forbidden', message: 'this needs the manager role' } }));
    const onUnauthorized = vi.fn();
    setUnauthorizedHandler(onUnauthorized);
    await expect(api.del('/api/buyers/x')).rejects.toMatchObject({ status: 403 });
    expect(onUnauthorized).not.toHaveBeenCalled();
  });

  it('reports an unreachable server', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => { throw new TypeError('Failed to fetch'); }));
    await expect(api.get('/api/calls')).rejects.toMatchObject({ status: 0, code: 'network' });
  });
});

describe('requests', () => {
  it('sends the version loaded as If-Match, and JSON bodies', async () => {
    const sent = fakeFetch(() => json(200, { id: 'b1', revenue: 30.5, version: 4 }));
    const saved = await api.put<{ revenue: string; version: number }>('/api/buyers/b1', { revenue: '30.50' }, 3);
    expect(sent[0]).toMatchObject({ method: 'PUT', url: '/api/buyers/b1', body: { revenue: '30.50' } });
    expect(sent[0].headers['if-match']).toBe('"3"');
    expect(sent[0].headers['content-type']).toBe('application/json');
    expect(saved).toEqual({ id: 'b1', revenue: '30.5', version: 4 });
  });

  it('sends no If-Match without a version, and reads a 204 as nothing', async () => {
    const sent = fakeFetch(() => new Response(null, { status: 204 }));
    await expect(api.del('/api/api-keys/k1')).resolves.toBeUndefined();
    expect(sent[0].headers['if-match']).toBeUndefined();
    expect(sent[0].method).toBe('DELETE');
  });

  it('leaves empty query parameters out', () => {
    expect(withQuery('/api/calls', { campaignId: 'c1', buyerId: '', status: undefined, limit: 50 })).toBe('/api/calls?campaignId=c1&limit=50');
    expect(withQuery('/api/calls', {})).toBe('/api/calls');
  });

  it('asks for another type with Accept', async () => {
    const sent = fakeFetch(() => new Response('id,from\n', { status: 200, headers: { 'Content-Type': 'text/csv' } }));
    const res = await send('GET', '/api/calls', { accept: 'text/csv' });
    expect(await res.text()).toBe('id,from\n');
    expect(sent[0].headers.accept).toBe('text/csv');
  });
});
