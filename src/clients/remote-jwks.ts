/**
 * @module Clients' `jwks_uri` key sets for private_key_jwt: fetched with a short timeout and
 * kept in a small per-server cache (jose's remote JWK Set: refetched after cacheMaxAge, or on
 * an unknown kid once the cooldown has passed, so a client can rotate keys without us
 * refetching on every forged kid). Fetched through the SSRF guard (lib/outbound.ts), whose
 * OutboundRefusedError comes out of the key resolver as it is.
 */
import { createRemoteJWKSet, customFetch } from "jose";
import type { Deps } from "../deps.ts";
import { outboundFetch, outboundPolicy } from "../lib/outbound.ts";

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

/** The key resolver of a jwks_uri, shared by every request of one server (`deps`). */
export function remoteJwks(deps: Pick<Deps, "config">, uri: string): RemoteSet {
  let cache = caches.get(deps);
  if (!cache) caches.set(deps, (cache = new Map()));
  let set = cache.get(uri);
  if (set) {
    cache.delete(uri);
  } else {
    set = createRemoteJWKSet(new URL(uri), {
      timeoutDuration: jwksFetchTimeoutMs,
      cacheMaxAge: jwksCacheMaxAgeMs,
      cooldownDuration: jwksCooldownMs,
      [customFetch]: (url: string, init: RequestInit) => outboundFetch(outboundPolicy(deps.config), url, init),
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
