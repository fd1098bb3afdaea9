/**
 * @module GET /.well-known/jwks.json (public listener): the public keys relying parties
 * verify our JWTs with (RFC 7517 §5). Only clear public parts are read, so private and
 * symmetric keys cannot appear, and a changed secrets.system does not break it.
 */
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { jwksMaxAgeSeconds } from "../keys/defaults.ts";
import { publishedKeys } from "../keys/store.ts";
import { accessTokenSet, idTokenSet } from "../keys/types.ts";
import { json, type Handler } from "../server/http.ts";

/**
 * Hydra's WellKnownKeys (driver/config/provider.go): webfinger.jwks.broadcast_keys, then the
 * ID-token set always, then the JWT access-token set when access tokens are JWTs.
 */
export function wellKnownKeySets(config: Pick<Config, "webfinger" | "strategies">): string[] {
  const sets = [...config.webfinger.jwks.broadcast_keys, idTokenSet];
  if (config.strategies.access_token === "jwt") sets.push(accessTokenSet);
  return [...new Set(sets)];
}

/**
 * Hydra answers 404 for the whole document when one listed set is missing; we publish
 * the sets that exist instead, so one stale broadcast_keys entry cannot stop every
 * relying party from verifying ID tokens.
 */
export function wellKnown(deps: Deps): Handler {
  const sets = wellKnownKeySets(deps.config);
  const cacheControl = `public, max-age=${jwksMaxAgeSeconds}`;
  return async () => json({ keys: await publishedKeys(deps.db, sets) }, 200, { "Cache-Control": cacheControl });
}
