import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  authenticateClientSecret,
  hashClientSecret,
  SecretVerificationCache,
  secretCacheOf,
  verifyClientSecret,
} from "../../src/clients/secrets.ts";
import { getClient, updateClient } from "../../src/clients/store.ts";
import type { TestServer } from "../helpers/server.ts";
import { backends, json, type Started } from "./backends.ts";

const ms = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Hydra's default hasher: bcrypt, cost 10 (oauth2.hashers.bcrypt.cost). */
const defaultHashing = {};

for (const backend of backends) {
  describe(`client secrets on ${backend.name} (bcrypt cost 10)`, () => {
    let started: Started;
    let server: TestServer;
    beforeAll(async () => {
      started = await backend.start("clients_secrets", defaultHashing);
      server = started.server;
    });
    afterAll(async () => {
      await started?.stop();
    });

    const create = async (body: Record<string, unknown>) => {
      const res = await server.adminFetch("/clients", json(body));
      expect(res.status).toBe(201);
      return (await res.json()) as Record<string, unknown>;
    };

    test("secrets longer than 72 bytes count in full: two 100-byte secrets sharing 72 bytes differ", async () => {
      const a = `${"k".repeat(72)}${"A".repeat(28)}`;
      const b = `${"k".repeat(72)}${"B".repeat(28)}`;
      expect(Buffer.byteLength(a)).toBe(100);
      await create({ client_id: "long-secret", client_secret: a });
      const stored = await getClient(server.deps.db, "long-secret");
      expect(stored?.secretHash).toStartWith("$2b$10$");
      expect(await authenticateClientSecret(server.deps, "long-secret", b)).toBeUndefined();
      expect((await authenticateClientSecret(server.deps, "long-secret", a))?.clientId).toBe("long-secret");
      // Also when both are fresh to the cache.
      secretCacheOf(server.deps).forget("long-secret");
      expect(await authenticateClientSecret(server.deps, "long-secret", b)).toBeUndefined();
    });

    test("cold (hash) vs warm (cache) authentication cost", async () => {
      const cache = secretCacheOf(server.deps);
      const cold: number[] = [];
      const warm: number[] = [];
      const coldVerify: number[] = [];
      const warmVerify: number[] = [];
      for (let i = 0; i < 3; i++) {
        const body = await create({ client_id: `timed-${i}` });
        const id = body.client_id as string;
        const secret = body.client_secret as string;
        const hits = cache.hits;
        cold.push(await ms(() => authenticateClientSecret(server.deps, id, secret)));
        expect(cache.hits).toBe(hits);
        for (let j = 0; j < 5; j++) warm.push(await ms(() => authenticateClientSecret(server.deps, id, secret)));
        expect(cache.hits).toBe(hits + 5);
        // The verification alone, without the database read.
        const stored = (await getClient(server.deps.db, id))!;
        cache.forget(id);
        coldVerify.push(await ms(() => verifyClientSecret(server.deps, stored, secret)));
        for (let j = 0; j < 5; j++) warmVerify.push(await ms(() => verifyClientSecret(server.deps, stored, secret)));
      }
      const report = {
        backend: backend.name,
        authenticate_cold_ms: +median(cold).toFixed(2),
        authenticate_warm_ms: +median(warm).toFixed(3),
        verify_cold_ms: +median(coldVerify).toFixed(2),
        verify_warm_ms: +median(warmVerify).toFixed(4),
      };
      console.log(`client secret auth cost: ${JSON.stringify(report)}`);
      expect(median(warm)).toBeLessThan(median(cold) / 5);
      expect(median(warmVerify)).toBeLessThan(1);
    });

    test("a wrong secret is never cached as valid and always pays the full hash", async () => {
      const cache = secretCacheOf(server.deps);
      const body = await create({ client_id: "wrong-secret" });
      const secret = body.client_secret as string;
      const good = await ms(() => authenticateClientSecret(server.deps, "wrong-secret", secret));
      expect(cache.has("wrong-secret")).toBe(true);
      const stored = (await getClient(server.deps.db, "wrong-secret"))!;
      for (let i = 0; i < 3; i++) {
        const hits = cache.hits;
        const wrong = await ms(async () => expect(await authenticateClientSecret(server.deps, "wrong-secret", `${secret}x`)).toBeUndefined());
        expect(cache.hits).toBe(hits);
        expect(cache.matches("wrong-secret", stored.secretHash!, `${secret}x`)).toBe(false);
        expect(wrong).toBeGreaterThan(good * 0.3);
      }
      // The right secret is still the cached one.
      const hits = cache.hits;
      expect(await authenticateClientSecret(server.deps, "wrong-secret", secret)).toBeDefined();
      expect(cache.hits).toBe(hits + 1);
    });

    test("changing the secret through the API drops the cache entry; the old secret fails", async () => {
      const cache = secretCacheOf(server.deps);
      await create({ client_id: "rotate", client_secret: "first-secret" });
      await authenticateClientSecret(server.deps, "rotate", "first-secret");
      expect(await authenticateClientSecret(server.deps, "rotate", "first-secret")).toBeDefined();
      expect(cache.has("rotate")).toBe(true);
      const res = await server.adminFetch("/clients/rotate", json({ client_secret: "second-secret" }, "PUT"));
      expect(res.status).toBe(200);
      expect(cache.has("rotate")).toBe(false);
      expect(await authenticateClientSecret(server.deps, "rotate", "first-secret")).toBeUndefined();
      expect(await authenticateClientSecret(server.deps, "rotate", "second-secret")).toBeDefined();
      // PATCH and PUT without a secret also forget the entry (it is rebuilt on the next success).
      await server.adminFetch("/clients/rotate", json([{ op: "replace", path: "/client_name", value: "x" }], "PATCH"));
      expect(cache.has("rotate")).toBe(false);
      expect(await authenticateClientSecret(server.deps, "rotate", "second-secret")).toBeDefined();
    });

    test("a hash changed by another process invalidates the entry by itself (the hash is in the tag)", async () => {
      const cache = secretCacheOf(server.deps);
      await create({ client_id: "elsewhere", client_secret: "first-secret" });
      await authenticateClientSecret(server.deps, "elsewhere", "first-secret");
      const stored = (await getClient(server.deps.db, "elsewhere"))!;
      // Written straight to the database, as another Gatehouse process would: no forget() here.
      const newHash = await hashClientSecret(server.deps.config.oauth2.hashers, "second-secret");
      const { secretHash: _old, ...client } = stored;
      await updateClient(server.deps.db, client, { kind: "set", hash: newHash });
      expect(cache.has("elsewhere")).toBe(true);
      const hits = cache.hits;
      expect(await authenticateClientSecret(server.deps, "elsewhere", "first-secret")).toBeUndefined();
      expect(cache.hits).toBe(hits);
      expect(await authenticateClientSecret(server.deps, "elsewhere", "second-secret")).toBeDefined();
    });

    test("deleting the client removes its entry", async () => {
      const cache = secretCacheOf(server.deps);
      await create({ client_id: "deleted", client_secret: "some-secret" });
      expect(await authenticateClientSecret(server.deps, "deleted", "some-secret")).toBeDefined();
      expect(cache.has("deleted")).toBe(true);
      expect((await server.adminFetch("/clients/deleted", { method: "DELETE" })).status).toBe(204);
      expect(cache.has("deleted")).toBe(false);
      expect(await authenticateClientSecret(server.deps, "deleted", "some-secret")).toBeUndefined();
    });

    test("an unknown client or a client without a secret costs as much as a wrong secret", async () => {
      const body = await create({ client_id: "timing" });
      await create({ client_id: "timing-public", token_endpoint_auth_method: "none" });
      const secret = body.client_secret as string;
      await authenticateClientSecret(server.deps, "nobody", "warm-up-the-dummy-hash");
      const wrong: number[] = [];
      const unknown: number[] = [];
      const publicClient: number[] = [];
      for (let i = 0; i < 3; i++) {
        wrong.push(await ms(() => authenticateClientSecret(server.deps, "timing", `${secret}-no`)));
        unknown.push(await ms(async () => expect(await authenticateClientSecret(server.deps, `nobody-${i}`, secret)).toBeUndefined()));
        publicClient.push(await ms(async () => expect(await authenticateClientSecret(server.deps, "timing-public", secret)).toBeUndefined()));
      }
      expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.4);
      expect(median(publicClient)).toBeGreaterThan(median(wrong) * 0.4);
      expect(await authenticateClientSecret(server.deps, "timing", "")).toBeUndefined();
    });
  });
}

