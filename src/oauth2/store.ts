/**
 * @module SQL of issued tokens (tables oauth2_access_tokens, oauth2_refresh_tokens, and
 * oauth2_authorization_codes for cleanup). Rows are keyed by a signature, never by the token;
 * `request_id` groups what one grant issued, so revocation takes the whole grant.
 * The session column is opaque here (sealed or plain JSON): oauth2/tokens.ts encodes it.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import { accessTokens, authorizationCodes, refreshTokens } from "../storage/schema/index.ts";

/** One issued token as stored. */
export interface TokenRecord {
  signature: string;
  requestId: string;
  clientId: string;
  subject: string;
  grantedScope: string[];
  grantedAudience: string[];
  requestedAt: Date;
  /** undefined = never expires (ttl.refresh_token -1). */
  expiresAt: Date | undefined;
  /** The session as stored: sealed (purpose "session") or plain JSON. */
  session: string;
}

export interface RefreshTokenRecord extends TokenRecord {
  /** False once revoked or rotated. */
  active: boolean;
}

type AccessRow = typeof accessTokens.$inferSelect;
type RefreshRow = typeof refreshTokens.$inferSelect;

function splitScope(text: string): string[] {
  return text.split(" ").filter(Boolean);
}

function toRow(r: TokenRecord) {
  return {
    signature: r.signature,
    requestId: r.requestId,
    clientId: r.clientId,
    subject: r.subject,
    grantedScope: r.grantedScope.join(" "),
    grantedAudience: r.grantedAudience,
    requestedAt: r.requestedAt,
    expiresAt: r.expiresAt ?? null,
    session: r.session,
  };
}

function toRecord(row: AccessRow): TokenRecord {
  return {
    signature: row.signature,
    requestId: row.requestId,
    clientId: row.clientId,
    subject: row.subject,
    grantedScope: splitScope(row.grantedScope),
    grantedAudience: Array.isArray(row.grantedAudience) ? row.grantedAudience : [],
    requestedAt: row.requestedAt,
    expiresAt: row.expiresAt ?? undefined,
    session: row.session,
  };
}

function toRefreshRecord(row: RefreshRow): RefreshTokenRecord {
  return { ...toRecord(row), active: row.active };
}

export async function insertAccessToken(db: Db, record: TokenRecord): Promise<void> {
  await db.insert(accessTokens).values(toRow(record));
}

export async function insertRefreshToken(db: Db, record: TokenRecord): Promise<void> {
  await db.insert(refreshTokens).values({ ...toRow(record), active: true });
}

export async function getAccessToken(db: Db, signature: string): Promise<TokenRecord | undefined> {
  const [row] = await db.select().from(accessTokens).where(eq(accessTokens.signature, signature)).limit(1);
  return row ? toRecord(row) : undefined;
}

export async function getRefreshToken(db: Db, signature: string): Promise<RefreshTokenRecord | undefined> {
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.signature, signature)).limit(1);
  return row ? toRefreshRecord(row) : undefined;
}

/**
 * Revokes everything one grant issued to one client: its access tokens are deleted and its
 * refresh tokens deactivated (kept, as Hydra, so that a later presentation is recognised
 * as reuse of a revoked token). The client id is part of the condition so that a caller
 * can never revoke another client's grant. Returns how many rows changed.
 */
export async function revokeGrant(db: Db, requestId: string, clientId: string): Promise<number> {
  const deleted = await db
    .delete(accessTokens)
    .where(and(eq(accessTokens.requestId, requestId), eq(accessTokens.clientId, clientId)))
    .returning({ signature: accessTokens.signature });
  const deactivated = await db
    .update(refreshTokens)
    .set({ active: false })
    .where(and(eq(refreshTokens.requestId, requestId), eq(refreshTokens.clientId, clientId), eq(refreshTokens.active, true)))
    .returning({ signature: refreshTokens.signature });
  return deleted.length + deactivated.length;
}

/** Deletes every access token, refresh token and authorization code of a client. */
export async function deleteClientTokens(db: Db, clientId: string): Promise<number> {
  const access = await db.delete(accessTokens).where(eq(accessTokens.clientId, clientId)).returning({ s: accessTokens.signature });
  const refresh = await db.delete(refreshTokens).where(eq(refreshTokens.clientId, clientId)).returning({ s: refreshTokens.signature });
  const codes = await db
    .delete(authorizationCodes)
    .where(eq(authorizationCodes.clientId, clientId))
    .returning({ s: authorizationCodes.signature });
  return access.length + refresh.length + codes.length;
}
