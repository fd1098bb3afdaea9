/**
 * @module POST /oauth2/revoke (public listener): RFC 7009 token revocation with client
 * authentication. As Hydra (fosite revocation handler), revoking either token of a grant
 * revokes the grant: its access tokens and its refresh tokens (RFC 7009 §2.1 SHOULD / MAY).
 */
import { authenticateClient } from "../clients/auth.ts";
import type { Deps } from "../deps.ts";
import { invalidRequest } from "../errors.ts";
import type { Handler } from "../server/http.ts";
import { param, readForm } from "./form.ts";
import { revokeGrant } from "./store.ts";
import { findToken } from "./tokens.ts";

/**
 * Revokes the grant of a presented token if `clientId` owns it. Unknown tokens and other
 * clients' tokens change nothing and are not reported (RFC 7009 §2.2: 200 either way).
 * Returns whether something was revoked, for tests and logs.
 */
export async function revokeToken(deps: Deps, token: string, clientId: string): Promise<boolean> {
  const found = await findToken(deps, token, { verifyJwt: false });
  if (!found || found.record.clientId !== clientId) return false;
  return (await deps.db.transaction((tx) => revokeGrant(tx, found.record.requestId, clientId))) > 0;
}

/** Hydra's operationId `revokeOAuth2Token`. */
export function revokeOAuth2Token(deps: Deps): Handler {
  return async (req) => {
    const form = await readForm(req);
    const { client } = await authenticateClient(deps, req.headers, form, deps.clock.now());
    const token = param(form, "token");
    if (token === undefined) throw invalidRequest(undefined, { hint: "The 'token' parameter is missing." });
    // RFC 7009 §2.1: token_type_hint is only a hint; the token's kind is recognised anyway.
    await revokeToken(deps, token, client.clientId);
    return new Response(null, { status: 200, headers: { "Cache-Control": "no-store", Pragma: "no-cache" } });
  };
}
