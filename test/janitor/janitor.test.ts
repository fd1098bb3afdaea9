/**
 * The cleanup run (janitor/janitor.ts + the stores) on PostgreSQL and PGlite: exactly the
 * garbage goes, nothing else; the groups, cut-offs and batches do what they say.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { runJanitor, type Group, type JanitorOptions } from "../../src/janitor/janitor.ts";
import type { Cutoffs } from "../../src/janitor/store.ts";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { addAccessToken, addCode, addJti, addRefreshToken, addTrust, emptyTables, hour, minute, remaining } from "./support.ts";

const T = new Date("2031-06-01T12:00:00Z");
const at = (offsetMs: number) => new Date(T.getTime() + offsetMs);
const day = 24 * hour;

let pg: TestDatabase;
const databases: Record<string, Database> = {};
beforeAll(async () => {
  pg = await createTestDatabase("janitor");
  databases.PostgreSQL = await openMigrated(pg.dsn);
  databases.PGlite = await openMigrated("memory");
});
afterAll(async () => {
  await Promise.all(Object.values(databases).map((d) => d.close()));
  await pg?.drop();
});

function options(o: { cutoffs?: Partial<Cutoffs>; groups?: Group[]; limit?: number; batchSize?: number } = {}): JanitorOptions {
  return {
    cutoffs: { now: T, notAfter: T, refreshGraceMs: minute, ...o.cutoffs },
    limit: o.limit ?? 10_000,
    batchSize: o.batchSize ?? 100,
    groups: new Set(o.groups ?? ["tokens", "requests", "grants"]),
    requestLifespanMs: 30 * minute,
  };
}

/**
 * One of each case. Names say what should happen with default options (now = notAfter = T,
 * grace 1 min): "gone-…" rows are garbage, "kept-…" rows are not.
 */
async function fixture(db: Database["db"]) {
  // Access tokens.
  await addAccessToken(db, { signature: "gone-expired", requestedAt: at(-2 * hour), expiresAt: at(-hour) });
  await addAccessToken(db, { signature: "gone-expired-young", requestedAt: at(-30 * minute), expiresAt: at(-minute) });
  await addAccessToken(db, { signature: "kept-live", requestedAt: at(-10 * minute), expiresAt: at(50 * minute) });
  await addAccessToken(db, { signature: "kept-long-lifespan", requestedAt: at(-3 * hour), expiresAt: at(hour) });
  await addAccessToken(db, { signature: "kept-expires-at-now", requestedAt: at(-hour), expiresAt: T });
  await addAccessToken(db, { signature: "kept-no-expiry", requestedAt: at(-100 * day), expiresAt: undefined });
  // Refresh tokens.
  await addRefreshToken(db, { signature: "gone-expired", requestedAt: at(-31 * day), expiresAt: at(-day) });
  await addRefreshToken(db, { signature: "kept-live", requestedAt: at(-day), expiresAt: at(29 * day) });
  await addRefreshToken(db, { signature: "kept-never-expires", requestedAt: at(-400 * day), expiresAt: undefined });
  // Grant X is alive: its rotated token is kept for reuse detection (RFC 9700 §4.14.2).
  await addRefreshToken(db, { signature: "kept-rotated-live-grant", requestId: "X", requestedAt: at(-2 * day), expiresAt: at(28 * day), active: false, usedAt: at(-day) });
  await addRefreshToken(db, { signature: "kept-current-of-X", requestId: "X", requestedAt: at(-day), expiresAt: at(29 * day) });
  // Grant Y is dead (rotated, then revoked): both rows are garbage.
  await addRefreshToken(db, { signature: "gone-rotated-dead-grant", requestId: "Y", requestedAt: at(-2 * day), expiresAt: at(28 * day), active: false, usedAt: at(-day) });
  await addRefreshToken(db, { signature: "gone-revoked", requestId: "Y", requestedAt: at(-day), expiresAt: at(29 * day), active: false });
  // Grant Z is dead, but its token was rotated 10 s ago: inside the 1-minute grace period.
  await addRefreshToken(db, { signature: "kept-in-grace", requestId: "Z", requestedAt: at(-day), expiresAt: at(29 * day), active: false, usedAt: at(-10_000) });
  // Authorization codes: used ones stay until they expire (replay detection, RFC 6749 §4.1.2).
  await addCode(db, { signature: "gone-expired", requestedAt: at(-20 * minute), expiresAt: at(-10 * minute) });
  await addCode(db, { signature: "gone-used-expired", requestedAt: at(-20 * minute), expiresAt: at(-10 * minute), usedAt: at(-19 * minute) });
  await addCode(db, { signature: "kept-live", requestedAt: at(-minute), expiresAt: at(9 * minute) });
  await addCode(db, { signature: "kept-used-live", requestedAt: at(-2 * minute), expiresAt: at(8 * minute), usedAt: at(-minute) });
  // jti records.
  await addJti(db, "gone-expired", at(-1000));
  await addJti(db, "kept-live", at(1000));
  // Trust relationships: "shared" backs an expired and a live one; "solo" only an expired one.
  await addTrust(db, { id: "gone-expired-shared", issuer: "https://a.example.com", subject: "old", kid: "shared", expiresAt: at(-minute) });
  await addTrust(db, { id: "kept-live-shared", issuer: "https://a.example.com", subject: "new", kid: "shared", expiresAt: at(day) });
  await addTrust(db, { id: "gone-expired-solo", issuer: "https://a.example.com", subject: "x", kid: "solo", expiresAt: at(-day) });
  await addTrust(db, { id: "kept-live-other", issuer: "https://b.example.com", subject: "x", kid: "b1", expiresAt: at(day) });
}

