// @vitest-environment node
// The types checked in (schema.d.ts) are openapi-typescript's output for the
// document checked in (openapi.json): a hand edit of either, or a document
// refreshed without its types, fails here. (That the document is the
// server's own is checked on the server's side: api/tests/openapi.rs.)
import { describe, expect, it } from 'vitest';
import openapiTS, { COMMENT_HEADER, astToString } from 'openapi-typescript';
import { createConfig } from '@redocly/openapi-core';
import checkedIn from './schema.d.ts?raw';

describe('generated API types', () => {
  it("are openapi-typescript's output for the checked-in openapi.json", async () => {
    // As the command line makes it (`npm run gen:types`): its Redocly config is the minimal one.
    const redocly = await createConfig({}, { extends: ['minimal'] });
    const ast = await openapiTS(new URL('../../openapi.json', import.meta.url), { redocly, silent: true });
    const generated = COMMENT_HEADER + astToString(ast);
    expect(checkedIn === generated, 'src/api/schema.d.ts is stale: run `npm run gen:api` in admin-ui (or `npm run gen:types` for the checked-in openapi.json)').toBe(true);
  }, 30000);
});
