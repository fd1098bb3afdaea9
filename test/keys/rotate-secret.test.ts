/**
 * secrets.system rotation of keys at rest: `gatehouse keys rotate-secret` re-seals under the
 * new secret; a server with a secret that opens nothing starts anyway and reports not ready.
 */
import { migrations } from "../../src/storage/migrate.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createRemoteJWKSet, jwtVerify, SignJWT, type JWK } from "jose";
import { sealedWith } from "../../src/lib/crypto.ts";
import { keysReadinessName } from "../../src/keys/first-start.ts";
import { signingKey } from "../../src/keys/signing.ts";
import { jwkSealPurpose, sealedKeys } from "../../src/keys/store.ts";
import { accessTokenSet, idTokenSet } from "../../src/keys/types.ts";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer } from "../helpers/server.ts";
import { postJson, runCli, spawnServe, waitForAnswer, type ServeProcess } from "./support.ts";

const secretA = "secret-A-0123456789-abcdef";
const secretB = "secret-B-0123456789-abcdef";
const secretC = "secret-C-0123456789-abcdef";

type Jwks = { keys: JWK[] };

let pg: TestDatabase;
let database: Database;
let wrong: ServeProcess | undefined;
let before: Record<string, Jwks> = {};
let tokenBefore = "";

beforeAll(async () => {
  pg = await createTestDatabase("rotate_secret");
  database = await openMigrated(pg.dsn);
  // Keys made under secret A: the two first-start sets plus one pair and one symmetric key.
  const server = await startTestServer({ dsn: pg.dsn, config: { secrets: { system: [secretA] } } });
  try {
    await server.adminFetch("/keys/rp-keys", postJson({ alg: "ES256", kid: "rp", use: "sig" }));
    await server.adminFetch("/keys/rp-hmac", postJson({ alg: "HS256", kid: "h", use: "sig" }));
    for (const set of [idTokenSet, accessTokenSet, "rp-keys", "rp-hmac"]) before[set] = (await (await server.adminFetch(`/keys/${set}`)).json()) as Jwks;
    const k = await signingKey(server.deps, idTokenSet);
    tokenBefore = await new SignJWT({ sub: "a" }).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.key);
  } finally {
    await server.stop();
  }
});
afterAll(async () => {
  await wrong?.stop();
  await database?.close();
  await pg?.drop();
});

async function sealedIndexes(secrets: string[]): Promise<number[]> {
  return (await sealedKeys(database.db)).map((k) => sealedWith(secrets, k.sealed, jwkSealPurpose));
}

test("rotate-secret with [B, A] re-seals all 7 keys under B, in one go; a second run finds nothing to do", async () => {
  expect(await sealedIndexes([secretA])).toEqual([0, 0, 0, 0, 0, 0, 0]);
  const env = { DSN: pg.dsn, SECRETS_SYSTEM: `${secretB},${secretA}`, LOG_LEVEL: "warn" };
  const run = await runCli(["keys", "rotate-secret"], env);
  expect(run.stderr).toBe("");
  expect(run.stdout).toBe("Re-encrypted 7 key(s) under secrets.system[0]; 0 already were; 0 cannot be opened with any of secrets.system.\n");
  expect(run.code).toBe(0);
  expect(await sealedIndexes([secretB])).toEqual([0, 0, 0, 0, 0, 0, 0]);
  expect(await sealedIndexes([secretA])).toEqual([-1, -1, -1, -1, -1, -1, -1]);

  const again = await runCli(["keys", "rotate-secret"], env);
  expect(again.stdout).toBe("Re-encrypted 0 key(s) under secrets.system[0]; 7 already were; 0 cannot be opened with any of secrets.system.\n");
  expect(again.code).toBe(0);
});

test("then with only [B]: ready, every key readable and unchanged, old tokens verify, signing works", async () => {
  const server = await startTestServer({ dsn: pg.dsn, config: { secrets: { system: [secretB] } } });
  try {
    expect((await server.adminFetch("/health/ready")).status).toBe(200);
    for (const [set, jwks] of Object.entries(before)) expect(await (await server.adminFetch(`/keys/${set}`)).json()).toEqual(jwks);
    const remote = createRemoteJWKSet(new URL(`${server.publicUrl}/.well-known/jwks.json`));
    await jwtVerify(tokenBefore, remote);
    const k = await signingKey(server.deps, idTokenSet);
    await jwtVerify(await new SignJWT({ sub: "b" }).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.key), remote);
  } finally {
    await server.stop();
  }
});

