/**
 * First-start key sets: created once, configurable, safe with several processes on one
 * empty PostgreSQL database; and the signing-key choice and cache.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { asc, count, eq } from "drizzle-orm";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { createDeps, type Clock, type Deps } from "../../src/deps.ts";
import { ensureFirstStartKeys, keysReadinessName } from "../../src/keys/first-start.ts";
import { generateKeys } from "../../src/keys/keystore.ts";
import { forgetSigningKey, signingKey } from "../../src/keys/signing.ts";
import { deleteKeySet, insertKeys, listKeys } from "../../src/keys/store.ts";
import { accessTokenSet, idTokenSet } from "../../src/keys/types.ts";
import { jsonWebKeys } from "../../src/storage/schema/keys.ts";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, quietLog, type TestDatabase } from "../helpers/db.ts";
import { testSecret } from "../helpers/server.ts";
import { freePorts, spawnServe, waitForAnswer, type ServeProcess } from "./support.ts";

class ManualClock implements Clock {
  constructor(private t = Date.parse("2030-01-01T00:00:00Z")) {}
  now() {
    return new Date(this.t);
  }
  advance(ms: number) {
    this.t += ms;
  }
}

function depsOn(database: Database, clock: Clock = new ManualClock(), env: Record<string, string> = {}): Deps {
  const loaded = loadConfig({ env, flags: { dsn: "postgres://unused", "secrets.system": JSON.stringify([testSecret]), "log.level": "warn" }, mode: { forceHttp: true } });
  return createDeps(loaded, database, quietLog, clock);
}

async function countsBySet(database: Database): Promise<Record<string, number>> {
  const rows = await database.db
    .select({ setId: jsonWebKeys.setId, n: count() })
    .from(jsonWebKeys)
    .groupBy(jsonWebKeys.setId)
    .orderBy(asc(jsonWebKeys.setId));
  return Object.fromEntries(rows.map((r) => [r.setId, Number(r.n)]));
}

describe("in process", () => {
  let pg: TestDatabase;
  let database: Database;
  beforeAll(async () => {
    pg = await createTestDatabase("first_start");
    database = await openMigrated(pg.dsn);
  });
  afterAll(async () => {
    await database?.close();
    await pg?.drop();
  });

  test("creates both Hydra sets once, RS256 2048-bit by default; a second start adds nothing", async () => {
    const deps = depsOn(database);
    const first = await ensureFirstStartKeys(deps);
    expect(first.created).toEqual([idTokenSet, accessTokenSet]);
    expect(await countsBySet(database)).toEqual({ [accessTokenSet]: 2, [idTokenSet]: 2 });
    const keys = await listKeys(database.db, [testSecret], idTokenSet);
    expect(keys.map((k) => [k.kid.split(":")[0], k.alg, k.use, k.jwk.kty])).toEqual([
      ["private", "RS256", "sig", "RSA"],
      ["public", "RS256", "sig", "RSA"],
    ]);
    expect(Buffer.from(keys[1]!.jwk.n!, "base64url").length * 8).toBe(2048);
    expect(deps.readiness.has(keysReadinessName)).toBe(true);
    expect(await deps.readiness.get(keysReadinessName)!()).toBeUndefined();

    const second = await ensureFirstStartKeys(depsOn(database));
    expect(second.created).toEqual([]);
    expect(await countsBySet(database)).toEqual({ [accessTokenSet]: 2, [idTokenSet]: 2 });
    console.log(`first start: ${first.durationMs.toFixed(0)} ms with generation (2 × RS256-2048), ${second.durationMs.toFixed(1)} ms when the keys exist`);
  });

  test("the algorithm and size are configurable (ES256; RS512 at 3072 bits)", async () => {
    await deleteKeySet(database.db, idTokenSet);
    await deleteKeySet(database.db, accessTokenSet);
    const report = await ensureFirstStartKeys(depsOn(database), { alg: "ES256", bits: 2048 });
    expect(report.created).toEqual([idTokenSet, accessTokenSet]);
    expect((await listKeys(database.db, [testSecret], accessTokenSet)).map((k) => [k.alg, k.jwk.crv])).toEqual([
      ["ES256", "P-256"],
      ["ES256", "P-256"],
    ]);
    await deleteKeySet(database.db, idTokenSet);
    await ensureFirstStartKeys(depsOn(database), { alg: "RS512", bits: 3072 });
    const rsa = await listKeys(database.db, [testSecret], idTokenSet);
    expect(rsa.map((k) => k.alg)).toEqual(["RS512", "RS512"]);
    expect(Buffer.from(rsa[0]!.jwk.n!, "base64url").length * 8).toBe(3072);
  });

  test("keys.first_start.* from the environment choose what start-up generates", async () => {
    await deleteKeySet(database.db, idTokenSet);
    await deleteKeySet(database.db, accessTokenSet);
    const deps = depsOn(database, new ManualClock(), { KEYS_FIRST_START_ALGORITHM: "PS256", KEYS_FIRST_START_RSA_BITS: "3072" });
    await ensureFirstStartKeys(deps);
    const keys = await listKeys(database.db, [testSecret], idTokenSet);
    expect(keys.map((k) => k.alg)).toEqual(["PS256", "PS256"]);
    expect(Buffer.from(keys[0]!.jwk.n!, "base64url").length * 8).toBe(3072);
  });

  test("a symmetric or unknown algorithm, or a weak size, stops start-up as a config error", async () => {
    const deps = depsOn(database);
    await expect(ensureFirstStartKeys(deps, { alg: "HS256", bits: 2048 })).rejects.toThrow(ConfigError);
    await expect(ensureFirstStartKeys(deps, { alg: "RS256", bits: 1024 })).rejects.toThrow(
      "keys.first_start.rsa_bits: expected one of 2048, 3072, 4096, got 1024",
    );
    await expect(ensureFirstStartKeys(deps, { alg: "none", bits: 2048 })).rejects.toThrow(
      'keys.first_start.algorithm: expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, got "none"',
    );
  });

  test("a set holding only a public key gets a key pair (Hydra regenerates a set that lacks a private key)", async () => {
    await deleteKeySet(database.db, idTokenSet);
    const [, publicOnly] = await generateKeys({ alg: "ES256", kid: "pub-only", use: "sig" });
    await insertKeys(database.db, [testSecret], idTokenSet, [publicOnly!], new Date());
    const report = await ensureFirstStartKeys(depsOn(database));
    expect(report.created).toEqual([idTokenSet]);
    const kids = (await listKeys(database.db, [testSecret], idTokenSet)).map((k) => k.kid);
    expect(kids).toHaveLength(3);
    expect(kids).toContain("public:pub-only");
  });

  test("signingKey: the newest private key, its public kid; cached per process until changed or expired", async () => {
    const clock = new ManualClock();
    const deps = depsOn(database, clock);
    const setId = "signing-cache";
    await insertKeys(database.db, [testSecret], setId, await generateKeys({ alg: "ES256", kid: "old", use: "sig" }), new Date(Date.now() - 10_000));
    await insertKeys(database.db, [testSecret], setId, await generateKeys({ alg: "HS256", kid: "hmac-newer", use: "sig" }), new Date(Date.now() - 5_000));
    const first = await signingKey(deps, setId);
    // HS keys never sign tokens that others verify with jwks.json: the newest asymmetric key wins.
    expect(first).toMatchObject({ setId, kid: "public:old", alg: "ES256" });
    expect(first.key.type).toBe("private");
    expect(await signingKey(deps, setId)).toBe(first);

    // A key added behind this process's back is not seen until the cache entry expires …
    await insertKeys(database.db, [testSecret], setId, await generateKeys({ alg: "EdDSA", kid: "new", use: "sig" }), new Date());
    expect((await signingKey(deps, setId)).kid).toBe("public:old");
    clock.advance(31_000);
    expect((await signingKey(deps, setId)).kid).toBe("public:new");
    // … and at once after forgetSigningKey, which the admin API calls on every change.
    await deleteKeySet(database.db, setId);
    await insertKeys(database.db, [testSecret], setId, await generateKeys({ alg: "PS256", kid: "ps", use: "sig" }), new Date());
    forgetSigningKey(deps, setId);
    expect(await signingKey(deps, setId)).toMatchObject({ kid: "public:ps", alg: "PS256" });
  });

  test("signingKey fails with server_error for a missing set or one without a private signing key", async () => {
    const deps = depsOn(database);
    await expect(signingKey(deps, "no-such-set")).rejects.toMatchObject({ code: "server_error", status: 500, debug: 'key set "no-such-set" has no private signature key' });
    await insertKeys(database.db, [testSecret], "only-hmac", await generateKeys({ alg: "HS512", kid: "h", use: "sig" }), new Date());
    await expect(signingKey(deps, "only-hmac")).rejects.toMatchObject({ code: "server_error" });
  });
});

describe("several processes starting at once on one empty database", () => {
  let pg: TestDatabase;
  let database: Database;
  const processes: ServeProcess[] = [];
  beforeAll(async () => {
    pg = await createTestDatabase("first_start_race");
    database = await openMigrated(pg.dsn);
  });
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
    await database?.close();
    await pg?.drop();
  });

  test("4 processes: exactly one key pair per set, all ready, all publishing the same key", async () => {
    expect(await countsBySet(database)).toEqual({});
    const started = performance.now();
    const ports = freePorts(8);
    for (let i = 0; i < 4; i++) processes.push(spawnServe({ DSN: pg.dsn, SECRETS_SYSTEM: testSecret }, ports.slice(2 * i, 2 * i + 2)));
    const ready = await Promise.all(processes.map((p) => waitForAnswer(`${p.adminUrl}/health/ready`, 30_000, (r) => r.status === 200)));
    const elapsed = performance.now() - started;
    for (const [i, res] of ready.entries()) {
      if (res?.status !== 200) console.error(processes[i]!.stderr());
      expect(res?.status).toBe(200);
    }
    expect(processes.every((p) => p.proc.exitCode === null)).toBe(true);
    expect(await countsBySet(database)).toEqual({ [accessTokenSet]: 2, [idTokenSet]: 2 });
    const published = await Promise.all(processes.map(async (p) => (await fetch(`${p.publicUrl}/.well-known/jwks.json`)).text()));
    expect(new Set(published).size).toBe(1);
    expect((JSON.parse(published[0]!) as { keys: unknown[] }).keys).toHaveLength(1);
    const creators = processes.filter((p) => p.stderr().includes(`created key set ${idTokenSet}`));
    expect(creators).toHaveLength(1);
    const kidRows = await database.db.select({ kid: jsonWebKeys.kid }).from(jsonWebKeys).where(eq(jsonWebKeys.setId, idTokenSet));
    expect(kidRows.map((r) => r.kid.split(":")[0]).sort()).toEqual(["private", "public"]);
    console.log(`4 concurrent first starts: all ready after ${elapsed.toFixed(0)} ms`);
  });
});
