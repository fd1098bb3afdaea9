/** @module Rows with chosen expiries for the janitor tests, written through the stores or straight into the tables. */
import { eq, notLike, sql } from "drizzle-orm";
import { insertAccessToken, insertRefreshToken } from "../../src/oauth2/store.ts";
import type { Db } from "../../src/storage/db.ts";
import { accessTokens, authorizationCodes, jsonWebKeys, jtiRecords, refreshTokens, trustedJwtIssuers } from "../../src/storage/schema/index.ts";
import { insertTrustedIssuer } from "../../src/trust/store.ts";
import { testSecret } from "../helpers/server.ts";

export const minute = 60_000;
export const hour = 60 * minute;

export interface TokenRow {
  signature: string;
  requestedAt: Date;
  expiresAt: Date | undefined;
  requestId?: string;
}

function record(r: TokenRow) {
  return {
    signature: r.signature,
    requestId: r.requestId ?? `req-${r.signature}`,
    clientId: "janitor-client",
    subject: "someone",
    grantedScope: ["read"],
    grantedAudience: [],
    requestedAt: r.requestedAt,
    expiresAt: r.expiresAt,
    session: "{}",
  };
}

export async function addAccessToken(db: Db, r: TokenRow): Promise<void> {
  await insertAccessToken(db, record(r));
}

/** A refresh token; `active: false` with `usedAt` is a rotated one, without it a revoked one. */
export async function addRefreshToken(db: Db, r: TokenRow & { active?: boolean; usedAt?: Date }): Promise<void> {
  await insertRefreshToken(db, record(r));
  if (r.active === false || r.usedAt) {
    await db
      .update(refreshTokens)
      .set({ active: r.active ?? true, usedAt: r.usedAt ?? null })
      .where(eq(refreshTokens.signature, r.signature));
  }
}

export async function addCode(db: Db, r: TokenRow & { usedAt?: Date }): Promise<void> {
  await db.insert(authorizationCodes).values({ ...record(r), grantedScope: "read", expiresAt: r.expiresAt ?? null, usedAt: r.usedAt ?? null });
}

export async function addJti(db: Db, signature: string, expiresAt: Date): Promise<void> {
  await db.insert(jtiRecords).values({ signature, expiresAt });
}

export async function addTrust(db: Db, t: { id: string; issuer: string; subject: string; kid: string; expiresAt: Date; x?: string }): Promise<void> {
  // A fixed P-256 point: the janitor never verifies anything, only the rows matter.
  const jwk = {
    kty: "EC",
    crv: "P-256",
    kid: t.kid,
    alg: "ES256",
    use: "sig",
    x: t.x ?? "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  };
  await insertTrustedIssuer(
    db,
    [testSecret],
    {
      id: t.id,
      issuer: t.issuer,
      subject: t.subject,
      allowAnySubject: false,
      scope: ["read"],
      keySet: t.issuer,
      keyId: t.kid,
      createdAt: new Date(t.expiresAt.getTime() - 24 * hour),
      expiresAt: t.expiresAt,
    },
    jwk,
  );
}

/** Every row key of the cleaned tables, sorted, so a test compares whole sets. */
export async function remaining(db: Db) {
  const keys = async (q: Promise<{ k: string }[]>) => (await q).map((r) => r.k).sort();
  return {
    access: await keys(db.select({ k: accessTokens.signature }).from(accessTokens)),
    refresh: await keys(db.select({ k: refreshTokens.signature }).from(refreshTokens)),
    codes: await keys(db.select({ k: authorizationCodes.signature }).from(authorizationCodes)),
    jti: await keys(db.select({ k: jtiRecords.signature }).from(jtiRecords)),
    trust: await keys(db.select({ k: trustedJwtIssuers.id }).from(trustedJwtIssuers)),
    // The keys of trust relationships; a server's own sets (hydra.openid.id-token …) are not the janitor's.
    keys: await keys(
      db
        .select({ k: sql<string>`${jsonWebKeys.setId} || '/' || ${jsonWebKeys.kid}` })
        .from(jsonWebKeys)
        .where(notLike(jsonWebKeys.setId, "hydra.%")),
    ),
  };
}

/** Empties the cleaned tables between tests (each file has its own database), keeping a server's own key sets. */
export async function emptyTables(db: Db): Promise<void> {
  for (const t of [accessTokens, refreshTokens, authorizationCodes, jtiRecords, trustedJwtIssuers]) await db.delete(t);
  await db.delete(jsonWebKeys).where(notLike(jsonWebKeys.setId, "hydra.%"));
}
