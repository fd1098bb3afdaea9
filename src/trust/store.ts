/**
 * @module SQL of RFC 7523 trust relationships (table trusted_jwt_issuers) and of their public
 * keys in json_web_keys (set = issuer, see types.ts trustKeySet). A key may back several
 * relationships of one issuer (other subjects, same kid); it is deleted with the last of them.
 * Every write runs in one transaction under one advisory lock, so the check-then-insert of a
 * duplicate and the "last relationship of this key?" question cannot race (trust writes are
 * rare admin calls: one lock for all of them costs nothing).
 */
import { and, asc, count, desc, eq, gt, inArray, lt, or, sql, type SQL } from "drizzle-orm";
import { conflict } from "../errors.ts";
import { insertKeys } from "../keys/store.ts";
import type { Jwk } from "../keys/types.ts";
import type { Db } from "../storage/db.ts";
import { jsonWebKeys } from "../storage/schema/keys.ts";
import { trustedJwtIssuers } from "../storage/schema/tokens.ts";
import type { AssertionKey, TrustedIssuer } from "./types.ts";

/** "trst" in ASCII. */
const trustLockKey = 0x74727374n;

/** Hydra loads at most 100 keys per issuer and subject (persister_grant_jwk.go GetPublicKeys). */
const maxAssertionKeys = 100;

type Row = typeof trustedJwtIssuers.$inferSelect;

/** PostgreSQL text cannot hold NUL (the driver fails the query): a value with one matches no row. */
function unstorable(...values: (string | undefined)[]): boolean {
  return values.some((v) => v !== undefined && v.includes("\0"));
}

function toTrustedIssuer(row: Row): TrustedIssuer {
  return {
    id: row.id,
    issuer: row.issuer,
    subject: row.subject,
    allowAnySubject: row.allowAnySubject,
    scope: row.scope ?? [],
    keySet: row.keySet,
    keyId: row.keyId,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
  };
}

