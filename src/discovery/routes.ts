/** @module The public discovery paths: the OpenID provider configuration and its JWK Set. */
import type { Deps } from "../deps.ts";
import type { RouteTable } from "../server/http.ts";
import { wellKnown } from "./jwks.ts";
import { discoverOpenIDConfiguration } from "./openid-configuration.ts";

export function discoveryRoutes(deps: Deps): RouteTable {
  return {
    "/.well-known/openid-configuration": { GET: discoverOpenIDConfiguration(deps) },
    "/.well-known/jwks.json": { GET: wellKnown(deps) },
  };
}
