/**
 * @module SQL of the cleanup of issued credentials: each function deletes ONE batch of garbage
 * from one token table and says how many rows went. A batch is one short statement (select up
 * to n primary keys through the expiry index, skipping rows another transaction holds, then
 * delete those keys), so no table or row is locked for longer than one batch; the loop that
 * repeats batches is janitor/janitor.ts. Trust relationships are cleaned in trust/store.ts.
 */
import { sql, type SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Db } from "../storage/db.ts";
import { accessTokens, authorizationCodes, jtiRecords, refreshTokens } from "../storage/schema/tokens.ts";

/** What counts as garbage, fixed once per run so that every batch applies the same rule. */
export interface Cutoffs {
  now: Date;
  /**
   * Rows issued (requested_at) at or after this are kept whatever their state: Hydra's
   * `notAfter` of /oauth2/flush and `now − --keep-if-younger` of the janitor.
   */
  notAfter: Date;
  /** Hydra's --access-lifespan: access tokens issued before now − this are garbage even if their expires_at is later. */
  accessLifespanMs?: number;
  /** Hydra's --refresh-lifespan, likewise for refresh tokens (also those that never expire). */
  refreshLifespanMs?: number;
  /** A rotated refresh token stays this long after its use (oauth2.grant.refresh_token.rotation_grace_period). */
  refreshGraceMs: number;
}

/** postgres.js returns the rows as an array; PGlite returns { rows }. */
function rowsOf(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  return ((result as { rows?: Record<string, unknown>[] }).rows ?? []) as Record<string, unknown>[];
}

/** Raw sql params are not mapped by column type: give postgres.js text, not a Date. */
function ts(d: Date): SQL {
  return sql`${d.toISOString()}::timestamptz`;
}

function before(d: Date, ms: number): Date {
  return new Date(d.getTime() - ms);
}

/**
 * Deletes up to `n` rows of `table` matching `where`, by primary key. SKIP LOCKED: a row that
 * a request is using right now (a refresh being rotated) is left for the next batch or run
 * instead of making the janitor wait, and two janitors never fight over the same rows.
 */
export async function deleteBatch(db: Db, table: PgTable, pk: PgColumn, where: SQL, n: number): Promise<number> {
  const result = await db.execute(sql`
    WITH doomed AS (SELECT ${pk} AS k FROM ${table} WHERE ${where} LIMIT ${n} FOR UPDATE SKIP LOCKED),
         gone AS (DELETE FROM ${table} WHERE ${pk} IN (SELECT k FROM doomed) RETURNING 1)
    SELECT count(*)::int AS n FROM gone`);
  return Number(rowsOf(result)[0]?.n ?? 0);
}

/** Access tokens past their expiry (or past --access-lifespan), issued before notAfter. */
export function expiredAccessTokens(c: Cutoffs): SQL {
  const t = accessTokens;
  const expired = c.accessLifespanMs === undefined ? sql`${t.expiresAt} < ${ts(c.now)}` : sql`(${t.expiresAt} < ${ts(c.now)} OR ${t.requestedAt} < ${ts(before(c.now, c.accessLifespanMs))})`;
  return sql`${t.requestedAt} < ${ts(c.notAfter)} AND ${expired}`;
}

/**
 * Refresh tokens that can no longer be redeemed: expired (or past --refresh-lifespan), or
 * inactive (rotated or revoked), past the rotation grace period, in a grant that has no
 * active refresh token left. While a grant is alive its rotated tokens are kept until they
 * expire: presenting one again is how a stolen refresh token is detected and the grant
 * revoked (OAuth 2.0 Security BCP, RFC 9700 §4.14.2), and that needs the row.
 */
export function expiredRefreshTokens(c: Cutoffs): SQL {
  const t = refreshTokens;
  const lifespan = c.refreshLifespanMs === undefined ? sql`` : sql` OR ${t.requestedAt} < ${ts(before(c.now, c.refreshLifespanMs))}`;
  // The inner table is aliased, so the unqualified-by-alias column names the outer row.
  const grantDead = sql`NOT EXISTS (SELECT 1 FROM ${refreshTokens} AS live WHERE live.request_id = ${t.requestId} AND live.active)`;
  const spent = sql`(${t.active} = false AND (${t.usedAt} IS NULL OR ${t.usedAt} < ${ts(before(c.now, c.refreshGraceMs))}) AND ${grantDead})`;
  return sql`${t.requestedAt} < ${ts(c.notAfter)} AND (${t.expiresAt} < ${ts(c.now)}${lifespan} OR ${spent})`;
}

/**
 * Authorization codes past their expiry, used or not. A used code is kept until then on
 * purpose: presenting it again must be recognised as a replay and revoke what it issued
 * (RFC 6749 §4.1.2), which needs the row.
 */
export function expiredAuthorizationCodes(c: Cutoffs): SQL {
  const t = authorizationCodes;
  return sql`${t.requestedAt} < ${ts(c.notAfter)} AND ${t.expiresAt} < ${ts(c.now)}`;
}

/** jti records past the expiry of their assertion: replaying it would fail on exp anyway (oauth2/jti.ts). */
export function expiredJtiRecords(c: Cutoffs): SQL {
  return sql`${jtiRecords.expiresAt} < ${ts(c.now)}`;
}

export function deleteExpiredAccessTokens(db: Db, c: Cutoffs, n: number): Promise<number> {
  return deleteBatch(db, accessTokens, accessTokens.signature, expiredAccessTokens(c), n);
}

export function deleteExpiredRefreshTokens(db: Db, c: Cutoffs, n: number): Promise<number> {
  return deleteBatch(db, refreshTokens, refreshTokens.signature, expiredRefreshTokens(c), n);
}

export function deleteExpiredAuthorizationCodes(db: Db, c: Cutoffs, n: number): Promise<number> {
  return deleteBatch(db, authorizationCodes, authorizationCodes.signature, expiredAuthorizationCodes(c), n);
}

export function deleteExpiredJtiRecords(db: Db, c: Cutoffs, n: number): Promise<number> {
  return deleteBatch(db, jtiRecords, jtiRecords.signature, expiredJtiRecords(c), n);
}

/**
 * Empties rotated_pair, the sealed pair a refresh-token rotation keeps so that a retry within
 * oauth2.grant.refresh_token.rotation_grace_period gets the same tokens, once that period is
 * over (the grant never hands it out after it). One batch of up to `n` rows, like a delete.
 */
export async function clearExpiredRotationPairs(db: Db, c: Cutoffs, n: number): Promise<number> {
  const t = refreshTokens;
  const result = await db.execute(sql`
    WITH stale AS (SELECT ${t.signature} AS k FROM ${t} WHERE ${t.rotatedPair} IS NOT NULL AND ${t.usedAt} < ${ts(before(c.now, c.refreshGraceMs))} LIMIT ${n} FOR UPDATE SKIP LOCKED),
         cleared AS (UPDATE ${t} SET rotated_pair = NULL WHERE ${t.signature} IN (SELECT k FROM stale) RETURNING 1)
    SELECT count(*)::int AS n FROM cleared`);
  return Number(rowsOf(result)[0]?.n ?? 0);
}
