/**
 * @module The OAuth 2.0 token paths of the admin listener (no authentication, as Hydra v1):
 * POST /oauth2/introspect and DELETE /oauth2/tokens?client_id=. Imported only by
 * server/admin-routes.ts.
 */
import type { Deps } from "../deps.ts";
import { invalidRequest } from "../errors.ts";
import type { Handler, RouteTable } from "../server/http.ts";
import { introspectOAuth2Token } from "./introspect.ts";
import { deleteClientTokens } from "./store.ts";

/**
 * Hydra's operationId `deleteOAuth2Token`: revokes every token of a client (access and refresh
 * tokens, authorization codes; Hydra deletes only access tokens). 204, also when there is
 * nothing to delete.
 */
export function deleteOAuth2Token(deps: Deps): Handler {
  return async (req) => {
    const clientId = new URL(req.url).searchParams.get("client_id") ?? "";
    if (clientId === "") throw invalidRequest(undefined, { hint: "Query parameter 'client_id' is not defined but it should have been." });
    // No stored client id contains a NUL (PostgreSQL text cannot hold one): nothing to delete.
    if (!clientId.includes("\0")) await deps.db.transaction((tx) => deleteClientTokens(tx, clientId));
    return new Response(null, { status: 204 });
  };
}

export function oauth2AdminRoutes(deps: Deps): RouteTable {
  return {
    "/oauth2/introspect": { POST: introspectOAuth2Token(deps) },
    "/oauth2/tokens": { DELETE: deleteOAuth2Token(deps) },
  };
}
