/**
 * @module SQL of the json_web_keys table. Every JWK is stored whole, sealed with
 * AES-256-GCM under secrets.system[0] (purpose "jwk"); the public part of an asymmetric
 * key is also kept in clear so that jwks.json never needs a secret.
 */
import { and, asc, desc, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { conflict } from "../errors.ts";
import { seal, unseal, UnsealError } from "../lib/crypto.ts";
import type { Db } from "../storage/db.ts";
import { jsonWebKeys } from "../storage/schema/keys.ts";
import { isSecretJwk, ordered, publicKid, publicPart } from "./keystore.ts";
import type { Jwk, StoredKey } from "./types.ts";

/** Separates the AEAD key of JWKs from other sealed data (lib/crypto.ts). */
export const jwkSealPurpose = "jwk";

/** Serialises first-start generation and secret rotation across processes ("jwks" in ASCII). */
const keysLockKey = 0x6a776b73n;

/** Some keys of a set cannot be opened with any of secrets.system. */
export class UndecryptableKeysError extends Error {
  override name = "UndecryptableKeysError";
  constructor(
    readonly setId: string,
    readonly kids: string[],
  ) {
    super(`${kids.length} key(s) of set "${setId}" cannot be decrypted with any of secrets.system (${kids.join(", ")})`);
  }
}

type Row = typeof jsonWebKeys.$inferSelect;

function isUniqueViolation(err: unknown): boolean {
  // drizzle wraps driver errors; postgres.js and PGlite both carry the SQLSTATE in `code`.
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.code === "23505") return true;
  }
  return false;
}

function toRow(secrets: readonly string[], setId: string, jwk: Jwk, createdAt: Date) {
  return {
    setId,
    kid: jwk.kid,
    alg: jwk.alg,
    use: jwk.use,
    publicJwk: publicPart(jwk, isSecretJwk(jwk) ? publicKid(jwk.kid) : jwk.kid) ?? null,
    sealedJwk: seal(secrets, JSON.stringify(jwk), jwkSealPurpose),
    createdAt,
  };
}

/**
 * Rows get decreasing timestamps in list order, so that GET returns a set in the order it
 * was given and "newest" (the signing key) is the first key of a PUT or POST body.
 */
function rowsOf(secrets: readonly string[], setId: string, jwks: readonly Jwk[], now: Date) {
  return jwks.map((jwk, i) => toRow(secrets, setId, jwk, new Date(now.getTime() - i)));
}

function open(secrets: readonly string[], row: Row): StoredKey {
  return {
    setId: row.setId,
    kid: row.kid,
    alg: row.alg,
    use: row.use,
    jwk: JSON.parse(unseal(secrets, row.sealedJwk, jwkSealPurpose)) as Jwk,
    createdAt: row.createdAt,
  };
}

/** Adds keys to a set (creating it); a (set, kid) that exists is a 409. */
export async function insertKeys(db: Db, secrets: readonly string[], setId: string, jwks: readonly Jwk[], now: Date): Promise<void> {
  if (jwks.length === 0) return;
  try {
    await db.insert(jsonWebKeys).values(rowsOf(secrets, setId, jwks, now));
  } catch (err) {
    if (isUniqueViolation(err)) {
      const kids = jwks.map((k) => k.kid).join(", ");
      throw conflict(`Unable to insert or update resource because a resource with that value exists already: set "${setId}" already has a key with ${jwks.length > 1 ? "one of the kids" : "kid"} ${kids}.`, { cause: err });
    }
    throw err;
  }
}

/** Newest first (Hydra: created_at DESC); ties (one generated pair) by kid, so private: precedes public:. */
const newestFirst = [desc(jsonWebKeys.createdAt), asc(jsonWebKeys.kid)] as const;

/** Every key of a set opened, plus the kids no listed secret opens. */
export async function openKeySet(db: Db, secrets: readonly string[], setId: string): Promise<{ keys: StoredKey[]; unreadable: string[] }> {
  const rows = await db
    .select()
    .from(jsonWebKeys)
    .where(eq(jsonWebKeys.setId, setId))
    .orderBy(...newestFirst);
  const keys: StoredKey[] = [];
  const unreadable: string[] = [];
  for (const row of rows) {
    try {
      keys.push(open(secrets, row));
    } catch (err) {
      if (!(err instanceof UnsealError)) throw err;
      unreadable.push(row.kid);
    }
  }
  return { keys, unreadable };
}

/** A whole set, newest first; empty when the set does not exist. */
export async function listKeys(db: Db, secrets: readonly string[], setId: string): Promise<StoredKey[]> {
  const { keys, unreadable } = await openKeySet(db, secrets, setId);
  if (unreadable.length > 0) throw new UndecryptableKeysError(setId, unreadable);
  return keys;
}

