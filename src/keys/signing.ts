/**
 * @module The key a set signs with: its newest private asymmetric signature key
 * (Hydra v1: created_at DESC, first private key). Cached per process, see signingKeyCacheMs.
 */
import { importJWK } from "jose";
import type { Deps } from "../deps.ts";
import { serverError } from "../errors.ts";
import { signingKeyCacheMs } from "./defaults.ts";
import { isAsymmetricSigningAlg, publicKid } from "./keystore.ts";
import { createRsaSigner, isRsaPkcs1Alg, type RsaSigner } from "./openssl-rsa.ts";
import { openKeySet } from "./store.ts";

export interface SigningKey {
  setId: string;
  /** The kid to put in the JWS header: the public key's, as published in jwks.json. */
  kid: string;
  alg: string;
  /** For jose (the fallback, and every alg but RS256/384/512). */
  key: CryptoKey;
  /** OpenSSL's signer for RS256/384/512 when available; signJwt (jws.ts) prefers it. */
  rsa?: RsaSigner;
}

interface Entry {
  expiresAt: number;
  value: Promise<SigningKey>;
}

type SigningDeps = Pick<Deps, "db" | "config" | "clock"> & Partial<Pick<Deps, "log">>;

/**
 * One cache per Deps (a WeakMap, not a module-level map of keys), so two servers in one
 * process, as in tests, never share keys. Single process only: another instance's change is
 * seen after at most signingKeyCacheMs; a change through this process's API is seen at once.
 */
const caches = new WeakMap<object, Map<string, Entry>>();

function cacheOf(deps: SigningDeps): Map<string, Entry> {
  let cache = caches.get(deps);
  if (!cache) caches.set(deps, (cache = new Map()));
  return cache;
}

/** Drops the cached signing key of a set; the admin API calls it after every change to the set. */
export function forgetSigningKey(deps: SigningDeps, setId: string): void {
  cacheOf(deps).delete(setId);
}

/**
 * The newest private signature key of a set, ready for signJwt (jws.ts).
 * Fails with server_error when the set has none or its newest keys cannot be decrypted.
 */
export function signingKey(deps: SigningDeps, setId: string): Promise<SigningKey> {
  const cache = cacheOf(deps);
  const now = deps.clock.now().getTime();
  const hit = cache.get(setId);
  if (hit && hit.expiresAt > now) return hit.value;
  const value = loadSigningKey(deps, setId);
  cache.set(setId, { expiresAt: now + signingKeyCacheMs, value });
  // A failure is not cached: the next call reads the database again.
  value.catch(() => {
    if (cache.get(setId)?.value === value) cache.delete(setId);
  });
  return value;
}

async function loadSigningKey(deps: SigningDeps, setId: string): Promise<SigningKey> {
  const { keys, unreadable } = await openKeySet(deps.db, deps.config.secrets.system, setId);
  // Never fall back to a key that happens to open: that would hide a secrets.system problem.
  if (unreadable.length > 0) {
    throw serverError(undefined, {
      debug: `keys ${unreadable.join(", ")} of set "${setId}" cannot be decrypted with any of secrets.system; see /health/ready and "gatehouse keys rotate-secret"`,
    });
  }
  const newest = keys.find((k) => k.use === "sig" && isAsymmetricSigningAlg(k.alg) && k.jwk.d !== undefined);
  if (!newest) throw serverError(undefined, { debug: `key set "${setId}" has no private signature key` });
  const jwk = { ...newest.jwk, use: undefined, key_ops: undefined };
  const key = (await importJWK(jwk, newest.alg)) as CryptoKey;
  // Loaded once per cache entry; its native key is freed when the entry is no longer referenced.
  const rsa = isRsaPkcs1Alg(newest.alg) ? createRsaSigner(jwk, newest.alg, deps.log) : undefined;
  return { setId, kid: publicKid(newest.kid), alg: newest.alg, key, ...(rsa ? { rsa } : {}) };
}
