/**
 * @module The token store's hot queries (built once, storage/prepared.ts) and the group commit
 * of access token rows (storage/group-commit.ts), on PostgreSQL and PGlite: concurrent writes
 * share statements and all commit; a row that cannot be written fails only its own caller;
 * the same built query runs on the pool, in transactions (commit and rollback) and on another
 * database.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import {
  accessTokenGroup,
  claimRefreshToken,
  getAccessToken,
  getRefreshToken,
  insertAccessToken,
  insertAccessTokenGrouped,
  insertAccessTokens,
  insertRefreshToken,
  getRefreshTokenGrouped,
  rotateRefreshToken,
  rotateRefreshTokenGrouped,
  type TokenRecord,
} from "../../src/oauth2/store.ts";
import type { Database, Db } from "../../src/storage/db.ts";
import { GroupCommit } from "../../src/storage/group-commit.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";

let seq = 0;
function record(overrides: Partial<TokenRecord> = {}): TokenRecord {
  seq++;
  return {
    signature: `sig-${process.pid}-${seq}-${Math.random().toString(36).slice(2)}`,
    requestId: `req-${seq}`,
    clientId: "client-a",
    subject: "client-a",
    grantedScope: ["read", "write"],
    grantedAudience: ["https://api.test"],
    requestedAt: new Date("2026-01-02T03:04:05.000Z"),
    expiresAt: new Date("2026-01-02T04:04:05.000Z"),
    session: "sealed-session",
    ...overrides,
  };
}

async function countAccess(db: Db, prefix: string): Promise<number> {
  const rows = (await db.execute(sql`select count(*)::int as n from oauth2_access_tokens where request_id like ${`${prefix}%`}`)) as unknown;
  const list = Array.isArray(rows) ? rows : (rows as { rows: unknown[] }).rows;
  return Number((list[0] as { n: number }).n);
}

const pgDatabases: TestDatabase[] = [];
const opened: Database[] = [];
afterAll(async () => {
  for (const d of opened) await d.close().catch(() => {});
  for (const d of pgDatabases) await d.drop();
});

async function open(backend: "postgres" | "pglite"): Promise<Database> {
  let dsn = "memory";
  if (backend === "postgres") {
    const pg = await createTestDatabase("token_writes");
    pgDatabases.push(pg);
    dsn = pg.dsn;
  }
  const database = await openMigrated(dsn);
  opened.push(database);
  return database;
}

describe.each(["postgres", "pglite"] as const)("on %s", (backend) => {
  let database: Database;
  let db: Db;
  beforeAll(async () => {
    database = await open(backend);
    db = database.db;
  }, 60_000);

  test("a row reads back exactly as written, through the built-once queries", async () => {
    const access = record({ expiresAt: new Date("2030-01-01T00:00:00.000Z") });
    await insertAccessToken(db, access);
    expect(await getAccessToken(db, access.signature)).toEqual(access);
    const refresh = record({ expiresAt: undefined, grantedAudience: [] });
    await insertRefreshToken(db, refresh);
    expect(await getRefreshToken(db, refresh.signature)).toEqual({ ...refresh, active: true, usedAt: undefined, rotatedPair: undefined });
    expect(await getAccessToken(db, "no-such-signature")).toBeUndefined();
  });

  test("concurrent grouped writes share statements, and every row is committed when its caller resumes", async () => {
    const group = accessTokenGroup(db);
    const before = { batches: group.batches, rows: group.rows };
    const records = Array.from({ length: 150 }, (_, i) => record({ requestId: `grouped-${i}` }));
    await Promise.all(
      records.map(async (r) => {
        await insertAccessTokenGrouped(db, r);
        // Committed before the caller goes on: visible to any other connection right away.
        expect(await getAccessToken(db, r.signature)).toEqual(r);
      }),
    );
    expect(group.rows - before.rows).toBe(150);
    // 150 rows, at most 64 per statement: at least 3 statements, and far fewer than 150.
    const statements = group.batches - before.batches;
    expect(statements).toBeGreaterThanOrEqual(3);
    expect(statements).toBeLessThanOrEqual(20);
    expect(await countAccess(db, "grouped-")).toBe(150);
  });

  test("a row that cannot be written fails only its caller; its neighbours in the batch are committed", async () => {
    const taken = record({ requestId: "dup-original" });
    await insertAccessToken(db, taken);
    const good = Array.from({ length: 9 }, (_, i) => record({ requestId: `neighbour-${i}` }));
    const clash = record({ signature: taken.signature, requestId: "neighbour-clash" });
    const group = accessTokenGroup(db);
    const batchesBefore = group.batches;
    const results = await Promise.allSettled([...good.slice(0, 4), clash, ...good.slice(4)].map((r) => insertAccessTokenGrouped(db, r)));
    // All ten went into one statement, which failed on the duplicate key and was retried row by row.
    expect(group.batches - batchesBefore).toBe(1);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled", "fulfilled", "fulfilled"]);
    for (const r of good) expect(await getAccessToken(db, r.signature)).toEqual(r);
    // The clash left the original row alone and wrote nothing of its own.
    expect((await getAccessToken(db, taken.signature))?.requestId).toBe("dup-original");
    expect(await countAccess(db, "neighbour-")).toBe(9);
  });

  test("the multi-row insert is all or nothing", async () => {
    const taken = record({ requestId: "multi-original" });
    await insertAccessToken(db, taken);
    const rows = [record({ requestId: "multi-a" }), record({ signature: taken.signature, requestId: "multi-b" })];
    await expect(insertAccessTokens(db, rows)).rejects.toThrow();
    expect(await countAccess(db, "multi-")).toBe(1);
  });

  test("the built-once queries run inside transactions: committed with the transaction, gone with its rollback", async () => {
    const kept = record({ requestId: "tx-kept" });
    const refresh = record({ requestId: "tx-kept" });
    await db.transaction(async (tx) => {
      await insertAccessToken(tx as unknown as Db, kept);
      await insertRefreshToken(tx as unknown as Db, refresh);
      expect(await getAccessToken(tx as unknown as Db, kept.signature)).toEqual(kept);
    });
    expect(await getAccessToken(db, kept.signature)).toEqual(kept);

    const dropped = record({ requestId: "tx-dropped" });
    await expect(
      db.transaction(async (tx) => {
        await insertAccessToken(tx as unknown as Db, dropped);
        const claimed = await claimRefreshToken(tx as unknown as Db, refresh.signature, refresh.clientId, new Date("2026-01-02T03:30:00.000Z"));
        expect(claimed?.signature).toBe(refresh.signature);
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(await getAccessToken(db, dropped.signature)).toBeUndefined();
    // The claim was rolled back too: the refresh token is still active and unused.
    expect(await getRefreshToken(db, refresh.signature)).toMatchObject({ active: true, usedAt: undefined });
  });

  test("a rotation in one statement: claims once, replaces the grant's access tokens, writes nothing unless it claims", async () => {
    const now = new Date("2026-01-02T03:30:00.000Z");
    const grant = { requestId: `rotate-${backend}`, clientId: "client-a", subject: "alice", grantedAudience: ["https://api.test"] };
    const presented = record({ ...grant, expiresAt: new Date("2026-01-03T00:00:00.000Z") });
    await insertRefreshToken(db, presented);
    const oldAccess = record({ ...grant });
    await insertAccessToken(db, oldAccess);
    const otherGrant = record({ requestId: `rotate-other-${backend}` });
    await insertAccessToken(db, otherGrant);
    // The new rows' grant columns come from the claimed row, whatever the records say.
    const access = record({ requestId: "ignored", subject: "ignored", requestedAt: now });
    const refresh = record({ requestId: "ignored", subject: "ignored", requestedAt: now, expiresAt: undefined });

    expect(await rotateRefreshToken(db, { signature: presented.signature, clientId: "client-b", now, access, refresh })).toBe(false);
    expect(await getAccessToken(db, access.signature)).toBeUndefined();
    expect(await getAccessToken(db, oldAccess.signature)).toEqual(oldAccess);

    expect(await rotateRefreshToken(db, { signature: presented.signature, clientId: "client-a", now, access, refresh })).toBe(true);
    expect(await getRefreshToken(db, presented.signature)).toMatchObject({ active: false, usedAt: now });
    expect(await getAccessToken(db, oldAccess.signature)).toBeUndefined();
    expect(await getAccessToken(db, otherGrant.signature)).toEqual(otherGrant);
    expect(await getAccessToken(db, access.signature)).toEqual({ ...access, ...grant });
    expect(await getRefreshToken(db, refresh.signature)).toEqual({ ...refresh, ...grant, active: true, usedAt: undefined, rotatedPair: undefined });

    // Spent: a second rotation claims nothing and writes nothing.
    const again = { access: record({ requestedAt: now }), refresh: record({ requestedAt: now }) };
    expect(await rotateRefreshToken(db, { signature: presented.signature, clientId: "client-a", now, ...again })).toBe(false);
    expect(await getAccessToken(db, again.access.signature)).toBeUndefined();
    expect(await getRefreshToken(db, again.refresh.signature)).toBeUndefined();

    // Expired: not claimed.
    const old = record({ requestId: `rotate-expired-${backend}`, expiresAt: new Date("2026-01-02T03:00:00.000Z") });
    await insertRefreshToken(db, old);
    const late = { access: record({ requestedAt: now }), refresh: record({ requestedAt: now }) };
    expect(await rotateRefreshToken(db, { signature: old.signature, clientId: "client-a", now, ...late })).toBe(false);
    expect(await getRefreshToken(db, old.signature)).toMatchObject({ active: true, usedAt: undefined });
    expect(await getAccessToken(db, late.access.signature)).toBeUndefined();
  });

  test("concurrent rotations of one refresh token: exactly one claims it", async () => {
    const now = new Date("2026-01-02T03:30:00.000Z");
    const presented = record({ requestId: `race-${backend}`, expiresAt: undefined });
    await insertRefreshToken(db, presented);
    const attempts = Array.from({ length: 8 }, () => ({ access: record({ requestedAt: now }), refresh: record({ requestedAt: now }) }));
    const won = await Promise.all(attempts.map((a) => rotateRefreshToken(db, { signature: presented.signature, clientId: presented.clientId, now, ...a })));
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = attempts[won.indexOf(true)]!;
    expect(await getRefreshToken(db, winner.refresh.signature)).toMatchObject({ active: true, requestId: presented.requestId });
    for (const a of attempts) if (a !== winner) expect(await getAccessToken(db, a.access.signature)).toBeUndefined();
  });

  test("grouped rotations share statements; each claims only its own token, and a token presented twice in one batch is claimed once", async () => {
    const now = new Date("2026-01-02T03:30:00.000Z");
    const grants = Array.from({ length: 5 }, (_, i) => ({ requestId: `grouped-${backend}-${i}`, clientId: "client-a", subject: `user-${i}`, grantedAudience: [`https://api-${i}.test`] }));
    const presented = grants.map((g) => record({ ...g, expiresAt: undefined }));
    for (const r of presented) await insertRefreshToken(db, r);
    const oldAccess = grants.map((g) => record({ ...g }));
    for (const r of oldAccess) await insertAccessToken(db, r);
    const expired = record({ requestId: `grouped-expired-${backend}`, expiresAt: new Date("2026-01-02T03:00:00.000Z") });
    await insertRefreshToken(db, expired);
    const pair = () => ({ access: record({ requestId: "ignored", subject: "ignored", requestedAt: now }), refresh: record({ requestId: "ignored", requestedAt: now }) });
    // 0-4: one each; 5: token 0 again; 6: token 1 by another client; 7: expired; 8: unknown.
    const attempts = [
      ...presented.map((r) => ({ signature: r.signature, clientId: "client-a", ...pair() })),
      { signature: presented[0]!.signature, clientId: "client-a", ...pair() },
      { signature: presented[1]!.signature, clientId: "client-b", ...pair() },
      { signature: expired.signature, clientId: "client-a", ...pair() },
      { signature: "no-such-token", clientId: "client-a", ...pair() },
    ];
    const won = await Promise.all(attempts.map((a) => rotateRefreshTokenGrouped(db, { ...a, now })));
    expect(won.slice(1, 5)).toEqual([true, true, true, true]);
    expect(won.slice(6)).toEqual([false, false, false]);
    // Token 0: exactly one of its two rotations won, and only the winner's pair was written.
    expect([won[0], won[5]].filter(Boolean)).toHaveLength(1);
    const loser = won[0] ? attempts[5]! : attempts[0]!;
    expect(await getAccessToken(db, loser.access.signature)).toBeUndefined();
    expect(await getRefreshToken(db, loser.refresh.signature)).toBeUndefined();
    for (const [i, g] of grants.entries()) {
      const a = won[i] ? attempts[i]! : attempts[5]!;
      expect(await getRefreshToken(db, presented[i]!.signature)).toMatchObject({ active: false, usedAt: now });
      expect(await getAccessToken(db, oldAccess[i]!.signature)).toBeUndefined();
      expect(await getAccessToken(db, a.access.signature)).toEqual({ ...a.access, ...g });
      expect(await getRefreshToken(db, a.refresh.signature)).toEqual({ ...a.refresh, ...g, active: true, usedAt: undefined, rotatedPair: undefined });
    }
    expect(await getRefreshToken(db, expired.signature)).toMatchObject({ active: true, usedAt: undefined });
    for (const a of attempts.slice(6)) expect(await getAccessToken(db, a.access.signature)).toBeUndefined();
    // The grouped read sees them as written.
    expect(await getRefreshTokenGrouped(db, presented[2]!.signature)).toEqual(await getRefreshToken(db, presented[2]!.signature));
    expect(await getRefreshTokenGrouped(db, "no-such-token")).toBeUndefined();
  });

  test("the same built query runs on a second database of the same kind", async () => {
    const other = await open(backend);
    const r = record({ requestId: "second-db" });
    await insertAccessToken(other.db, r);
    expect(await getAccessToken(other.db, r.signature)).toEqual(r);
    expect(await getAccessToken(db, r.signature)).toBeUndefined();
  });
});

test("group commit: an unreachable database fails every caller of the batch at once, without retrying row by row", async () => {
  const down = Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
  const calls = { many: 0, one: 0 };
  const group = new GroupCommit<number>({
    writeMany: async () => {
      calls.many++;
      throw down;
    },
    writeOne: async () => {
      calls.one++;
    },
    isUnavailable: (err) => err === down,
    maxBatch: 64,
    maxInFlight: 1,
  });
  const results = await Promise.allSettled([1, 2, 3].map((n) => group.write(n)));
  expect(results.every((r) => r.status === "rejected" && r.reason === down)).toBe(true);
  expect(calls).toEqual({ many: 1, one: 0 });
});

test("group commit: batches hold at most maxBatch rows and at most maxInFlight run at once", async () => {
  let running = 0;
  let peak = 0;
  const sizes: number[] = [];
  const group = new GroupCommit<number>({
    writeMany: async (rows) => {
      sizes.push(rows.length);
      running++;
      peak = Math.max(peak, running);
      await Bun.sleep(5);
      running--;
    },
    writeOne: async () => {
      sizes.push(1);
    },
    isUnavailable: () => false,
    maxBatch: 8,
    maxInFlight: 2,
  });
  await Promise.all(Array.from({ length: 40 }, (_, i) => group.write(i)));
  expect(sizes.reduce((a, b) => a + b, 0)).toBe(40);
  expect(Math.max(...sizes)).toBeLessThanOrEqual(8);
  expect(peak).toBeLessThanOrEqual(2);
  expect(group.rows).toBe(40);
});
