/**
 * @module Authorization codes (RFC 6749 §4.1.2): opaque tokens (oauth2.token_prefix.authorize_code)
 * of which only the HMAC signature is stored, with the session the token endpoint needs to
 * redeem them, sealed at rest like token sessions. Issued by the authorization endpoint;
 * redeemed once by the authorization_code grant.
 */
import type { Deps } from "../deps.ts";
import { seal, unseal } from "../lib/crypto.ts";
import type { Db } from "../storage/db.ts";
import {
  claimAuthorizationCode,
  getAuthorizationCode,
  type AuthorizationCodeRecord,
} from "../flows/store.ts";
import { generateOpaqueToken, opaqueTokenSignature } from "./opaque-token.ts";
import type { TokenRecord } from "./store.ts";
import type { Pkce } from "./pkce.ts";

/** Everything the token endpoint needs to turn a code into tokens (ID token included). */
export interface AuthorizationCodeSession {
  clientId: string;
  /** The redirect URI the authorization response went to. */
  redirectUri: string;
  /** RFC 6749 §4.1.3: when true the token request must send this exact redirect_uri. */
  redirectUriGiven: boolean;
  pkce: Pkce | null;
  /** "" when the request had none. */
  nonce: string;
  requestedScope: string[];
  requestedAudience: string[];
  grantedScope: string[];
  grantedAudience: string[];
  /** The login app's subject: the code row's `subject`, as on every token row. */
  subject: string;
  /** The subject as this client sees it (pairwise or forced); equal to `subject` for public clients. */
  subjectIdentifier: string;
  /** ISO times. */
  authTime: string;
  requestedAt: string;
  acr: string;
  amr: string[];
  /** Login session id (`sid`). */
  sid: string;
  /** Consent session.access_token (the access token's `ext`). */
  accessTokenClaims: Record<string, unknown>;
  /** Consent session.id_token (extra ID-token claims). */
  idTokenClaims: Record<string, unknown>;
  /** The consent challenge: the request_id every token of this grant carries. */
  requestId: string;
}

const sealPurpose = "authorization_code_session";

type CodeDeps = Pick<Deps, "config">;

function encode(deps: CodeDeps, session: AuthorizationCodeSession): string {
  const text = JSON.stringify(session);
  return deps.config.oauth2.session.encrypt_at_rest ? seal(deps.config.secrets.system, text, sealPurpose) : text;
}

/** Opens a stored session; undefined when no listed secret opens it. */
export function decodeAuthorizationCodeSession(deps: CodeDeps, stored: string): AuthorizationCodeSession | undefined {
  try {
    return JSON.parse(stored.startsWith("{") ? stored : unseal(deps.config.secrets.system, stored, sealPurpose)) as AuthorizationCodeSession;
  } catch {
    return undefined;
  }
}

/**
 * Creates a code for a finished flow: the code, and the row to store (its signature and sealed
 * session), not written yet; it expires after ttl.auth_code. The caller writes the row with
 * what else the flow issues (flows/store.ts saveConsentRedeemed).
 */
export function mintAuthorizationCode(deps: CodeDeps, session: AuthorizationCodeSession, now: Date): { code: string; expiresAt: Date; record: TokenRecord } {
  const { token, signature } = generateOpaqueToken(deps.config.secrets.system, "authorize_code", deps.config.oauth2.token_prefix.authorize_code);
  const expiresAt = new Date(now.getTime() + deps.config.ttl.auth_code);
  const record: TokenRecord = {
    signature,
    requestId: session.requestId,
    clientId: session.clientId,
    // The local subject, as on token rows; the client's view stays in the sealed session.
    subject: session.subject,
    grantedScope: session.grantedScope,
    grantedAudience: session.grantedAudience,
    requestedAt: now,
    expiresAt,
    session: encode(deps, session),
  };
  return { code: token, expiresAt, record };
}

/** The stored signature of a presented code, or undefined when it is not one of ours. */
export function authorizationCodeSignature(deps: CodeDeps, code: string): string | undefined {
  return opaqueTokenSignature(deps.config.secrets.system, "authorize_code", deps.config.oauth2.token_prefix.authorize_code, code);
}

export type RedeemedCode =
  | { outcome: "redeemed"; record: AuthorizationCodeRecord; session: AuthorizationCodeSession }
  /** Known but already used: RFC 6749 §4.1.2 says revoke what it issued (record.requestId). */
  | { outcome: "reused"; record: AuthorizationCodeRecord }
  /** Not redeemable, and not spent by this attempt: why, for the error hint. */
  | { outcome: "invalid"; reason: "unknown" | "expired" | "other_client" };

export type ReadCode =
  | { outcome: "redeemable"; signature: string; record: AuthorizationCodeRecord; session: AuthorizationCodeSession }
  | Exclude<RedeemedCode, { outcome: "redeemed" }>;

/**
 * A presented code as the token endpoint finds it, claiming nothing: redeemable (unused,
 * unexpired at `now`, `clientId`'s, its session opens), reused, or invalid and why, in the
 * order redeemAuthorizationCode reports them. The grant then checks the request against the
 * session and spends the code with one conditional write (oauth2/store.ts spendAuthorizationCode),
 * so a request that fails a check spends nothing.
 */
export async function readAuthorizationCode(deps: CodeDeps, db: Db, code: string, clientId: string, now: Date): Promise<ReadCode> {
  const signature = authorizationCodeSignature(deps, code);
  if (!signature) return { outcome: "invalid", reason: "unknown" };
  const record = await getAuthorizationCode(db, signature);
  if (!record) return { outcome: "invalid", reason: "unknown" };
  if (record.usedAt) return { outcome: "reused", record };
  if (record.clientId !== clientId) return { outcome: "invalid", reason: "other_client" };
  if (record.expiresAt.getTime() <= now.getTime()) return { outcome: "invalid", reason: "expired" };
  const session = decodeAuthorizationCodeSession(deps, record.session);
  return session ? { outcome: "redeemable", signature, record, session } : { outcome: "invalid", reason: "unknown" };
}

/**
 * Redeems a code once: the first caller gets its session; a used code is reported as
 * reused (so the grant can revoke the tokens issued with it); anything else is invalid
 * (unknown, expired, forged, or a session no secret opens). With `clientId`, only that
 * client can spend the code: another client's attempt leaves it unused (fosite checks the
 * client before it invalidates a code), so a leaked code cannot be burnt by a stranger.
 */
export async function redeemAuthorizationCode(deps: Pick<Deps, "config" | "db" | "clock">, db: Db, code: string, clientId?: string): Promise<RedeemedCode> {
  const signature = authorizationCodeSignature(deps, code);
  if (!signature) return { outcome: "invalid", reason: "unknown" };
  const now = deps.clock.now();
  const record = await claimAuthorizationCode(db, signature, now, clientId);
  if (!record) {
    const existing = await getAuthorizationCode(db, signature);
    if (!existing) return { outcome: "invalid", reason: "unknown" };
    if (existing.usedAt) return { outcome: "reused", record: existing };
    if (clientId !== undefined && existing.clientId !== clientId) return { outcome: "invalid", reason: "other_client" };
    return { outcome: "invalid", reason: "expired" };
  }
  const session = decodeAuthorizationCodeSession(deps, record.session);
  return session ? { outcome: "redeemed", record, session } : { outcome: "invalid", reason: "unknown" };
}
