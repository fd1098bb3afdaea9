/**
 * @module The refresh_token grant (RFC 6749 §6, OIDC Core §12, RFC 9700 §4.14; Hydra §3.2).
 * Refresh tokens are opaque (oauth2.token_prefix.refresh_token); only their HMAC is stored.
 *
 * Rotation on every use, atomically: the presented token is claimed by one conditional
 * UPDATE (active, unused, unexpired, this client's), the grant's access tokens are deleted,
 * and a new access + refresh pair is written — all in ONE statement (one round trip), or in
 * one transaction when a grace period also keeps the pair. The new refresh token keeps the
 * grant's original scope; only the access token is narrowed by a `scope` parameter.
 *
 * Reuse: presenting a token that is no longer active (rotated or revoked) revokes the whole
 * grant, access and refresh tokens, and answers 400 invalid_grant (RFC 6749 §5.2, RFC 9700
 * §4.14.2: the server cannot tell the thief from the client, so it revokes the active token).
 * That includes concurrent refreshes of one token with no grace period: exactly one wins, the
 * others find the token spent and revoke the grant, the winner's new pair included. Hydra v1
 * answers such losers with an error and keeps the grant; we take RFC 9700's safe side. Clients
 * that refresh concurrently (several tabs, retries after a lost response) set
 * oauth2.grant.refresh_token.rotation_grace_period: within it, the just-rotated token answers
 * with the SAME new pair (kept in rotated_pair, sealed under the rotated token itself, so
 * neither the database nor secrets.system can open it) as long as that pair is unspent; after
 * it, presenting the token is reuse.
 */
import { effectiveGrantTypes } from "../../clients/types.ts";
import type { Deps } from "../../deps.ts";
import { invalidGrant, invalidRequest, invalidScope } from "../../errors.ts";
import { seal, unseal } from "../../lib/crypto.ts";
import { signingKey, type SigningKey } from "../../keys/signing.ts";
import { idTokenSet } from "../../keys/types.ts";
import type { Cx } from "../../server/http.ts";
import type { Db } from "../../storage/db.ts";
import { param } from "../form.ts";
import { storedIdToken } from "../grant-session.ts";
import { buildIdToken } from "../id-token.ts";
import { opaqueTokenSignature } from "../opaque-token.ts";
import { runRefreshHook } from "../refresh-hook.ts";
import { firstDisallowedAudience, firstDisallowedScope } from "../scopes.ts";
import {
  claimRefreshToken,
  deleteAccessTokensOfGrant,
  dropRotatedPair,
  getAccessToken,
  getRefreshToken,
  getRefreshTokenGrouped,
  keepRotatedPair,
  revokeGrant,
  rotateRefreshTokenGrouped,
  type RefreshTokenRecord,
} from "../store.ts";
import {
  accessTokenSigningKey,
  decodeSession,
  issueAccessToken,
  issueRefreshToken,
  mintAccessToken,
  mintRefreshToken,
  type IssuedAccessToken,
  type IssuedRefreshToken,
  type TokenSession,
} from "../tokens.ts";
import type { GrantHandler, TokenRequest, TokenResponse } from "./types.ts";

/** Separates the key of rotation pairs from every other use of the presented token's bytes. */
const pairSealPurpose = "refresh_rotation_pair";

/** What a rotation issued, kept (sealed) with the rotated token for the grace period. */
interface RotatedPair {
  accessToken: string;
  accessSignature: string;
  /** ISO time. */
  accessExpiresAt: string;
  refreshToken: string;
  refreshSignature: string;
  /** The access token's scope. */
  scope: string[];
}

/** Sealed under the presented token: only someone holding it can ever open the pair. */
function sealPair(presented: string, pair: RotatedPair): string {
  return seal([presented], JSON.stringify(pair), pairSealPurpose);
}

function openPair(presented: string, sealed: string): RotatedPair | undefined {
  try {
    return JSON.parse(unseal([presented], sealed, pairSealPurpose)) as RotatedPair;
  } catch {
    return undefined;
  }
}

const expired = (expiresAt: Date | undefined, now: Date) => expiresAt !== undefined && expiresAt.getTime() <= now.getTime();

const unknownToken = () => invalidGrant(undefined, { hint: "The refresh token is malformed or not known to this server." });

type GrantDeps = Pick<Deps, "config" | "db" | "clock">;

