/**
 * @module Client secrets: generation, hashing (Bun.password), and verification with a
 * small cache so that the token endpoint does not pay the full hash cost on every request.
 *
 * Long secrets. bcrypt reads only the first 72 bytes, and Hydra silently truncates (ory/hydra#1438),
 * so two secrets sharing a 72-byte prefix were interchangeable. Bun.password's bcrypt does not
 * truncate: it hashes any password longer than 72 bytes with SHA-512 first (documented in Bun's
 * runtime/hashing docs), and verify does the same, so the whole secret counts. Secrets of up to
 * 72 bytes are plain bcrypt, which keeps hashes interchangeable with Hydra's ($2a$/$2b$).
 * test/clients/secrets.test.ts pins this behaviour.
 *
 * Verification cache (Hydra's pain point: bcrypt dominates the token endpoint, ory/hydra#1477).
 *  - One entry per client id, holding tag = HMAC-SHA256(k, len(id)‖id ‖ len(hash)‖hash ‖ secret) of
 *    the last secret that verified against the stored hash. k is 32 random bytes drawn when the cache
 *    is created; it lives only in this process's memory and is never written anywhere.
 *  - A request computes the same tag from the presented secret and the hash it just read from the
 *    database, and compares it with the entry in constant time. Equal → valid without bcrypt.
 *    Anything else → a full Bun.password.verify, and only a success is stored. A wrong secret is
 *    never cached, so it always pays the full hash cost (no cheap online guessing).
 *  - The stored hash is part of the tag, so when a secret changes (in this process or another one
 *    sharing the database) old entries can no longer match: they are invalid automatically. Update
 *    and delete also remove the entry at once (forgetClientSecret).
 *  - Why it is safe: a database dump holds only bcrypt/argon2 hashes, never tags. A dump of the cache
 *    alone holds HMACs under a key that exists nowhere else, useless without that key. A full memory
 *    dump (cache and key) lets an attacker test guesses at HMAC speed instead of bcrypt speed — the
 *    price of the speed-up; generated secrets carry ~190 bits, so only weak secrets chosen by
 *    operators would be at risk, and such a dump also exposes every secret in flight anyway.
 *  - Bounded LRU of maxCachedClients entries (~200 bytes each, so about 2 MB at most); the least
 *    recently used client is dropped first, which only costs it one full verification.
 * Unknown clients and clients without a secret are checked against a dummy hash of the same
 * algorithm and cost, so the time taken does not reveal whether a client id exists.
 */
import { randomBytes } from "node:crypto";
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { constantTimeEqual, randomString } from "../lib/crypto.ts";
import type { Db } from "../storage/db.ts";
import { getClient } from "./store.ts";
import type { StoredClient } from "./types.ts";

/** Length of generated secrets: 32 characters of a 66-symbol alphabet ≈ 193 bits (Hydra: 26). */
export const generatedSecretLength = 32;

/** How many clients' last verified secret the cache remembers. */
export const maxCachedClients = 10_000;

export function generateClientSecret(): string {
  return randomString(generatedSecretLength);
}

type HasherConfig = Config["oauth2"]["hashers"];

function hashOptions(hashers: HasherConfig): Parameters<typeof Bun.password.hash>[1] {
  return hashers.algorithm === "argon2id"
    ? { algorithm: "argon2id", memoryCost: hashers.argon2.memory, timeCost: hashers.argon2.iterations }
    : { algorithm: "bcrypt", cost: hashers.bcrypt.cost };
}

/** Hashes a secret with oauth2.hashers.* (bcrypt by default). Never log the input. */
export function hashClientSecret(hashers: HasherConfig, secret: string): Promise<string> {
  return Bun.password.hash(secret, hashOptions(hashers));
}

/** The in-process verification cache; one per Deps (see secretCacheOf). */
export class SecretVerificationCache {
  private readonly key = randomBytes(32);
  /** HMAC state keyed with `key` once; tag() copies it (a cache hit is one tag per token request). */
  private readonly keyed = new Bun.CryptoHasher("sha256", this.key);
  private readonly entries = new Map<string, string>();
  private dummyHash: Promise<string> | undefined;
  hits = 0;
  misses = 0;