/** Runs `fn` in a transaction holding the trust lock; also used by the janitor's cleanup. */
export async function withTrustLock<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${trustLockKey})`);
    return fn(tx as unknown as Db);
  });
}

const keyMembers = ["kty", "alg", "crv", "n", "e", "x", "y"] as const;

function samePublicKey(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return keyMembers.every((m) => a[m] === b[m]);
}

/**
 * Stores a trust relationship and, unless another relationship of the issuer already brought
 * it, its public key. 409 when (issuer, subject, kid) exists, or when the issuer's set holds
 * another key under that kid.
 */
export async function insertTrustedIssuer(db: Db, secrets: readonly string[], t: TrustedIssuer, jwk: Jwk): Promise<void> {
  await withTrustLock(db, async (tx) => {
    const [dup] = await tx
      .select({ id: trustedJwtIssuers.id })
      .from(trustedJwtIssuers)
      .where(and(eq(trustedJwtIssuers.issuer, t.issuer), eq(trustedJwtIssuers.subject, t.subject), eq(trustedJwtIssuers.keyId, t.keyId)))
      .limit(1);
    if (dup) {
      throw conflict(undefined, {
        hint: `A trust relationship for issuer '${t.issuer}', ${t.allowAnySubject ? "any subject" : `subject '${t.subject}'`} and kid '${t.keyId}' exists already (id ${dup.id}).`,
      });
    }
    const [existing] = await tx
      .select({ publicJwk: jsonWebKeys.publicJwk })
      .from(jsonWebKeys)
      .where(and(eq(jsonWebKeys.setId, t.keySet), eq(jsonWebKeys.kid, t.keyId)));
    if (!existing) {
      await insertKeys(tx, secrets, t.keySet, [jwk], t.createdAt);
    } else {
      const [owner] = await tx
        .select({ id: trustedJwtIssuers.id })
        .from(trustedJwtIssuers)
        .where(and(eq(trustedJwtIssuers.keySet, t.keySet), eq(trustedJwtIssuers.keyId, t.keyId)))
        .limit(1);
      // A key put there through /keys is not ours to share, nor to delete later.
      if (!owner) throw conflict(undefined, { hint: `Key set '${t.keySet}' already holds a key with kid '${t.keyId}' that no trust relationship owns; choose another kid.` });
      if (!samePublicKey((existing.publicJwk ?? {}) as Record<string, unknown>, jwk as Record<string, unknown>)) {
        throw conflict(undefined, { hint: `Issuer '${t.issuer}' is already trusted with a different key under kid '${t.keyId}'; a kid names one key.` });
      }
    }
    await tx.insert(trustedJwtIssuers).values({
      id: t.id,
      issuer: t.issuer,
      subject: t.subject,
      allowAnySubject: t.allowAnySubject,
      scope: t.scope,
      keySet: t.keySet,
      keyId: t.keyId,
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
    });
  });
}

export async function getTrustedIssuer(db: Db, id: string): Promise<TrustedIssuer | undefined> {
  if (unstorable(id)) return undefined;
  const [row] = await db.select().from(trustedJwtIssuers).where(eq(trustedJwtIssuers.id, id));
  return row ? toTrustedIssuer(row) : undefined;
}

export interface TrustListQuery {
  limit: number;
  offset: number;
  /** "" = every issuer. */
  issuer: string;
}

/** One page ordered by id (as Hydra), and the total of the filtered list (Hydra counts all). */
export async function listTrustedIssuers(db: Db, q: TrustListQuery): Promise<{ items: TrustedIssuer[]; total: number }> {
  if (unstorable(q.issuer)) return { items: [], total: 0 };
  const where: SQL | undefined = q.issuer ? eq(trustedJwtIssuers.issuer, q.issuer) : undefined;
  const rows = await db.select().from(trustedJwtIssuers).where(where).orderBy(asc(trustedJwtIssuers.id)).limit(q.limit).offset(q.offset);
  const [total] = await db.select({ n: count() }).from(trustedJwtIssuers).where(where);
  return { items: rows.map(toTrustedIssuer), total: total?.n ?? 0 };
}

/**
 * Deletes a trust relationship, and its key when no other relationship uses it. Returns the
 * key set it used, or undefined when it did not exist.
 */
export async function deleteTrustedIssuer(db: Db, id: string): Promise<{ keySet: string } | undefined> {
  if (unstorable(id)) return undefined;
  return withTrustLock(db, async (tx) => {
    const [gone] = await tx
      .delete(trustedJwtIssuers)
      .where(eq(trustedJwtIssuers.id, id))
      .returning({ keySet: trustedJwtIssuers.keySet, keyId: trustedJwtIssuers.keyId });
    if (!gone) return undefined;
    await deleteUnusedKey(tx, gone.keySet, gone.keyId);
    return { keySet: gone.keySet };
  });
}

/** Deletes the key (set, kid) if no trust relationship refers to it any more. Call under the trust lock. */
export async function deleteUnusedKey(tx: Db, keySet: string, keyId: string): Promise<number> {
  const [user] = await tx
    .select({ id: trustedJwtIssuers.id })
    .from(trustedJwtIssuers)
    .where(and(eq(trustedJwtIssuers.keySet, keySet), eq(trustedJwtIssuers.keyId, keyId)))
    .limit(1);
  if (user) return 0;
  const deleted = await tx
    .delete(jsonWebKeys)
    .where(and(eq(jsonWebKeys.setId, keySet), eq(jsonWebKeys.kid, keyId)))
    .returning({ kid: jsonWebKeys.kid });
  return deleted.length;
}

/**
 * The keys that may verify an assertion from `issuer` about `subject` at `now`: live
 * (unexpired) relationships naming the subject or allowing any, with their keys, newest
 * first. With `kid`, only that key (RFC 7515 §4.1.4). The keys are read from the clear public
 * part of json_web_keys, so verifying an assertion needs no secret.
 */
export async function assertionKeys(db: Db, issuer: string, subject: string, kid: string | undefined, now: Date): Promise<AssertionKey[]> {
  // The claims come from an unverified assertion: anything may be in them.
  if (unstorable(issuer, subject, kid)) return [];
  const conditions = [
    eq(trustedJwtIssuers.issuer, issuer),
    or(eq(trustedJwtIssuers.subject, subject), eq(trustedJwtIssuers.allowAnySubject, true)),
    gt(trustedJwtIssuers.expiresAt, now),
  ];
  if (kid !== undefined) conditions.push(eq(trustedJwtIssuers.keyId, kid));
  const rows = await db
    .select({ keyId: trustedJwtIssuers.keyId, scope: trustedJwtIssuers.scope, publicJwk: jsonWebKeys.publicJwk })
    .from(trustedJwtIssuers)
    .innerJoin(jsonWebKeys, and(eq(jsonWebKeys.setId, trustedJwtIssuers.keySet), eq(jsonWebKeys.kid, trustedJwtIssuers.keyId)))
    .where(and(...conditions))
    .orderBy(desc(trustedJwtIssuers.createdAt), asc(trustedJwtIssuers.id))
    .limit(maxAssertionKeys);
  const byKid = new Map<string, AssertionKey>();
  for (const row of rows) {
    if (!row.publicJwk) continue;
    const entry = byKid.get(row.keyId);
    if (entry) entry.scope = [...new Set([...entry.scope, ...(row.scope ?? [])])];
    else byKid.set(row.keyId, { kid: row.keyId, jwk: row.publicJwk as Jwk, scope: [...(row.scope ?? [])] });
  }
  return [...byKid.values()];
}

/**
 * Janitor: deletes up to `n` relationships that expired before `cutoff`, and the keys no
 * remaining relationship uses, in one short transaction under the trust lock.
 */
export async function deleteExpiredTrustedIssuers(db: Db, cutoff: Date, n: number): Promise<{ issuers: number; keys: number }> {
  return withTrustLock(db, async (tx) => {
    const doomed = tx.select({ id: trustedJwtIssuers.id }).from(trustedJwtIssuers).where(lt(trustedJwtIssuers.expiresAt, cutoff)).limit(n);
    const gone = await tx
      .delete(trustedJwtIssuers)
      .where(inArray(trustedJwtIssuers.id, doomed))
      .returning({ keySet: trustedJwtIssuers.keySet, keyId: trustedJwtIssuers.keyId });
    const keys = new Map(gone.map((g) => [JSON.stringify([g.keySet, g.keyId]), g]));
    let deletedKeys = 0;
    for (const k of keys.values()) deletedKeys += await deleteUnusedKey(tx, k.keySet, k.keyId);
    return { issuers: gone.length, keys: deletedKeys };
  });
}
