import { afterAll, beforeAll, expect, test } from "bun:test";
import { createTestDatabase, openMigrated, type TestDatabase } from "./helpers/db.ts";
import { startTestServer, type TestServer } from "./helpers/server.ts";

let pg: TestDatabase;
let server: TestServer;
beforeAll(async () => {
  pg = await createTestDatabase("smoke");
  await (await openMigrated(pg.dsn)).close();
  server = await startTestServer({ dsn: pg.dsn });
});
afterAll(async () => {
  await server?.stop();
  await pg?.drop();
});

test("both listeners answer /health/ready on PostgreSQL", async () => {
  for (const f of [server.publicFetch, server.adminFetch]) {
    const res = await f("/health/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
  }
});
