/**
 * @module The authorization_code grant (RFC 6749 §4.1.3, RFC 7636 §4.5–4.6, OIDC Core
 * §3.1.3; Hydra §2.4): redeems a code issued by /oauth2/auth once, for the client it was
 * issued to, with the redirect_uri and PKCE verifier of its request; answers with an access
 * token, an ID token when `openid` was granted, and a refresh token when `offline` or
 * `offline_access` was granted and the client may use refresh_token (fosite canIssueRefreshToken).
 *
 * Single use under concurrency: the code is read, the request checked against it, and then the
 * code claimed and the tokens written in ONE statement (a conditional UPDATE and the INSERTs
 * as CTEs, oauth2/store.ts spendAuthorizationCode). On PostgreSQL a second redemption of the
 * same code waits for the first one's row lock, then finds the code spent; it revokes what the
 * first one issued (RFC 6749 §4.1.2, §10.5) and gets invalid_grant, so a raced or replayed
 * code never leaves live tokens behind. A request that fails the redirect_uri or PKCE checks
 * writes nothing: it does not spend the code (fosite, RFC 6749 §4.1.3: only a valid redemption does).
 */
import { effectiveGrantTypes, isPublicClient, type StoredClient } from "../../clients/types.ts";
import type { Config } from "../../config/schema.ts";
import { invalidGrant, invalidRequest } from "../../errors.ts";
import { signingKey } from "../../keys/signing.ts";
import { idTokenSet } from "../../keys/types.ts";
import type { Db } from "../../storage/db.ts";
import { readAuthorizationCode, type AuthorizationCodeSession, type ReadCode } from "../authorization-code.ts";
import { param } from "../form.ts";
import { tokenSessionFromCode } from "../grant-session.ts";
import { buildIdToken } from "../id-token.ts";
import { verifyCodeVerifier } from "../pkce.ts";
import { revokeGrant, spendAuthorizationCode } from "../store.ts";
import { accessTokenResponse, accessTokenSigningKey, mintAccessToken, mintRefreshToken } from "../tokens.ts";
import type { GrantHandler, TokenResponse } from "./types.ts";

/** fosite canIssueRefreshToken: a granted offline scope (exact names). */
export function grantsOffline(scope: readonly string[]): boolean {
  return scope.includes("offline") || scope.includes("offline_access");
}

/**
 * RFC 6749 §4.1.3: redirect_uri is REQUIRED when the authorization request had one, and must
 * be identical. When it had none (the client's only registered URI was used), a redirect_uri
 * sent now must still name that URI: relying parties such as openid-client always send it.
 */
function checkRedirectUri(session: AuthorizationCodeSession, sent: string | undefined): void {
  if (sent === undefined) {
    if (session.redirectUriGiven) {
      throw invalidGrant(undefined, { hint: "The 'redirect_uri' parameter is required because the authorization request included one (RFC 6749 §4.1.3)." });
    }
    return;
  }
  if (sent !== session.redirectUri) {
    throw invalidGrant(undefined, { hint: 'The "redirect_uri" from this request does not match the one from the authorize request.' });
  }
}

/**
 * RFC 7636 §4.6: the verifier must answer the challenge; RFC 9700 §4.8.2: a verifier without
 * a challenge is refused (PKCE downgrade). oauth2.pkce.enforced* are checked again here in
 * case the configuration changed since the code was issued.
 */
function checkPkce(config: Pick<Config, "oauth2">, client: StoredClient, session: AuthorizationCodeSession, verifier: string | undefined): void {
  if (!session.pkce) {
    if (verifier !== undefined) {
      throw invalidGrant(undefined, { hint: "A 'code_verifier' was sent, but the authorization request had no code_challenge (RFC 9700 §4.8.2)." });
    }
    if (config.oauth2.pkce.enforced || (config.oauth2.pkce.enforced_for_public_clients && isPublicClient(client))) {
      throw invalidGrant(undefined, { hint: "Clients must include a code_challenge when performing the authorize code flow, but it is missing." });
    }
    return;
  }
  if (verifier === undefined) throw invalidGrant(undefined, { hint: "The 'code_verifier' parameter is missing, but the authorization request had a code_challenge (RFC 7636 §4.5)." });
  if (!verifyCodeVerifier(session.pkce, verifier)) throw invalidGrant(undefined, { hint: "The PKCE code challenge did not match the code verifier." });
}

