/**
 * @module Single-use `jti` values (client assertions, RFC 7523 grants): a value is
 * claimed once and kept until its expiry; after that the janitor may delete it
 * and the same value may be claimed again.
 */
import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import { jtiRecords } from "../storage/schema/index.ts";

/** Keyed by a hash of issuer and jti, so a long attacker-chosen jti cannot bloat the key. */
export function jtiSignature(issuer: string, jti: string): string {
  return createHash("sha256").update(issuer).update("\0").update(jti).digest("base64url");
}

/**
 * Claims a jti until `expiresAt`. True when this call claimed it; false when it is
 * already claimed and not yet expired (a replay). One statement, so two concurrent
 * claims of the same jti cannot both win.
 */
export async function claimJti(db: Db, issuer: string, jti: string, expiresAt: Date, now: Date): Promise<boolean> {
  const rows = await db
    .insert(jtiRecords)
    .values({ signature: jtiSignature(issuer, jti), expiresAt })
    .onConflictDoUpdate({
      target: jtiRecords.signature,
      set: { expiresAt },
      // Raw sql params are not mapped by column type: give postgres-js text, not a Date.
      setWhere: sql`${jtiRecords.expiresAt} <= ${now.toISOString()}::timestamptz`,
    })
    .returning({ signature: jtiRecords.signature });
  return rows.length === 1;
}
