/**
 * @module The group read of hot rows by key (storage/group-read.ts) on PostgreSQL and PGlite:
 * concurrent reads of clients and access tokens share statements and each caller gets its own
 * row (or undefined), the same key twice is read once, a committed deletion is seen by every
 * later read, and a batch that fails rejects every caller in it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { clientRead, deleteClient, getClient, getClientGrouped, insertClient } from "../../src/clients/store.ts";
import { emptyLifespans, type OAuth2Client } from "../../src/clients/types.ts";
import {
  accessTokenRead,
  accessTokenWithClientRead,
  getAccessToken,
  getAccessTokenGrouped,
  getAccessTokenWithClientGrouped,
  insertAccessToken,
  type TokenRecord,
} from "../../src/oauth2/store.ts";
import type { Database, Db } from "../../src/storage/db.ts";
import { GroupRead, textArrayLiteral } from "../../src/storage/group-read.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";

function client(id: string, name = `name of ${id}`): OAuth2Client {
  const at = new Date("2026-01-02T03:04:05.000Z");
  return {
    clientId: id,
    clientName: name,
    redirectUris: ["https://app.test/cb"],
    grantTypes: ["client_credentials"],
    responseTypes: ["token"],
    scope: "read write",
    audience: [],
    owner: "",
    policyUri: "",
    allowedCorsOrigins: [],
    tosUri: "",
    clientUri: "",
    logoUri: "",
    contacts: [],
    subjectType: "public",
    sectorIdentifierUri: "",
    jwksUri: "",
    jwks: undefined,
    tokenEndpointAuthMethod: "client_secret_basic",
    tokenEndpointAuthSigningAlg: "",
    requestUris: [],
    requestObjectSigningAlg: "",
    userinfoSignedResponseAlg: "none",
    createdAt: at,
    updatedAt: at,
    frontchannelLogoutUri: "",
    frontchannelLogoutSessionRequired: false,
    postLogoutRedirectUris: [],
    backchannelLogoutUri: "",
    backchannelLogoutSessionRequired: false,
    metadata: {},
    lifespans: emptyLifespans(),
  };
}

let seq = 0;
function token(clientId: string): TokenRecord {
  seq++;
  return {
    signature: `gr-${process.pid}-${seq}-${Math.random().toString(36).slice(2)}`,
    requestId: `gr-req-${seq}`,
    clientId,
    subject: `user-${seq}`,
    grantedScope: ["read"],
    grantedAudience: [],
    requestedAt: new Date("2026-01-02T03:04:05.000Z"),
    expiresAt: new Date("2030-01-02T04:04:05.000Z"),
    session: `session-${seq}`,
  };
}

const pgDatabases: TestDatabase[] = [];
const opened: Database[] = [];
afterAll(async () => {
  for (const d of opened) await d.close().catch(() => {});
  for (const d of pgDatabases) await d.drop();
});

async function open(backend: "postgres" | "pglite"): Promise<{ database: Database; dsn: string }> {
  let dsn = "memory";
  if (backend === "postgres") {
    const pg = await createTestDatabase("group_reads");
    pgDatabases.push(pg);
    dsn = pg.dsn;
  }
  const database = await openMigrated(dsn);
  opened.push(database);
  return { database, dsn };
}

test("a text[] literal keeps any text as is", () => {
  expect(textArrayLiteral([])).toBe("{}");
  expect(textArrayLiteral(["a", 'q"x', "b\\s", "NULL"])).toBe('{"a","q\\"x","b\\\\s","NULL"}');
});

describe.each(["postgres", "pglite"] as const)("on %s", (backend) => {
  let database: Database;
  let db: Db;
  let dsn: string;
  // Ids that an array literal must keep intact: separators, quotes, backslashes, braces, spaces, NULL.
  const ids = Array.from({ length: 40 }, (_, i) => `client-${i}`).concat(["a,b", 'q"x', "b\\s", "{x}", " sp ", "NULL", "é"]);
  beforeAll(async () => {
    ({ database, dsn } = await open(backend));
    db = database.db;
    for (const id of ids) expect(await insertClient(db, client(id), `hash-of-${id}`)).toBe(true);
  }, 60_000);

  test("concurrent reads share statements; each caller gets its own client, unknown ids undefined", async () => {
    const group = clientRead(db);
    const before = { batches: group.batches, keys: group.keys };
    const asked = [...ids, "unknown-1", ...ids.slice(0, 10), "unknown-2", "", "NULL"];
    const got = await Promise.all(asked.map((id) => getClientGrouped(db, id)));
    for (const [i, id] of asked.entries()) {
      if (id.startsWith("unknown") || id === "") expect(got[i]).toBeUndefined();
      else {
        expect(got[i]?.clientId).toBe(id);
        expect(got[i]).toEqual((await getClient(db, id))!);
        expect(got[i]?.secretHash).toBe(`hash-of-${id}`);
      }
    }
    // Each caller has its own object, even for the same id.
    expect(got[0]).not.toBe(got[ids.length + 1]);
    // Duplicates are read once: distinct keys only (the ids, two unknown, "").
    expect(group.keys - before.keys).toBe(ids.length + 3);
    const statements = group.batches - before.batches;
    expect(statements).toBeGreaterThanOrEqual(1);
    expect(statements).toBeLessThanOrEqual(4);
  });

  test("more keys than one statement holds are split, and all answered", async () => {
    const group = clientRead(db);
    const before = group.batches;
    const asked = Array.from({ length: 150 }, (_, i) => (i % 3 === 0 ? `client-${i % 40}` : `missing-${i}`));
    const got = await Promise.all(asked.map((id) => getClientGrouped(db, id)));
    for (const [i, id] of asked.entries()) expect(got[i]?.clientId).toBe(id.startsWith("client-") ? id : undefined);
    const distinct = new Set(asked).size;
    expect(group.batches - before).toBeGreaterThanOrEqual(Math.ceil(distinct / 64));
    expect(group.batches - before).toBeLessThanOrEqual(10);
  });

  test("a client deleted (committed) is not returned by any later read, batched or not", async () => {
    await insertClient(db, client("doomed"), "h");
    expect((await getClientGrouped(db, "doomed"))?.clientId).toBe("doomed");
    expect(await deleteClient(db, "doomed")).toBe(true);
    const after = await Promise.all(["doomed", "client-1", "doomed"].map((id) => getClientGrouped(db, id)));
    expect(after[0]).toBeUndefined();
    expect(after[1]?.clientId).toBe("client-1");
    expect(after[2]).toBeUndefined();
    // Deleted while reads of other ids are queued: a read asked for after the commit misses it.
    await insertClient(db, client("doomed-2"), "h");
    const neighbours = ids.slice(0, 8).map((id) => getClientGrouped(db, id));
    await deleteClient(db, "doomed-2");
    expect(await getClientGrouped(db, "doomed-2")).toBeUndefined();
    expect((await Promise.all(neighbours)).map((c) => c?.clientId)).toEqual(ids.slice(0, 8));
  });

  test("access tokens (alone and with their client): each caller its own row, unknown signatures undefined", async () => {
    const records = Array.from({ length: 30 }, (_, i) => token(i % 5 === 4 ? "gone-client" : `client-${i}`));
    for (const r of records) await insertAccessToken(db, r);
    const alone = accessTokenRead(db);
    const joined = accessTokenWithClientRead(db);
    const before = { alone: alone.batches, joined: joined.batches };
    const asked = [...records.map((r) => r.signature), "no-such-signature", records[0]!.signature];
    const [plain, withClient] = await Promise.all([
      Promise.all(asked.map((s) => getAccessTokenGrouped(db, s))),
      Promise.all(asked.map((s) => getAccessTokenWithClientGrouped(db, s))),
    ]);
    for (const [i, r] of records.entries()) {
      expect(plain[i]).toEqual(r);
      expect(plain[i]).toEqual((await getAccessToken(db, r.signature))!);
      expect(withClient[i]?.record).toEqual(r);
      expect(withClient[i]?.client?.clientId).toBe(r.clientId === "gone-client" ? undefined : r.clientId);
    }
    expect(plain[records.length]).toBeUndefined();
    expect(withClient[records.length]).toBeUndefined();
    expect(plain[records.length + 1]).toEqual(records[0]!);
    expect(alone.batches - before.alone).toBeLessThanOrEqual(3);
    expect(joined.batches - before.joined).toBeLessThanOrEqual(3);
    // A signature with NUL cannot be stored: undefined, without failing its neighbours' batch.
    const mixed = await Promise.all([getAccessTokenGrouped(db, "bad\0sig"), getAccessTokenGrouped(db, records[1]!.signature)]);
    expect(mixed).toEqual([undefined, records[1]!]);
  });

  test("a batch that fails rejects every caller in it; the next batch is served", async () => {
    let fail = true;
    const group = new GroupRead<string, { k: string }>({
      readMany: async (keys) => {
        // A real statement error (division by zero) when asked to fail.
        const divisor = fail ? 0 : 1;
        const result = (await db.execute(sql`select k, 1 / ${divisor}::int as one from unnest(${textArrayLiteral(keys)}::text::text[]) as k`)) as unknown;
        return (Array.isArray(result) ? result : (result as { rows: { k: string }[] }).rows) as { k: string }[];
      },
      readOne: async () => {
        throw new Error("not used: batches of several");
      },
      keyOf: (row) => row.k,
      maxBatch: 64,
      maxInFlight: 2,
    });
    const failed = await Promise.allSettled(["a", "b", "a", "c"].map((k) => group.read(k)));
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
    // drizzle wraps the driver's error: the database's message is in the cause.
    for (const r of failed) expect(String((r as PromiseRejectedResult).reason?.cause?.message)).toMatch(/division by zero/);
    fail = false;
    expect((await Promise.all(["a", "b"].map((k) => group.read(k)))).map((row) => row?.k)).toEqual(["a", "b"]);
  });

  test("a database that is gone: every grouped read of the batch gets the error", async () => {
    const other = await openMigrated(dsn === "memory" ? "memory" : dsn);
    await other.close();
    const results = await Promise.allSettled(["client-1", "client-2", "client-1", "unknown"].map((id) => getClientGrouped(other.db, id)));
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected", "rejected"]);
  }, 30_000);
});