const invalidHints = {
  unknown: "The authorization code is not known to this server.",
  expired: "The authorization code has expired.",
  other_client: "The OAuth 2.0 Client ID from this request does not match the one from the authorize request.",
} as const;

/**
 * A code that cannot be redeemed: invalid_grant. A spent one also revokes what it issued,
 * whichever client presents it (RFC 6749 §4.1.2, §10.5; fosite), in one transaction.
 */
async function refuse(cx: Parameters<GrantHandler["handle"]>[1], read: Exclude<ReadCode, { outcome: "redeemable" }>): Promise<never> {
  if (read.outcome === "reused") {
    const { requestId, clientId } = read.record;
    const revoked = await cx.deps.db.transaction((tx) => revokeGrant(tx as unknown as Db, requestId, clientId));
    cx.log.info(`request ${cx.requestId}: authorization code presented again; its grant was revoked (${revoked} tokens)`);
    throw invalidGrant(undefined, { hint: "The authorization code has already been used." });
  }
  throw invalidGrant(undefined, { hint: invalidHints[read.reason] });
}

export const authorizationCodeGrant: GrantHandler = {
  grantType: "authorization_code",
  params: new Set(["code", "redirect_uri", "code_verifier"]),
  // Public clients (native apps, SPAs) use the code flow, protected by PKCE (RFC 8252 §6).
  allowsPublicClient: true,
  async handle(req, cx) {
    const { deps } = cx;
    const { client, now } = req;
    const code = param(req.form, "code");
    if (code === undefined) throw invalidRequest(undefined, { hint: "The 'code' parameter is missing." });
    const redirectUri = param(req.form, "redirect_uri");
    const verifier = param(req.form, "code_verifier");
    const mayRefresh = effectiveGrantTypes(client).includes("refresh_token");
    // Keys are read first: a missing ID-token key fails the request before the code is spent.
    const jwtKey = await accessTokenSigningKey(deps);
    await signingKey(deps, idTokenSet);

    // Read, check, then spend in one statement with the token rows (oauth2/store.ts
    // spendAuthorizationCode): a failed redirect_uri or PKCE check writes nothing.
    const read = await readAuthorizationCode(deps, deps.db, code, client.clientId, now);
    if (read.outcome !== "redeemable") return await refuse(cx, read);
    const { session } = read;
    checkRedirectUri(session, redirectUri);
    checkPkce(deps.config, client, session, verifier);
    const tokenSession = tokenSessionFromCode(session);
    const grant = {
      requestId: session.requestId,
      client,
      subject: session.subject,
      grantedScope: session.grantedScope,
      grantedAudience: session.grantedAudience,
      session: tokenSession,
      now,
    };
    const access = await mintAccessToken(deps, { ...grant, grantType: "authorization_code", jwtKey });
    const refresh = grantsOffline(session.grantedScope) && mayRefresh ? mintRefreshToken(deps, { ...grant, grantType: "authorization_code" }) : undefined;
    const spent = await spendAuthorizationCode(deps.db, { signature: read.signature, clientId: client.clientId, now, access: access.record, refresh: refresh?.record });
    if (!spent) {
      // Spent, expired or deleted since it was read: as if it had been found so.
      const again = await readAuthorizationCode(deps, deps.db, code, client.clientId, now);
      return await refuse(cx, again.outcome === "redeemable" ? { outcome: "invalid", reason: "expired" } : again);
    }

    const body: TokenResponse = accessTokenResponse(access.issued, session.grantedScope);
    if (refresh) body.refresh_token = refresh.issued.token;
    if (session.grantedScope.includes("openid")) {
      const idToken = await buildIdToken(deps, {
        client,
        grant: "authorization_code",
        subject: session.subjectIdentifier,
        authTime: new Date(session.authTime),
        requestedAt: new Date(session.requestedAt),
        nonce: session.nonce,
        acr: session.acr,
        amr: session.amr,
        sid: session.sid,
        accessToken: access.issued.token,
        extra: session.idTokenClaims,
        now,
      });
      body.id_token = idToken.token;
    }
    return body;
  },
};
