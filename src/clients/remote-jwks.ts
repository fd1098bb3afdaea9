/**
 * @module Clients' `jwks_uri` key sets for private_key_jwt: fetched with a short timeout and
 * kept in a small per-server cache (jose's remote JWK Set: refetched after cacheMaxAge, or on
 * an unknown kid once the cooldown has passed, so a client can rotate keys without us
 * refetching on every forged kid).
 */
import { createRemoteJWKSet } from "jose";

/** A client's key server must answer quickly: the token request waits for it. */
export const jwksFetchTimeoutMs = 3_000;
/** How long fetched keys are used before a refetch. */
export const jwksCacheMaxAgeMs = 10 * 60_000;
/** Least time between two fetches of one URI (unknown kids within it are refused). */
export const jwksCooldownMs = 30_000;
/** How many distinct jwks_uri a server keeps; the least recently used is dropped. */
export const maxCachedJwksUris = 256;

type RemoteSet = ReturnType<typeof createRemoteJWKSet>;

const caches = new WeakMap<object, Map<string, RemoteSet>>();

/** The key resolver of a jwks_uri, shared by every request of one server (`owner`, its Deps). */
export function remoteJwks(owner: object, uri: string): RemoteSet {
  let cache = caches.get(owner);
  if (!cache) caches.set(owner, (cache = new Map()));
  let set = cache.get(uri);
  if (set) {
    cache.delete(uri);
  } else {
    set = createRemoteJWKSet(new URL(uri), {
      timeoutDuration: jwksFetchTimeoutMs,
      cacheMaxAge: jwksCacheMaxAgeMs,
      cooldownDuration: jwksCooldownMs,
    });
  }
  cache.set(uri, set);
  while (cache.size > maxCachedJwksUris) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
  return set;
}
