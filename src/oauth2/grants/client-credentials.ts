/**
 * @module The client_credentials grant (RFC 6749 §4.4; Hydra oauth2/handler.go and fosite
 * flow_client_credentials.go): the client acts for itself, so `sub` is its id; scopes and
 * audiences must be the client's own; no refresh token (RFC 6749 §4.4.3).
 */
import { invalidRequest, invalidScope } from "../../errors.ts";
import { firstDisallowedAudience, firstDisallowedScope } from "../scopes.ts";
import { accessTokenResponse, issueAccessToken } from "../tokens.ts";
import type { GrantHandler } from "./types.ts";

export const clientCredentialsGrant: GrantHandler = {
  grantType: "client_credentials",
  params: new Set(),
  // RFC 6749 §4.4: "MUST only be used by confidential clients".
  allowsPublicClient: false,
  async handle(req, cx) {
    const { config } = cx.deps;
    const { client } = req;
    const clientScope = client.scope.split(" ").filter(Boolean);
    const disallowed = firstDisallowedScope(config.strategies.scope, clientScope, req.requestedScope);
    if (disallowed !== undefined) {
      throw invalidScope(undefined, { hint: `The OAuth 2.0 Client is not allowed to request scope '${disallowed}'.` });
    }
    const badAudience = firstDisallowedAudience(client.audience, req.requestedAudience);
    if (badAudience !== undefined) {
      throw invalidRequest(undefined, { hint: `Requested audience '${badAudience}' has not been whitelisted by the OAuth 2.0 Client.` });
    }
    // Hydra §2.3: with no scope requested, oauth2.client_credentials.default_grant_allowed_scope grants all the client's scopes.
    const grantedScope =
      req.requestedScope.length === 0 && config.oauth2.client_credentials.default_grant_allowed_scope ? clientScope : req.requestedScope;
    const issued = await issueAccessToken(cx.deps, cx.deps.db, {
      requestId: crypto.randomUUID(),
      client,
      subject: client.clientId,
      grantedScope,
      grantedAudience: req.requestedAudience,
      session: { ext: {} },
      grantType: "client_credentials",
      now: req.now,
    });
    return accessTokenResponse(issued, grantedScope);
  },
};