/** OIDC Core §12.2: a new ID token with the original sub, auth_time, acr, amr and sid; no nonce; at_hash of the new access token. */
async function refreshedIdToken(deps: GrantDeps, req: TokenRequest, session: TokenSession, accessToken: string): Promise<string | undefined> {
  const stored = storedIdToken(session);
  if (!stored) return undefined;
  const { token } = await buildIdToken(deps, {
    client: req.client,
    grant: "refresh_token",
    subject: stored.subject,
    authTime: stored.authTime,
    requestedAt: stored.requestedAt,
    acr: stored.acr,
    amr: stored.amr,
    sid: stored.sid,
    accessToken,
    extra: stored.extra,
    now: req.now,
  });
  return token;
}

/**
 * A presented token that is not active: within the grace period, the pair its rotation issued
 * (if that pair is still the grant's live one); otherwise reuse, so the grant is revoked.
 */
async function spentToken(deps: GrantDeps, cx: Cx, req: TokenRequest, presented: string, record: RefreshTokenRecord): Promise<TokenResponse> {
  const graceMs = deps.config.oauth2.grant.refresh_token.rotation_grace_period;
  const inGrace = graceMs > 0 && record.usedAt !== undefined && req.now.getTime() - record.usedAt.getTime() <= graceMs;
  if (inGrace && record.rotatedPair && record.clientId === req.client.clientId) {
    const pair = openPair(presented, record.rotatedPair);
    const successor = pair && (await getRefreshToken(deps.db, pair.refreshSignature));
    const access = pair && (await getAccessToken(deps.db, pair.accessSignature));
    if (pair && successor?.active && !successor.usedAt && !expired(successor.expiresAt, req.now) && access) {
      const body: TokenResponse = {
        access_token: pair.accessToken,
        token_type: "bearer",
        expires_in: Math.max(0, Math.floor((new Date(pair.accessExpiresAt).getTime() - req.now.getTime()) / 1000)),
        scope: pair.scope.join(" "),
        refresh_token: pair.refreshToken,
      };
      if (pair.scope.includes("openid")) {
        const idToken = await refreshedIdToken(deps, req, decodeSession(deps.config, successor.session), pair.accessToken);
        if (idToken) body.id_token = idToken;
      }
      return body;
    }
  }
  const revoked = await deps.db.transaction(async (tx) => {
    const n = await revokeGrant(tx as unknown as Db, record.requestId, record.clientId);
    await dropRotatedPair(tx as unknown as Db, record.signature);
    return n;
  });
  cx.log.info(`request ${cx.requestId}: a refresh token that is no longer active was presented; its grant was revoked (${revoked} tokens)`);
  throw invalidGrant(undefined, {
    hint: "The refresh token is no longer active: it was used or revoked before. Every token of its grant has been revoked (RFC 9700 §4.14.2).",
  });
}

type Rotated = { access: IssuedAccessToken; refresh: IssuedRefreshToken } | undefined;

/**
 * Rotation without a grace period: the new pair is minted first, then ONE statement claims the
 * presented token, drops the grant's access tokens and writes the pair (store.rotateRefreshToken;
 * shared with concurrent rotations, store.rotateRefreshTokenGrouped).
 * The grant's columns come from `record`; they never change after issue.
 */
async function rotate(
  deps: GrantDeps,
  req: TokenRequest,
  record: RefreshTokenRecord,
  signature: string,
  scope: string[],
  session: TokenSession,
  jwtKey: SigningKey | undefined,
): Promise<Rotated> {
  const { client, now } = req;
  const grant = { requestId: record.requestId, client, subject: record.subject, grantedAudience: record.grantedAudience, session, now };
  const access = await mintAccessToken(deps, { ...grant, grantedScope: scope, grantType: "refresh_token", jwtKey });
  const refresh = mintRefreshToken(deps, { ...grant, grantedScope: record.grantedScope, grantType: "refresh_token" });
  const claimed = await rotateRefreshTokenGrouped(deps.db, { signature, clientId: client.clientId, now, access: access.record, refresh: refresh.record });
  return claimed ? { access: access.issued, refresh: refresh.issued } : undefined;
}

/** Rotation with a grace period: the pair is also kept, sealed, with the rotated token, all in one transaction. */
async function rotateKeepingPair(
  deps: GrantDeps,
  req: TokenRequest,
  presented: string,
  signature: string,
  scope: string[],
  session: TokenSession,
  jwtKey: SigningKey | undefined,
): Promise<Rotated> {
  const { client, now } = req;
  return deps.db.transaction(async (txRaw) => {
    const tx = txRaw as unknown as Db;
    const claimed = await claimRefreshToken(tx, signature, client.clientId, now);
    if (!claimed) return undefined;
    await deleteAccessTokensOfGrant(tx, claimed.requestId, claimed.clientId);
    const grant = { requestId: claimed.requestId, client, subject: claimed.subject, grantedAudience: claimed.grantedAudience, session, now };
    const access = await issueAccessToken(deps, tx, { ...grant, grantedScope: scope, grantType: "refresh_token", jwtKey });
    const refresh = await issueRefreshToken(deps, tx, { ...grant, grantedScope: claimed.grantedScope, grantType: "refresh_token" });
    const pair: RotatedPair = {
      accessToken: access.token,
      accessSignature: access.signature,
      accessExpiresAt: access.expiresAt.toISOString(),
      refreshToken: refresh.token,
      refreshSignature: refresh.signature,
      scope,
    };
    await keepRotatedPair(tx, signature, claimed.requestId, sealPair(presented, pair));
    return { access, refresh };
  });
}

