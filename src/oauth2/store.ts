/**
 * @module SQL of issued tokens (tables oauth2_access_tokens, oauth2_refresh_tokens, and
 * oauth2_authorization_codes for cleanup). Rows are keyed by a signature, never by the token;
 * `request_id` groups what one grant issued, so revocation takes the whole grant.
 * The session column is opaque here (sealed or plain JSON): oauth2/tokens.ts encodes it.
 */
import { and, eq, isNotNull, isNull, or, sql } from "drizzle-orm";
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
  /** When it was rotated (claimed by a refresh); undefined while unused, and for a revoked token. */
  usedAt?: Date;
  /** The pair its rotation issued, sealed under this token itself (oauth2/grants/refresh-token.ts); only during the grace period. */
  rotatedPair?: string;
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
  return { ...toRecord(row), active: row.active, usedAt: row.usedAt ?? undefined, rotatedPair: row.rotatedPair ?? undefined };
}

/** Raw sql params are not mapped by column type: postgres-js needs text, not a Date. */
const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

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
 * as reuse of a revoked token), and any pair kept for a rotation grace period is dropped.
 * The client id is part of the condition so that a caller can never revoke another client's
 * grant. Returns how many tokens were revoked.
 */
export async function revokeGrant(db: Db, requestId: string, clientId: string): Promise<number> {
  const deleted = await deleteAccessTokensOfGrant(db, requestId, clientId);
  const deactivated = await db
    .update(refreshTokens)
    .set({ active: false, rotatedPair: null })
    .where(
      and(
        eq(refreshTokens.requestId, requestId),
        eq(refreshTokens.clientId, clientId),
        or(eq(refreshTokens.active, true), isNotNull(refreshTokens.rotatedPair)),
      ),
    )
    .returning({ signature: refreshTokens.signature, usedAt: refreshTokens.usedAt });
  // A rotated token whose pair was dropped was not "revoked" now: count live tokens only.
  return deleted + deactivated.filter((r) => r.usedAt === null).length;
}

/** Deletes the access tokens of a grant (a refresh replaces them, RFC 6749 §6). */
export async function deleteAccessTokensOfGrant(db: Db, requestId: string, clientId: string): Promise<number> {
  const rows = await db
    .delete(accessTokens)
    .where(and(eq(accessTokens.requestId, requestId), eq(accessTokens.clientId, clientId)))
    .returning({ signature: accessTokens.signature });
  return rows.length;
}

/**
 * Claims a refresh token for rotation: one conditional UPDATE that succeeds for exactly one
 * caller, and only while the token is active, unused, unexpired and the client's. Everyone
 * else (a concurrent refresh, a replay) gets undefined; on PostgreSQL a concurrent caller
 * waits for the winner's transaction and then finds the row spent.
 */
export async function claimRefreshToken(db: Db, signature: string, clientId: string, now: Date): Promise<RefreshTokenRecord | undefined> {
  const rows = await db
    .update(refreshTokens)
    .set({ active: false, usedAt: now })
    .where(
      and(
        eq(refreshTokens.signature, signature),
        eq(refreshTokens.clientId, clientId),
        eq(refreshTokens.active, true),
        isNull(refreshTokens.usedAt),
        or(isNull(refreshTokens.expiresAt), sql`${refreshTokens.expiresAt} > ${ts(now)}`),
      ),
    )
    .returning();
  return rows[0] ? toRefreshRecord(rows[0]) : undefined;
}

/**
 * Keeps the pair a rotation issued with the rotated token (sealed), for the grace period, and
 * drops the pairs of the grant's earlier rotations: their successors are spent now.
 */
export async function keepRotatedPair(db: Db, signature: string, requestId: string, sealedPair: string): Promise<void> {
  await db
    .update(refreshTokens)
    .set({ rotatedPair: null })
    .where(and(eq(refreshTokens.requestId, requestId), isNotNull(refreshTokens.rotatedPair)));
  await db.update(refreshTokens).set({ rotatedPair: sealedPair }).where(eq(refreshTokens.signature, signature));
}

/** Drops the pair kept with a rotated token (presented after its grace period). */
export async function dropRotatedPair(db: Db, signature: string): Promise<void> {
  await db.update(refreshTokens).set({ rotatedPair: null }).where(and(eq(refreshTokens.signature, signature), isNotNull(refreshTokens.rotatedPair)));
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