  constructor(
    private readonly hashers: HasherConfig,
    readonly capacity = maxCachedClients,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  tag(clientId: string, secretHash: string, presented: string): string {
    // Length prefixes keep (id, hash, secret) unambiguous: no two triples give the same input.
    const h = this.keyed.copy();
    for (const part of [clientId, secretHash]) h.update(`${Buffer.byteLength(part)}:`).update(part);
    return h.update(presented).digest("base64url");
  }

  /** True when the presented secret is the one last verified against this exact hash. */
  matches(clientId: string, secretHash: string, presented: string): boolean {
    const cached = this.entries.get(clientId);
    if (cached === undefined) return false;
    if (!constantTimeEqual(cached, this.tag(clientId, secretHash, presented))) return false;
    // Map keeps insertion order: re-inserting makes this entry the most recently used.
    this.entries.delete(clientId);
    this.entries.set(clientId, cached);
    return true;
  }

  remember(clientId: string, secretHash: string, presented: string): void {
    this.entries.delete(clientId);
    this.entries.set(clientId, this.tag(clientId, secretHash, presented));
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  forget(clientId: string): void {
    this.entries.delete(clientId);
  }

  has(clientId: string): boolean {
    return this.entries.has(clientId);
  }

  /** A hash of a random value with the configured algorithm and cost, made once. */
  dummy(): Promise<string> {
    return (this.dummyHash ??= hashClientSecret(this.hashers, randomString(32)));
  }
}

/**
 * One cache per Deps object (the server's dependency bundle), so that the admin routes that
 * change clients and the token endpoint that authenticates them share it, and two servers in
 * one process (tests) never do.
 */
const caches = new WeakMap<object, SecretVerificationCache>();

export function secretCacheOf(deps: Pick<Deps, "config">): SecretVerificationCache {
  let cache = caches.get(deps);
  if (!cache) {
    cache = new SecretVerificationCache(deps.config.oauth2.hashers);
    caches.set(deps, cache);
  }
  return cache;
}

/** Drops a client's cached verification (its secret changed or it was deleted). */
export function forgetClientSecret(deps: Pick<Deps, "config">, clientId: string): void {
  secretCacheOf(deps).forget(clientId);
}

/**
 * Whether `presented` is the client's secret. Cache hit: one HMAC. Otherwise a full
 * Bun.password.verify (bcrypt or argon2id, read from the hash itself). Clients without a
 * secret never verify, after the same work as a wrong secret.
 */
export async function verifyClientSecret(
  deps: Pick<Deps, "config">,
  client: Pick<StoredClient, "clientId" | "secretHash">,
  presented: string,
): Promise<boolean> {
  const cache = secretCacheOf(deps);
  const hash = client.secretHash;
  if (!hash || presented === "") {
    await Bun.password.verify(presented || "-", await cache.dummy()).catch(() => false);
    cache.misses++;
    return false;
  }
  if (cache.matches(client.clientId, hash, presented)) {
    cache.hits++;
    return true;
  }
  cache.misses++;
  // A malformed stored hash is a wrong secret, not a 500.
  const ok = await Bun.password.verify(presented, hash).catch(() => false);
  if (ok) cache.remember(client.clientId, hash, presented);
  return ok;
}

/**
 * Looks up a client and checks its secret, in about the same time whether the id is unknown,
 * the client has no secret, or the secret is wrong. Returns the client only on success.
 */
export async function authenticateClientSecret(
  deps: Pick<Deps, "config"> & { db: Db },
  clientId: string,
  presented: string,
): Promise<StoredClient | undefined> {
  const client = await getClient(deps.db, clientId);
  if (!client) {
    await verifyClientSecret(deps, { clientId, secretHash: null }, presented);
    return undefined;
  }
  return (await verifyClientSecret(deps, client, presented)) ? client : undefined;
}