export async function getKey(db: Db, secrets: readonly string[], setId: string, kid: string): Promise<StoredKey | undefined> {
  const [row] = await db
    .select()
    .from(jsonWebKeys)
    .where(and(eq(jsonWebKeys.setId, setId), eq(jsonWebKeys.kid, kid)));
  if (!row) return undefined;
  try {
    return open(secrets, row);
  } catch (err) {
    if (err instanceof UnsealError) throw new UndecryptableKeysError(setId, [kid]);
    throw err;
  }
}

/** PUT /keys/{set}: the set becomes exactly these keys, atomically. */
export async function replaceKeySet(db: Db, secrets: readonly string[], setId: string, jwks: readonly Jwk[], now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(jsonWebKeys).where(eq(jsonWebKeys.setId, setId));
    await insertKeys(tx as unknown as Db, secrets, setId, jwks, now);
  });
}

/** PUT /keys/{set}/{kid}: adds the key, or replaces the one with its kid, atomically. */
export async function replaceKey(db: Db, secrets: readonly string[], setId: string, jwk: Jwk, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(jsonWebKeys).where(and(eq(jsonWebKeys.setId, setId), eq(jsonWebKeys.kid, jwk.kid)));
    await insertKeys(tx as unknown as Db, secrets, setId, [jwk], now);
  });
}

export async function deleteKeySet(db: Db, setId: string): Promise<number> {
  const deleted = await db.delete(jsonWebKeys).where(eq(jsonWebKeys.setId, setId)).returning({ kid: jsonWebKeys.kid });
  return deleted.length;
}

export async function deleteKey(db: Db, setId: string, kid: string): Promise<number> {
  const deleted = await db
    .delete(jsonWebKeys)
    .where(and(eq(jsonWebKeys.setId, setId), eq(jsonWebKeys.kid, kid)))
    .returning({ kid: jsonWebKeys.kid });
  return deleted.length;
}

/**
 * The public keys of the given sets, in the given set order and newest first within a set,
 * each kid once (a generated pair publishes one key). Read from the clear public part:
 * no secret is needed, and no private or symmetric member can be returned.
 */
export async function publishedKeys(db: Db, setIds: readonly string[]): Promise<Jwk[]> {
  if (setIds.length === 0) return [];
  const rows = await db
    .select({ setId: jsonWebKeys.setId, publicJwk: jsonWebKeys.publicJwk })
    .from(jsonWebKeys)
    .where(and(inArray(jsonWebKeys.setId, [...setIds]), isNotNull(jsonWebKeys.publicJwk)))
    .orderBy(...newestFirst);
  const seen = new Set<string>();
  const out: Jwk[] = [];
  for (const setId of setIds) {
    for (const row of rows) {
      const jwk = row.publicJwk as Jwk | null;
      if (row.setId !== setId || !jwk || seen.has(jwk.kid)) continue;
      seen.add(jwk.kid);
      out.push(ordered(jwk));
    }
  }
  return out;
}

export interface SealedKey {
  setId: string;
  kid: string;
  sealed: string;
}

/** Every key as stored, for the at-rest checks (readiness, rotate-secret). */
export async function sealedKeys(db: Db): Promise<SealedKey[]> {
  const rows = await db
    .select({ setId: jsonWebKeys.setId, kid: jsonWebKeys.kid, sealed: jsonWebKeys.sealedJwk })
    .from(jsonWebKeys)
    .orderBy(asc(jsonWebKeys.setId), asc(jsonWebKeys.kid));
  return rows;
}

export async function updateSealed(db: Db, setId: string, kid: string, sealed: string): Promise<void> {
  await db
    .update(jsonWebKeys)
    .set({ sealedJwk: sealed })
    .where(and(eq(jsonWebKeys.setId, setId), eq(jsonWebKeys.kid, kid)));
}

/**
 * Runs `fn` in one transaction holding the keys advisory lock, so that N processes
 * checking-then-inserting (first start) or re-sealing (rotate-secret) do it one at a time.
 */
export async function withKeysLock<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${keysLockKey})`);
    return fn(tx as unknown as Db);
  });
}

/**
 * One short text that changes whenever a key is added, removed or replaced in any set: the
 * number of keys and a digest of (set, kid, creation time, public part) of each row. The table
 * holds a few keys, so this costs about what one primary-key read does.
 */
export async function keyTableFingerprint(db: Db): Promise<string> {
  const [row] = await db
    .select({
      fingerprint: sql<string>`count(*)::text || ':' || coalesce(md5(string_agg(${jsonWebKeys.setId} || ' ' || ${jsonWebKeys.kid} || ' ' || (extract(epoch from ${jsonWebKeys.createdAt}) * 1000000)::bigint::text || ' ' || coalesce(${jsonWebKeys.publicJwk}::text, ''), ',' ORDER BY ${jsonWebKeys.setId}, ${jsonWebKeys.kid})), '')`,
    })
    .from(jsonWebKeys);
  return row?.fingerprint ?? "";
}
