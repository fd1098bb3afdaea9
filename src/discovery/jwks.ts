/**
 * @module GET /.well-known/jwks.json (public listener): the public keys relying parties
 * verify our JWTs with (RFC 7517 §5). Only clear public parts are read, so private and
 * symmetric keys cannot appear, and a changed secrets.system does not break it.
 * Served from bytes serialised once (keys/published.ts says when they are rebuilt).
 */
import type { Deps } from "../deps.ts";
import { jwksMaxAgeSeconds } from "../keys/defaults.ts";
import { currentPublishedKeys, type PublishedKeys } from "../keys/published.ts";
import { jsonHeaders, type Handler } from "../server/http.ts";

export { wellKnownKeySets } from "../keys/published.ts";

/**
 * Hydra answers 404 for the whole document when one listed set is missing; we publish
 * the sets that exist instead, so one stale broadcast_keys entry cannot stop every
 * relying party from verifying ID tokens.
 */
export function wellKnown(deps: Deps): Handler {
  const headers = jsonHeaders({ "Cache-Control": `public, max-age=${jwksMaxAgeSeconds}` });
  // A Blob is shared by every Response as is; a Uint8Array body is copied each time.
  let body: { jwks: Uint8Array; blob: Blob } | undefined;
  const respond = (published: PublishedKeys) => {
    if (body?.jwks !== published.jwks) body = { jwks: published.jwks, blob: new Blob([published.jwks]) };
    return new Response(body.blob, { status: 200, headers });
  };
  return () => {
    const published = currentPublishedKeys(deps);
    return published instanceof Promise ? published.then(respond) : respond(published);
  };
}
