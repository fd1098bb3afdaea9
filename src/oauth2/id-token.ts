/**
 * @module The ID-token builder (OIDC Core §2, §3.1.3.6, §3.3.2.11), for every place that
 * issues one: the authorization endpoint (implicit, hybrid) and the token endpoint
 * (authorization_code, refresh_token). Signed with the newest key of hydra.openid.id-token;
 * claims as Hydra's AuthHandler sets them (iss, sub, aud=[client_id], exp, iat, jti,
 * auth_time, rat, nonce, acr, amr, sid, at_hash, c_hash) plus the consent's
 * session.id_token claims, which can never replace these.
 */
import { createHash, randomUUID } from "node:crypto";
import type { JWTPayload } from "jose";
import { effectiveLifespanMs } from "../clients/lifespans.ts";
import type { OAuth2Client } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { signJwt } from "../keys/jws.ts";
import { signingKey } from "../keys/signing.ts";
import { idTokenSet } from "../keys/types.ts";

/** Claims the builder owns; session.id_token extras with these names are dropped. */
export const reservedIdTokenClaims: ReadonlySet<string> = new Set([
  "iss",
  "sub",
  "aud",
  "exp",
  "iat",
  "nbf",
  "jti",
  "auth_time",
  "rat",
  "nonce",
  "acr",
  "amr",
  "at_hash",
  "c_hash",
  "s_hash",
  "sid",
  "azp",
]);

export interface IdTokenInput {
  client: Pick<OAuth2Client, "clientId" | "lifespans">;
  /** Which grant issues it: picks `<grant>_grant_id_token_lifespan`, else ttl.id_token. */
  grant: "authorization_code" | "implicit" | "refresh_token";
  /** `sub` as this client sees it (pairwise or forced already applied). */
  subject: string;
  /** When the user authenticated (`auth_time`). */
  authTime: Date;
  /** When the authorization request arrived (Hydra's `rat`). */
  requestedAt: Date;
  /** The authorization request's nonce; omitted when empty. */
  nonce?: string;
  acr?: string;
  amr?: readonly string[];
  /** The login session id (`sid`, for front/back-channel logout). */
  sid?: string;
  /** An access token issued alongside: adds `at_hash`. */
  accessToken?: string;
  /** An authorization code issued alongside: adds `c_hash`. */
  code?: string;
  /** The consent's session.id_token claims (reserved names are ignored). */
  extra?: Record<string, unknown>;
  /**
   * Audiences besides the client. Hydra v1 puts only the client id in `aud`; with more,
   * `azp` names the client (OIDC Core §2).
   */
  audience?: readonly string[];
  /** The issue time (`iat`); the server clock when omitted. */
  now?: Date;
}

export interface IssuedIdToken {
  token: string;
  /** The claims signed, for callers that keep them (userinfo, tests). */
  claims: JWTPayload;
  expiresAt: Date;
}

/** The JWS hash for at_hash / c_hash: SHA-2 of the alg's size; EdDSA (Ed25519) uses SHA-512. */
function hashAlgorithmOf(alg: string): "sha256" | "sha384" | "sha512" {
  if (alg.endsWith("384")) return "sha384";
  if (alg.endsWith("512") || alg === "EdDSA" || alg === "Ed25519") return "sha512";
  return "sha256";
}

/** OIDC Core §3.3.2.11: base64url of the left half of the hash of the ASCII value. */
export function leftHalfHash(alg: string, value: string): string {
  const digest = createHash(hashAlgorithmOf(alg)).update(value, "ascii").digest();
  return digest.subarray(0, digest.length / 2).toString("base64url");
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * Builds and signs an ID token.
 *
 * @example
 *   const { token } = await buildIdToken(deps, {
 *     client, grant: "authorization_code", subject: session.subject,
 *     authTime: session.authTime, requestedAt: session.requestedAt, nonce: session.nonce,
 *     acr: session.acr, amr: session.amr, sid: session.sid, accessToken, extra: session.idTokenClaims,
 *   });
 */
export async function buildIdToken(deps: Pick<Deps, "config" | "db" | "clock">, input: IdTokenInput): Promise<IssuedIdToken> {
  const key = await signingKey(deps, idTokenSet);
  const now = input.now ?? deps.clock.now();
  const lifespanMs = effectiveLifespanMs(input.client, input.grant, "id_token", deps.config.ttl.id_token);
  const exp = seconds(now) + Math.max(1, Math.floor(lifespanMs / 1000));
  const aud = [input.client.clientId, ...(input.audience ?? []).filter((a) => a !== input.client.clientId)];

  const claims: JWTPayload = {};
  for (const [name, value] of Object.entries(input.extra ?? {})) {
    if (!reservedIdTokenClaims.has(name) && value !== undefined) claims[name] = value;
  }
  Object.assign(claims, {
    iss: deps.config.urls.self.issuer,
    sub: input.subject,
    aud,
    exp,
    iat: seconds(now),
    jti: randomUUID(),
    auth_time: seconds(input.authTime),
    rat: seconds(input.requestedAt),
  });
  if (aud.length > 1) claims.azp = input.client.clientId;
  if (input.nonce) claims.nonce = input.nonce;
  if (input.acr) claims.acr = input.acr;
  if (input.amr && input.amr.length > 0) claims.amr = [...input.amr];
  if (input.sid) claims.sid = input.sid;
  if (input.accessToken) claims.at_hash = leftHalfHash(key.alg, input.accessToken);
  if (input.code) claims.c_hash = leftHalfHash(key.alg, input.code);

  const token = await signJwt(key, "JWT", claims);
  return { token, claims, expiresAt: new Date(exp * 1000) };
}