export const refreshTokenGrant: GrantHandler = {
  grantType: "refresh_token",
  params: new Set(["refresh_token"]),
  // RFC 9700 §4.14.2: public clients may refresh because their refresh tokens rotate.
  allowsPublicClient: true,
  async handle(req, cx) {
    const { deps } = cx;
    const { config } = deps;
    const { client, now } = req;
    const presented = param(req.form, "refresh_token");
    if (presented === undefined) throw invalidRequest(undefined, { hint: "The 'refresh_token' parameter is missing." });
    const signature = opaqueTokenSignature(config.secrets.system, "refresh_token", config.oauth2.token_prefix.refresh_token, presented);
    if (!signature) throw unknownToken();
    // Shared with concurrent refreshes' reads (one statement for many); the claim below decides.
    const record = await getRefreshTokenGrouped(deps.db, signature);
    if (!record) throw unknownToken();
    // Reuse is judged first, whoever presents the token (fosite handleRefreshTokenReuse).
    if (!record.active) return spentToken(deps, cx, req, presented, record);
    if (record.clientId !== client.clientId) {
      throw invalidGrant(undefined, { hint: "The OAuth 2.0 Client ID from this request does not match the ID during the initial token issuance." });
    }
    if (expired(record.expiresAt, now)) throw invalidGrant(undefined, { hint: "The refresh token expired." });

    // RFC 6749 §6: a narrower scope is allowed, never one that was not granted; what is kept
    // must still be allowed to the client (Hydra: "Scopes must still be allowed by the client").
    const granted = record.grantedScope;
    const scope = req.requestedScope.length > 0 ? req.requestedScope : granted;
    const notGranted = scope.find((s) => !granted.includes(s));
    if (notGranted !== undefined) {
      throw invalidScope(undefined, { hint: `The requested scope '${notGranted}' was not granted originally; a refresh can only narrow the scope (RFC 6749 §6).` });
    }
    const disallowed = firstDisallowedScope(config.strategies.scope, client.scope.split(" ").filter(Boolean), scope);
    if (disallowed !== undefined) throw invalidScope(undefined, { hint: `The OAuth 2.0 Client is not allowed to request scope '${disallowed}'.` });
    const badAudience = firstDisallowedAudience(client.audience, record.grantedAudience);
    if (badAudience !== undefined) {
      throw invalidRequest(undefined, { hint: `Requested audience '${badAudience}' has not been whitelisted by the OAuth 2.0 Client.` });
    }

    // Before the claim: a hook that fails or refuses leaves the refresh token unspent.
    const session = await runRefreshHook(deps, {
      subject: record.subject,
      clientId: client.clientId,
      clientGrantTypes: effectiveGrantTypes(client),
      grantedScopes: scope,
      grantedAudience: record.grantedAudience,
      session: decodeSession(config, record.session),
    });
    const jwtKey = await accessTokenSigningKey(deps);
    if (scope.includes("openid")) await signingKey(deps, idTokenSet);
    const graceMs = config.oauth2.grant.refresh_token.rotation_grace_period;

    const rotated = graceMs > 0 ? await rotateKeepingPair(deps, req, presented, signature, scope, session, jwtKey) : await rotate(deps, req, record, signature, scope, session, jwtKey);
    if (!rotated) {
      // Another request claimed it between our read and our claim (it waited for that one's commit).
      const current = await getRefreshToken(deps.db, signature);
      if (!current) throw unknownToken();
      // Still active: it expired in between, which is no reuse.
      if (current.active) throw invalidGrant(undefined, { hint: "The refresh token expired." });
      return spentToken(deps, cx, req, presented, current);
    }

    const body: TokenResponse = {
      access_token: rotated.access.token,
      token_type: "bearer",
      expires_in: rotated.access.expiresIn,
      scope: scope.join(" "),
      refresh_token: rotated.refresh.token,
    };
    if (scope.includes("openid")) {
      const idToken = await refreshedIdToken(deps, req, session, rotated.access.token);
      if (idToken) body.id_token = idToken;
    }
    return body;
  },
};
