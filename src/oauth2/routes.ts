/** @module The OAuth 2.0 token paths of the public listener: the token endpoint and revocation. */
import type { Deps } from "../deps.ts";
import type { RouteTable } from "../server/http.ts";
import { revokeOAuth2Token } from "./revoke.ts";
import { oauth2Token } from "./token.ts";

export function oauth2PublicRoutes(deps: Deps): RouteTable {
  return {
    "/oauth2/token": { POST: oauth2Token(deps) },
    "/oauth2/revoke": { POST: revokeOAuth2Token(deps) },
  };
}
