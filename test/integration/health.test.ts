/**
 * @module /health/ready against a real PostgreSQL that goes away, and extra readiness
 * checks that fail or hang: 503 {"errors":{...}} within a bounded time.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import postgres from "postgres";
import { adminDsn, createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let pg: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  pg = await createTestDatabase("health");
  await (await openMigrated(pg.dsn)).close();
  server = await startTestServer({ dsn: pg.dsn, logLevel: "warn" });
});

afterAll(async () => {
  await server?.stop();
  await pg?.drop();
});

test("a failing extra readiness check is reported by name; alive stays 200", async () => {
  server.deps.readiness.set("keys", async () => "the signing key set is missing");
  try {
    const res = await server.adminFetch("/health/ready");
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ errors: { keys: "the signing key set is missing" } });
    expect((await server.adminFetch("/health/alive")).status).toBe(200);
  } finally {
    server.deps.readiness.delete("keys");
  }
});

test("a check that throws or hangs is a bounded 503, not a hung probe", async () => {
  server.deps.readiness.set("throws", async () => {
    throw new Error("exploded");
  });
  server.deps.readiness.set("hangs", () => new Promise(() => {}));
  try {
    const t0 = performance.now();
    const res = await server.publicFetch("/health/ready");
    const ms = performance.now() - t0;
    expect(res.status).toBe(503);
    const body = (await res.json()) as { errors: Record<string, string> };
    expect(body.errors.throws).toBe("exploded");
    expect(body.errors.hangs).toMatch(/no answer within/);
    expect(body.errors.database).toBeUndefined();
    expect(ms).toBeLessThan(4000);
  } finally {
    server.deps.readiness.delete("throws");
    server.deps.readiness.delete("hangs");
  }
});

test("the database dropped under a running server: /health/ready turns 503 with errors.database, quickly", async () => {
  expect((await server.adminFetch("/health/ready")).status).toBe(200);
  const admin = postgres(adminDsn, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`DROP DATABASE "${pg.name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  for (const f of [server.publicFetch, server.adminFetch]) {
    const t0 = performance.now();
    const res = await f("/health/ready");
    const ms = performance.now() - t0;
    expect(res.status).toBe(503);
    const body = (await res.json()) as { errors: Record<string, string> };
    expect(Object.keys(body)).toEqual(["errors"]);
    expect(typeof body.errors.database).toBe("string");
    expect(body.errors.database!.length).toBeGreaterThan(0);
    // The ping is bounded at 2 s.
    expect(ms).toBeLessThan(3000);
    expect((await f("/health/alive")).status).toBe(200);
  }
});