describe("verification cache internals", () => {
  const hashers = { algorithm: "bcrypt" as const, bcrypt: { cost: 4 }, argon2: { memory: 1024, iterations: 1 } };

  test("bounded LRU: the least recently used client is dropped first", () => {
    const cache = new SecretVerificationCache(hashers, 3);
    for (const id of ["a", "b", "c"]) cache.remember(id, "hash", `secret-${id}`);
    expect(cache.matches("a", "hash", "secret-a")).toBe(true); // a is now the most recent
    cache.remember("d", "hash", "secret-d");
    expect(cache.size).toBe(3);
    expect(cache.has("b")).toBe(false);
    expect(["a", "c", "d"].every((id) => cache.has(id))).toBe(true);
  });

  test("the tag binds id, hash and secret unambiguously and is not the secret", () => {
    const cache = new SecretVerificationCache(hashers);
    const tag = cache.tag("client", "$2b$hash", "secret");
    expect(tag).not.toContain("secret");
    expect(cache.tag("clien", "t$2b$hash", "secret")).not.toBe(tag);
    expect(cache.tag("client", "$2b$hash2", "secret")).not.toBe(tag);
    // Another cache (another process) has another key.
    expect(new SecretVerificationCache(hashers).tag("client", "$2b$hash", "secret")).not.toBe(tag);
  });

  test("argon2id hashes and Hydra's $2a$ bcrypt hashes verify; a malformed hash is a wrong secret", async () => {
    const deps = { config: { oauth2: { hashers: { ...hashers, algorithm: "argon2id" as const } } } } as Parameters<typeof verifyClientSecret>[0];
    const argon = await hashClientSecret(deps.config.oauth2.hashers, "argon-secret");
    expect(argon).toStartWith("$argon2id$v=19$m=1024,t=1");
    expect(await verifyClientSecret(deps, { clientId: "x", secretHash: argon }, "argon-secret")).toBe(true);
    expect(await verifyClientSecret(deps, { clientId: "x", secretHash: argon }, "argon-secret")).toBe(true);
    expect(secretCacheOf(deps).hits).toBe(1);
    // Hydra (Go) writes $2a$; after a switch of algorithm, old hashes still verify.
    const hydraHash = (await hashClientSecret(hashers, "hydra-secret")).replace(/^\$2b\$/, "$2a$");
    expect(await verifyClientSecret(deps, { clientId: "y", secretHash: hydraHash }, "hydra-secret")).toBe(true);
    expect(await verifyClientSecret(deps, { clientId: "z", secretHash: "not-a-hash" }, "whatever")).toBe(false);
  });
});