test("rotate-secret with a secret that opens nothing reports every key, exits 1, and changes nothing", async () => {
  const stored = await sealedKeys(database.db);
  const run = await runCli(["keys", "rotate-secret"], { DSN: pg.dsn, SECRETS_SYSTEM: secretC, LOG_LEVEL: "warn" });
  expect(run.code).toBe(1);
  expect(run.stdout).toBe("Re-encrypted 0 key(s) under secrets.system[0]; 0 already were; 7 cannot be opened with any of secrets.system.\n");
  expect(run.stderr).toContain(`cannot decrypt: set ${idTokenSet} kid private:`);
  expect(run.stderr).toContain("cannot decrypt: set rp-hmac kid h (left unchanged)");
  expect(run.stderr.trim().split("\n")).toHaveLength(7);
  expect(run.stderr).not.toContain(secretC);
  expect(await sealedKeys(database.db)).toEqual(stored);
});

test("rotate-secret refuses a database with pending migrations or no reachable DSN", async () => {
  const empty = await createTestDatabase("rotate_empty");
  try {
    const run = await runCli(["keys", "rotate-secret", empty.dsn], { SECRETS_SYSTEM: secretB, LOG_LEVEL: "warn" });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`has pending migrations (${migrations.map((m) => m.tag).join(", ")}); run "gatehouse migrate sql -e --yes" first`);
  } finally {
    await empty.drop();
  }
  const memory = await runCli(["keys", "rotate-secret"], { DSN: "memory", SECRETS_SYSTEM: secretB });
  expect(memory.code).toBe(1);
  expect(memory.stderr).toContain('dsn "memory" holds no keys between runs');
});

test("a server whose secrets open no key starts, stays alive, reports not ready naming the sets, and regenerates nothing", async () => {
  const stored = await sealedKeys(database.db);
  wrong = spawnServe({ DSN: pg.dsn, SECRETS_SYSTEM: secretC });
  const alive = await waitForAnswer(`${wrong.adminUrl}/health/alive`, 30_000, (r) => r.status === 200);
  expect(alive?.status).toBe(200);
  await Bun.sleep(200);
  expect(wrong.proc.exitCode).toBeNull();

  for (const url of [wrong.adminUrl, wrong.publicUrl]) {
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { errors: Record<string, string> };
    expect(Object.keys(body.errors)).toEqual([keysReadinessName]);
    expect(body.errors[keysReadinessName]).toBe(
      `cannot decrypt the JSON Web Keys of set(s) ${accessTokenSet} (2 keys), ${idTokenSet} (2 keys), rp-hmac (1 key), rp-keys (2 keys) with any of secrets.system: ` +
        `the secret they were sealed with was changed or removed. Put the old secret back in secrets.system (after the new one) and run "gatehouse keys rotate-secret", or delete and recreate these sets`,
    );
  }
  const log = wrong.stderr();
  expect(log).toContain("ERROR [keys] cannot decrypt the JSON Web Keys of set(s)");
  expect(log).toContain("Serving anyway; /health/ready answers 503 until this is fixed.");
  expect(log).not.toContain(secretC);
  expect(log).not.toContain(secretB);

  // Published keys need no secret; reading private keys says what is wrong.
  const jwks = (await (await fetch(`${wrong.publicUrl}/.well-known/jwks.json`)).json()) as Jwks;
  expect(jwks.keys.map((k) => k.kid)).toEqual([before[idTokenSet]!.keys[1]!.kid]);
  const get = await fetch(`${wrong.adminUrl}/keys/rp-keys`);
  expect(get.status).toBe(500);
  expect(await get.json()).toEqual({
    error: "server_error",
    error_description:
      "The authorization server encountered an unexpected condition that prevented it from fulfilling the request. " +
      "2 key(s) of set 'rp-keys' cannot be decrypted with any of secrets.system (private:rp, public:rp). See /health/ready and 'gatehouse keys rotate-secret'.",
  });
  expect(await sealedKeys(database.db)).toEqual(stored);
});
