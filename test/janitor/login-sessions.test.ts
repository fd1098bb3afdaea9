/**
 * @module Login-session rows of logins that were not remembered expire (flows/login-session-
 * expiry.ts) and the janitor removes them; the 0001_login_session_expiry migration backfills
 * rows written before it and adds the constraint that keeps every such row expiring; the
 * embedded migration list (what the compiled binary carries) has it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, sql } from "drizzle-orm";
import { loginSessionExpiry, unrememberedLoginSessionLifetimeMs } from "../../src/flows/login-session-expiry.ts";
import { runJanitor } from "../../src/janitor/janitor.ts";
import { migrations, rowsOf } from "../../src/storage/migrate.ts";
import { openDatabase } from "../../src/storage/db.ts";
import { loginSessions } from "../../src/storage/schema/index.ts";
import { createTestDatabase, quietLog, type TestDatabase } from "../helpers/db.ts";
import { Browser, createClient, runFlow, startEnv, startTimeout, state, type Env } from "../flows/kit.ts";
import { hour } from "./support.ts";

const ttl = (refresh: number) => ({ ttl: { access_token: hour, id_token: hour, refresh_token: refresh, login_consent_request: hour, auth_code: hour } });

test("expiry: remember_for for remembered logins, none for a browser-session one, the longest token lifetime for the rest", () => {
  const at = new Date("2031-01-01T00:00:00Z");
  expect(loginSessionExpiry(ttl(720 * hour), { remember: true, rememberFor: 60 }, at)).toEqual(new Date(at.getTime() + 60_000));
  expect(loginSessionExpiry(ttl(720 * hour), { remember: true, rememberFor: 0 }, at)).toBeUndefined();
  expect(loginSessionExpiry(ttl(720 * hour), { remember: false, rememberFor: 60 }, at)).toEqual(new Date(at.getTime() + 720 * hour));
  expect(unrememberedLoginSessionLifetimeMs(ttl(2 * hour))).toBe(2 * hour);
  expect(unrememberedLoginSessionLifetimeMs({ ttl: { ...ttl(hour / 2).ttl, id_token: 3 * hour } })).toBe(3 * hour);
  // Refresh tokens that never expire: Hydra's default lifetime stands in.
  expect(unrememberedLoginSessionLifetimeMs(ttl(-1))).toBe(720 * hour);
});

test("the embedded migration list carries 0001_login_session_expiry after 0000_initial", () => {
  expect(migrations.map((m) => m.tag).slice(0, 2)).toEqual(["0000_initial", "0001_login_session_expiry"]);
  expect(migrations[1]!.statements).toHaveLength(2);
});

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`login sessions that were not remembered, on ${backend}`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(backend, "janitor_login_sessions", { ttl: { refresh_token: "48h" } });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    test("a login without remember gets a row that expires after the longest token lifetime; the janitor deletes it then, not before", async () => {
      const client = await createClient(env, { grant_types: ["implicit"], response_types: ["token"] });
      const subject = `unremembered-${backend}`;
      const stop = await runFlow(new Browser(env), { client_id: client.client_id, response_type: "token", redirect_uri: "https://client.test/cb", state: state() }, { login: { subject, remember: false } });
      expect(stop.location).toContain("access_token=");
      const db = env.server.deps.db;
      const [row] = await db.select().from(loginSessions).where(eq(loginSessions.subject, subject));
      expect(row!.remember).toBe(false);
      expect(row!.expiresAt!.getTime() - row!.authenticatedAt.getTime()).toBe(48 * hour);

      const run = (now: Date) => runJanitor(db, { cutoffs: { now, notAfter: now, refreshGraceMs: 0 }, limit: 1000, batchSize: 100, groups: new Set(["requests"]), requestLifespanMs: hour });
      await run(new Date(row!.expiresAt!.getTime() - 60_000));
      expect(await db.select().from(loginSessions).where(eq(loginSessions.subject, subject))).toHaveLength(1);
      const reports = await run(new Date(row!.expiresAt!.getTime() + 60_000));
      expect(reports.find((r) => r.table === "oauth2_login_sessions")!.deleted).toBeGreaterThanOrEqual(1);
      expect(await db.select().from(loginSessions).where(eq(loginSessions.subject, subject))).toHaveLength(0);
    });

    test("the database refuses a row of a login that was not remembered without an expiry", async () => {
      const db = env.server.deps.db;
      const err = await db
        .insert(loginSessions)
        .values({ id: `no-expiry-${backend}`, subject: "s", authenticatedAt: new Date(), remember: false, expiresAt: null })
        .then(() => undefined, (e: unknown) => e);
      expect(String((err as Error)?.message) + String(((err as Error)?.cause as Error | undefined)?.message ?? "")).toMatch(/oauth2_login_sessions_expiry_check|check constraint/);
    });
  });
}

describe("the 0001_login_session_expiry migration on PostgreSQL", () => {
  let pg: TestDatabase;
  beforeAll(async () => {
    pg = await createTestDatabase("login_session_expiry_migration");
  });
  afterAll(async () => {
    await pg?.drop();
  });

  test("rows written under 0000 without an expiry get authenticated_at + 720h; remembered ones are left alone", async () => {
    const database = await openDatabase({ dsn: pg.dsn, database: { embedded: { data_dir: "" }, connect_timeout: 5000 } }, { log: quietLog });
    try {
      const db = database.db;
      for (const statement of migrations[0]!.statements) await db.execute(sql.raw(statement));
      await db.execute(sql.raw(`INSERT INTO oauth2_login_sessions (id, subject, authenticated_at, remember, expires_at) VALUES
        ('old-unremembered', 's', '2030-01-01T00:00:00Z', false, NULL),
        ('old-browser', 's', '2030-01-01T00:00:00Z', true, NULL),
        ('old-remembered', 's', '2030-01-01T00:00:00Z', true, '2030-01-02T00:00:00Z')`));
      for (const statement of migrations[1]!.statements) await db.execute(sql.raw(statement));
      const rows = rowsOf<{ id: string; expires_at: string | Date | null }>(await db.execute(sql`SELECT id, expires_at FROM oauth2_login_sessions ORDER BY id`));
      const expiry = Object.fromEntries(rows.map((r) => [r.id, r.expires_at === null ? null : new Date(r.expires_at).toISOString()]));
      expect(expiry).toEqual({
        "old-browser": null,
        "old-remembered": "2030-01-02T00:00:00.000Z",
        "old-unremembered": "2030-01-31T00:00:00.000Z",
      });
    } finally {
      await database.close();
    }
  });
});
