/**
 * @module The session a user's grant keeps with its tokens (authorization_code, then each
 * refresh): the consent's session.access_token (`ext`), the claims of its ID tokens, and the
 * subject the client sees. Built once from the code's session; the refresh grant, its hook
 * and /userinfo read it back. Subject convention: token rows hold the LOCAL subject; the
 * pairwise or forced one is `obfuscatedSubject` and `idToken.sub`, which is what clients see.
 */
import type { AuthorizationCodeSession } from "./authorization-code.ts";
import { reservedIdTokenClaims } from "./id-token.ts";
import type { TokenSession } from "./tokens.ts";

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/** The consent's session.id_token claims a builder may add: reserved names (sub, aud, nonce …) are ours. */
export function idTokenExtras(claims: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(claims ?? {})) if (!reservedIdTokenClaims.has(name) && value !== undefined) out[name] = value;
  return out;
}

/**
 * What the tokens of a redeemed code keep. `idToken` holds the claims every ID token of the
 * grant repeats (OIDC Core §12.2: same sub, auth_time, acr, amr; sid for logout) plus the
 * consent's extras; never the nonce, which belongs to the authentication response only.
 */
export function tokenSessionFromCode(code: AuthorizationCodeSession): TokenSession {
  return {
    ext: code.accessTokenClaims ?? {},
    idToken: {
      ...idTokenExtras(code.idTokenClaims),
      sub: code.subjectIdentifier,
      auth_time: seconds(new Date(code.authTime)),
      rat: seconds(new Date(code.requestedAt)),
      ...(code.acr ? { acr: code.acr } : {}),
      ...(code.amr?.length ? { amr: code.amr } : {}),
      ...(code.sid ? { sid: code.sid } : {}),
    },
    ...(code.subjectIdentifier !== code.subject ? { obfuscatedSubject: code.subjectIdentifier } : {}),
    consentChallenge: code.requestId,
  };
}

/** The parts of buildIdToken's input a stored session gives, or undefined when it holds no ID-token claims. */
export interface StoredIdToken {
  subject: string;
  authTime: Date;
  requestedAt: Date;
  acr?: string;
  amr?: string[];
  sid?: string;
  extra: Record<string, unknown>;
}

export function storedIdToken(session: TokenSession): StoredIdToken | undefined {
  const claims = session.idToken;
  if (!claims || typeof claims.sub !== "string" || typeof claims.auth_time !== "number") return undefined;
  const rat = typeof claims.rat === "number" ? claims.rat : claims.auth_time;
  return {
    subject: claims.sub,
    authTime: new Date(claims.auth_time * 1000),
    requestedAt: new Date(rat * 1000),
    acr: typeof claims.acr === "string" ? claims.acr : undefined,
    amr: Array.isArray(claims.amr) ? claims.amr.filter((a): a is string => typeof a === "string") : undefined,
    sid: typeof claims.sid === "string" ? claims.sid : undefined,
    extra: idTokenExtras(claims),
  };
}

/** The session with new consent claims (the refresh hook's answer): `ext` and the ID-token extras are replaced. */
export function withSessionClaims(session: TokenSession, claims: { accessToken: Record<string, unknown>; idToken: Record<string, unknown> }): TokenSession {
  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(session.idToken ?? {})) if (reservedIdTokenClaims.has(name)) kept[name] = value;
  return { ...session, ext: claims.accessToken, ...(session.idToken ? { idToken: { ...idTokenExtras(claims.idToken), ...kept } } : {}) };
}
