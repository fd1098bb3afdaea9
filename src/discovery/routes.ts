/** @module The public discovery paths: the OpenID provider configuration and its JWK Set. */
import type { Deps } from "../deps.ts";
import { currentPublishedKeys } from "../keys/published.ts";
import type { RouteTable } from "../server/http.ts";
import { wellKnown } from "./jwks.ts";
import { discoverOpenIDConfiguration } from "./openid-configuration.ts";

export function discoveryRoutes(deps: Deps): RouteTable {
  // Built now, after the first-start keys (server/app.ts), so the first request does not wait; a failure is retried by that request.
  Promise.resolve(currentPublishedKeys(deps)).catch(() => {});
  return {
    "/.well-known/openid-configuration": { GET: discoverOpenIDConfiguration(deps) },
    "/.well-known/jwks.json": { GET: wellKnown(deps) },
  };
}
