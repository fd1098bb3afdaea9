/** @module The OAuth 2.0 token paths of the public listener: the token endpoint, revocation and userinfo. */
import type { Deps } from "../deps.ts";
import type { RouteTable } from "../server/http.ts";
import { revokeOAuth2Token } from "./revoke.ts";
import { oauth2Token } from "./token.ts";
import { userinfo } from "./userinfo.ts";

export function oauth2PublicRoutes(deps: Deps): RouteTable {
  return {
    "/oauth2/token": { POST: oauth2Token(deps) },
    "/oauth2/revoke": { POST: revokeOAuth2Token(deps) },
    // OIDC Core §5.3.1: GET and POST.
    "/userinfo": { GET: userinfo(deps), POST: userinfo(deps) },
  };
}