const kept = (all: string[]) => all.filter((s) => s.startsWith("kept-")).sort();

const everything = {
  access: ["gone-expired", "gone-expired-young", "kept-expires-at-now", "kept-live", "kept-long-lifespan", "kept-no-expiry"],
  refresh: ["gone-expired", "gone-revoked", "gone-rotated-dead-grant", "kept-current-of-X", "kept-in-grace", "kept-live", "kept-never-expires", "kept-rotated-live-grant"],
  codes: ["gone-expired", "gone-used-expired", "kept-live", "kept-used-live"],
  jti: ["gone-expired", "kept-live"],
  trust: ["gone-expired-shared", "gone-expired-solo", "kept-live-other", "kept-live-shared"],
  keys: ["https://a.example.com/shared", "https://a.example.com/solo", "https://b.example.com/b1"],
};

for (const name of ["PostgreSQL", "PGlite"]) {
  describe(name, () => {
    const db = () => databases[name]!.db;
    beforeEach(async () => {
      await emptyTables(db());
      await fixture(db());
      expect(await remaining(db())).toEqual(everything);
    });

    test("deletes exactly the garbage of every table and reports the counts", async () => {
      const reports = await runJanitor(db(), options());
      expect(await remaining(db())).toEqual({
        access: kept(everything.access),
        refresh: kept(everything.refresh),
        codes: kept(everything.codes),
        jti: kept(everything.jti),
        trust: kept(everything.trust),
        keys: ["https://a.example.com/shared", "https://b.example.com/b1"],
      });
      expect(reports.map((r) => [r.name, r.table, r.deleted, r.statements])).toEqual([
        ["access tokens", "oauth2_access_tokens", 2, 1],
        ["refresh tokens", "oauth2_refresh_tokens", 3, 1],
        ["refresh token rotation pairs", "oauth2_refresh_tokens", 0, 1],
        ["authorization codes", "oauth2_authorization_codes", 2, 1],
        ["jti records", "oauth2_jti_records", 1, 1],
        // The requests group (flows/store.ts): nothing of it in this fixture (see test/grants/janitor-requests.test.ts).
        ["login and consent requests", "oauth2_flows", 0, 1],
        ["login sessions", "oauth2_login_sessions", 0, 1],
        ["logout requests", "oauth2_logout_requests", 0, 1],
        ["trust relationships", "trusted_jwt_issuers", 2, 1],
        ["keys of trust relationships", "json_web_keys", 1, 0],
      ]);
      // A second run finds nothing.
      const again = await runJanitor(db(), options());
      expect(again.every((r) => r.deleted === 0)).toBe(true);
      expect(again).toHaveLength(reports.length);
    });

    test("--tokens alone leaves trust relationships; --grants alone leaves tokens", async () => {
      await runJanitor(db(), options({ groups: ["grants"] }));
      let left = await remaining(db());
      expect(left.access).toEqual(everything.access);
      expect(left.refresh).toEqual(everything.refresh);
      expect(left.trust).toEqual(kept(everything.trust));
      await runJanitor(db(), options({ groups: ["tokens"] }));
      left = await remaining(db());
      expect(left.access).toEqual(kept(everything.access));
      expect(left.jti).toEqual(kept(everything.jti));
      // --requests alone touches only the request tables (nothing of them in this fixture).
      const requests = await runJanitor(db(), options({ groups: ["requests"] }));
      expect(requests.map((r) => [r.table, r.deleted])).toEqual([
        ["oauth2_flows", 0],
        ["oauth2_login_sessions", 0],
        ["oauth2_logout_requests", 0],
      ]);
    });

    test("keep-if-younger (notAfter): expired rows issued after notAfter stay", async () => {
      await runJanitor(db(), options({ cutoffs: { notAfter: at(-hour) }, groups: ["tokens"] }));
      const left = await remaining(db());
      // gone-expired-young was issued 30 min ago: younger than an hour.
      expect(left.access).toEqual(["gone-expired-young", ...kept(everything.access)].sort());
      // The expired code was issued 20 min ago; jti records have no issue time and follow exp only.
      expect(left.codes).toEqual(everything.codes);
      expect(left.jti).toEqual(kept(everything.jti));
    });

    test("--access-lifespan and --refresh-lifespan also take old rows whatever their expiry", async () => {
      await runJanitor(db(), options({ cutoffs: { accessLifespanMs: 2 * hour, refreshLifespanMs: 365 * day }, groups: ["tokens"] }));
      const left = await remaining(db());
      expect(left.access).toEqual(["kept-expires-at-now", "kept-live"]);
      expect(left.refresh).toEqual(kept(everything.refresh).filter((s) => s !== "kept-never-expires"));
    });

    test("without a grace period a rotated token of a dead grant goes at once", async () => {
      await runJanitor(db(), options({ cutoffs: { refreshGraceMs: 0 }, groups: ["tokens"] }));
      expect((await remaining(db())).refresh).toEqual(kept(everything.refresh).filter((s) => s !== "kept-in-grace"));
    });

    test("an expired trust relationship after notAfter stays (Hydra: expires_at < min(notAfter, now))", async () => {
      await runJanitor(db(), options({ cutoffs: { notAfter: at(-hour) }, groups: ["grants"] }));
      const left = await remaining(db());
      expect(left.trust).toEqual(["gone-expired-shared", ...kept(everything.trust)].sort());
      expect(left.keys).toEqual(["https://a.example.com/shared", "https://b.example.com/b1"]);
    });

    test("batches: --batch-size rows per statement, at most --limit rows per table and run", async () => {
      for (let i = 0; i < 25; i++) await addAccessToken(db(), { signature: `bulk-${String(i).padStart(2, "0")}`, requestedAt: at(-2 * hour), expiresAt: at(-hour) });
      // 27 expired access tokens now: 25 bulk + 2 from the fixture.
      const first = await runJanitor(db(), options({ groups: ["tokens"], limit: 20, batchSize: 6 }));
      expect(first[0]).toMatchObject({ table: "oauth2_access_tokens", deleted: 20, statements: 4 });
      expect((await remaining(db())).access.filter((s) => !s.startsWith("kept-"))).toHaveLength(7);
      const second = await runJanitor(db(), options({ groups: ["tokens"], limit: 100, batchSize: 7 }));
      // 7 left: one full batch, then an empty one that ends the loop.
      expect(second[0]).toMatchObject({ deleted: 7, statements: 2 });
      expect((await remaining(db())).access).toEqual(kept(everything.access));
    });

    test("limit and batch size must be positive", async () => {
      await expect(runJanitor(db(), options({ limit: 0 }))).rejects.toThrow("limit and batch size must both be greater than 0");
      await expect(runJanitor(db(), options({ batchSize: 0 }))).rejects.toThrow("limit and batch size must both be greater than 0");
    });
  });
}
