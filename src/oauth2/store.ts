/**
 * @module SQL of issued tokens (tables oauth2_access_tokens, oauth2_refresh_tokens, and
 * oauth2_authorization_codes for cleanup). Rows are keyed by a signature, never by the token;
 * `request_id` groups what one grant issued, so revocation takes the whole grant.
 * The session column is opaque here (sealed or plain JSON): oauth2/tokens.ts encodes it.
 */
import { and, eq, isNotNull, isNull, or, sql } from "drizzle-orm";
import { toClient } from "../clients/store.ts";
import type { StoredClient } from "../clients/types.ts";
import { isDatabaseUnavailable, type Db } from "../storage/db.ts";
import { GroupCommit } from "../storage/group-commit.ts";
import { GroupRead, textArrayLiteral } from "../storage/group-read.ts";
import { prepared, preparedSql } from "../storage/prepared.ts";
import { accessTokens, authorizationCodes, oauth2Clients, refreshTokens } from "../storage/schema/index.ts";

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

const p = sql.placeholder;

/** Placeholder values of a token row; dates as ISO text, cast in SQL (postgres-js needs text, not a Date). */
function rowValues(r: TokenRecord) {
  return {
    signature: r.signature,
    requestId: r.requestId,
    clientId: r.clientId,
    subject: r.subject,
    grantedScope: r.grantedScope.join(" "),
    grantedAudience: r.grantedAudience,
    requestedAt: r.requestedAt.toISOString(),
    expiresAt: r.expiresAt?.toISOString() ?? null,
    session: r.session,
  };
}

/** The columns of a token row as placeholders (nullable dates through a cast: drizzle maps a null Date param to a crash). */
const rowPlaceholders = {
  signature: p("signature"),
  requestId: p("requestId"),
  clientId: p("clientId"),
  subject: p("subject"),
  grantedScope: p("grantedScope"),
  grantedAudience: p("grantedAudience"),
  requestedAt: sql`${p("requestedAt")}::timestamptz`,
  expiresAt: sql`${p("expiresAt")}::timestamptz`,
  session: p("session"),
};

// The hot token queries, built once (storage/prepared.ts) and run on the pool or a transaction.
const insertAccessQuery = (db: Db) =>
  prepared(db, "insert_access_token", (d) => d.insert(accessTokens).values(rowPlaceholders).prepare("insert_access_token"));
const insertRefreshQuery = (db: Db) =>
  prepared(db, "insert_refresh_token", (d) =>
    d
      .insert(refreshTokens)
      .values({ ...rowPlaceholders, active: true })
      .prepare("insert_refresh_token"),
  );
const accessBySignature = (db: Db) =>
  prepared(db, "access_token_by_signature", (d) =>
    d.select().from(accessTokens).where(eq(accessTokens.signature, p("signature"))).limit(1).prepare("access_token_by_signature"),
  );
const refreshBySignature = (db: Db) =>
  prepared(db, "refresh_token_by_signature", (d) =>
    d.select().from(refreshTokens).where(eq(refreshTokens.signature, p("signature"))).limit(1).prepare("refresh_token_by_signature"),
  );

/** Inserts one access token row with `db` (the pool, or the grant's transaction). */
export async function insertAccessToken(db: Db, record: TokenRecord): Promise<void> {
  await insertAccessQuery(db).execute(rowValues(record));
}

/**
 * Several access token rows in ONE statement (one round trip, one commit): the rows travel as
 * one JSON document, so the statement text is the same for any number of rows.
 */
export async function insertAccessTokens(db: Db, records: readonly TokenRecord[]): Promise<void> {
  const rows = records.map((r) => ({
    signature: r.signature,
    request_id: r.requestId,
    client_id: r.clientId,
    subject: r.subject,
    granted_scope: r.grantedScope.join(" "),
    granted_audience: r.grantedAudience,
    requested_at: r.requestedAt.toISOString(),
    expires_at: r.expiresAt?.toISOString() ?? null,
    session: r.session,
  }));
  await insertAccessBatchQuery(db).execute({ rows: JSON.stringify(rows) });
}

// INSERT … SELECT takes the table's columns in their declared order.
const insertAccessBatchQuery = (db: Db) =>
  prepared(db, "insert_access_tokens_batch", (d) =>
    d
      .insert(accessTokens)
      .select(
        sql`select r.signature, r.request_id, r.client_id, r.subject, r.granted_scope, r.granted_audience, r.requested_at, r.expires_at, r.session
          from jsonb_to_recordset(${p("rows")}::text::jsonb) as r(signature text, request_id text, client_id text, subject text,
            granted_scope text, granted_audience jsonb, requested_at timestamptz, expires_at timestamptz, session text)`,
      )
      .prepare("insert_access_tokens_batch"),
  );

/** Rows of one statement at most, and statements at once (each holds a pool connection). */
export const accessTokenGroupCommit = { maxBatch: 64, maxInFlight: 2 };

const groupCommits = new WeakMap<Db, GroupCommit<TokenRecord>>();

/** The group commit of access token rows written with `db` (the pool, never a transaction). */
export function accessTokenGroup(db: Db): GroupCommit<TokenRecord> {
  let group = groupCommits.get(db);
  if (!group) {
    group = new GroupCommit<TokenRecord>({
      writeMany: (records) => insertAccessTokens(db, records),
      writeOne: (record) => insertAccessToken(db, record),
      isUnavailable: isDatabaseUnavailable,
      ...accessTokenGroupCommit,
    });
    groupCommits.set(db, group);
  }
  return group;
}

/**
 * Inserts one access token row outside any transaction, sharing the INSERT (and its commit)
 * with the rows of concurrent requests; resolves once this row is committed.
 */
export function insertAccessTokenGrouped(db: Db, record: TokenRecord): Promise<void> {
  return accessTokenGroup(db).write(record);
}

export async function insertRefreshToken(db: Db, record: TokenRecord): Promise<void> {
  await insertRefreshQuery(db).execute(rowValues(record));
}

export async function getAccessToken(db: Db, signature: string): Promise<TokenRecord | undefined> {
  const [row] = await accessBySignature(db).execute({ signature });
  return row ? toRecord(row) : undefined;
}

/** An access token and its client by signature (the group read's one-key statement). */
const accessWithClientBySignature = (db: Db) =>
  prepared(db, "access_token_with_client_by_signature", (d) =>
    d
      .select({ token: accessTokens, client: oauth2Clients })
      .from(accessTokens)
      .leftJoin(oauth2Clients, eq(oauth2Clients.id, accessTokens.clientId))
      .where(eq(accessTokens.signature, p("signature")))
      .limit(1)
      .prepare("access_token_with_client_by_signature"),
  );

/** Access tokens (alone, and with their client) by signature, many in one statement (the group reads below). */
const accessBySignatures = (db: Db) =>
  prepared(db, "access_tokens_by_signatures", (d) =>
    d
      .select()
      .from(accessTokens)
      .where(sql`${accessTokens.signature} = any(${p("signatures")}::text::text[])`)
      .prepare("access_tokens_by_signatures"),
  );
const accessWithClientBySignatures = (db: Db) =>
  prepared(db, "access_tokens_with_client_by_signatures", (d) =>
    d
      .select({ token: accessTokens, client: oauth2Clients })
      .from(accessTokens)
      .leftJoin(oauth2Clients, eq(oauth2Clients.id, accessTokens.clientId))
      .where(sql`${accessTokens.signature} = any(${p("signatures")}::text::text[])`)
      .prepare("access_tokens_with_client_by_signatures"),
  );

type AccessWithClientRow = { token: AccessRow; client: typeof oauth2Clients.$inferSelect | null };

/** Keys per statement and statements at once (each holds a pool connection), as the group commit. */
export const accessTokenGroupRead = { maxBatch: 64, maxInFlight: 2 };

const accessReads = new WeakMap<Db, GroupRead<string, AccessRow>>();
const accessWithClientReads = new WeakMap<Db, GroupRead<string, AccessWithClientRow>>();

/** The group read of access tokens by signature on `db` (the pool, never a transaction). */
export function accessTokenRead(db: Db): GroupRead<string, AccessRow> {
  let group = accessReads.get(db);
  if (!group) {
    group = new GroupRead<string, AccessRow>({
      readMany: (signatures) => accessBySignatures(db).execute({ signatures: textArrayLiteral(signatures) }),
      readOne: async (signature) => (await accessBySignature(db).execute({ signature }))[0],
      keyOf: (row) => row.signature,
      ...accessTokenGroupRead,
    });
    accessReads.set(db, group);
  }
  return group;
}

/** The group read of access tokens with their client by signature on `db` (the pool, never a transaction). */
export function accessTokenWithClientRead(db: Db): GroupRead<string, AccessWithClientRow> {
  let group = accessWithClientReads.get(db);
  if (!group) {
    group = new GroupRead<string, AccessWithClientRow>({
      readMany: (signatures) => accessWithClientBySignatures(db).execute({ signatures: textArrayLiteral(signatures) }),
      readOne: async (signature) => (await accessWithClientBySignature(db).execute({ signature }))[0],
      keyOf: (row) => row.token.signature,
      ...accessTokenGroupRead,
    });
    accessWithClientReads.set(db, group);
  }
  return group;
}

/** PostgreSQL text cannot hold NUL (the driver fails the statement, and with it a whole batch): no row has one. */
function unstorable(key: string): boolean {
  return key.includes("\0");
}

/**
 * getAccessToken on the pool (never a transaction), sharing one statement with the reads of
 * concurrent requests (introspection; storage/group-read.ts). Sees at least what was committed
 * before it was called.
 */
export async function getAccessTokenGrouped(db: Db, signature: string): Promise<TokenRecord | undefined> {
  if (unstorable(signature)) return undefined;
  const row = await accessTokenRead(db).read(signature);
  return row ? toRecord(row) : undefined;
}

/**
 * An access token and its client in one round trip (userinfo needs both; `client` is undefined
 * when the client is gone), on the pool, grouped as getAccessTokenGrouped.
 */
export async function getAccessTokenWithClientGrouped(db: Db, signature: string): Promise<{ record: TokenRecord; client: StoredClient | undefined } | undefined> {
  if (unstorable(signature)) return undefined;
  const row = await accessTokenWithClientRead(db).read(signature);
  return row ? { record: toRecord(row.token), client: row.client ? toClient(row.client) : undefined } : undefined;
}

export async function getRefreshToken(db: Db, signature: string): Promise<RefreshTokenRecord | undefined> {
  const [row] = await refreshBySignature(db).execute({ signature });
  return row ? toRefreshRecord(row) : undefined;
}

const refreshBySignatures = (db: Db) =>
  prepared(db, "refresh_tokens_by_signatures", (d) =>
    d
      .select()
      .from(refreshTokens)
      .where(sql`${refreshTokens.signature} = any(${p("signatures")}::text::text[])`)
      .prepare("refresh_tokens_by_signatures"),
  );

const refreshReads = new WeakMap<Db, GroupRead<string, RefreshRow>>();

/** The group read of refresh tokens by signature on `db` (the pool, never a transaction). */
export function refreshTokenRead(db: Db): GroupRead<string, RefreshRow> {
  let group = refreshReads.get(db);
  if (!group) {
    group = new GroupRead<string, RefreshRow>({
      readMany: (signatures) => refreshBySignatures(db).execute({ signatures: textArrayLiteral(signatures) }),
      readOne: async (signature) => (await refreshBySignature(db).execute({ signature }))[0],
      keyOf: (row) => row.signature,
      ...accessTokenGroupRead,
    });
    refreshReads.set(db, group);
  }
  return group;
}

/**
 * getRefreshToken on the pool (never a transaction), sharing one statement with the reads of
 * concurrent refreshes. Sees at least what was committed before it was called; a rotation
 * still claims the token with its own conditional UPDATE, so the read only routes the request.
 */
export async function getRefreshTokenGrouped(db: Db, signature: string): Promise<RefreshTokenRecord | undefined> {
  if (unstorable(signature)) return undefined;
  const row = await refreshTokenRead(db).read(signature);
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
  const rows = await deleteAccessOfGrantQuery(db).execute({ requestId, clientId });
  return rows.length;
}

const deleteAccessOfGrantQuery = (db: Db) =>
  prepared(db, "delete_access_tokens_of_grant", (d) =>
    d
      .delete(accessTokens)
      .where(and(eq(accessTokens.requestId, p("requestId")), eq(accessTokens.clientId, p("clientId"))))
      .returning({ signature: accessTokens.signature })
      .prepare("delete_access_tokens_of_grant"),
  );

/**
 * Claims a refresh token for rotation: one conditional UPDATE that succeeds for exactly one
 * caller, and only while the token is active, unused, unexpired and the client's. Everyone
 * else (a concurrent refresh, a replay) gets undefined; on PostgreSQL a concurrent caller
 * waits for the winner's transaction and then finds the row spent.
 */
export async function claimRefreshToken(db: Db, signature: string, clientId: string, now: Date): Promise<RefreshTokenRecord | undefined> {
  const rows = await claimRefreshQuery(db).execute({ signature, clientId, now: now.toISOString() });
  return rows[0] ? toRefreshRecord(rows[0]) : undefined;
}

const claimRefreshQuery = (db: Db) =>
  prepared(db, "claim_refresh_token", (d) => {
    const now = sql`${p("now")}::timestamptz`;
    return d
      .update(refreshTokens)
      .set({ active: false, usedAt: now })
      .where(
        and(
          eq(refreshTokens.signature, p("signature")),
          eq(refreshTokens.clientId, p("clientId")),
          eq(refreshTokens.active, true),
          isNull(refreshTokens.usedAt),
          or(isNull(refreshTokens.expiresAt), sql`${refreshTokens.expiresAt} > ${now}`),
        ),
      )
      .returning()
      .prepare("claim_refresh_token");
  });

/**
 * A whole refresh-token rotation in ONE statement (atomic on its own: one round trip, one
 * commit, no transaction held open): claims the presented token as claimRefreshToken does,
 * deletes its grant's access tokens (RFC 6749 §6) and writes the new access and refresh rows.
 * The new rows take the grant's request id, client, subject and audience from the claimed row;
 * nothing is written unless the claim succeeds. True when it did. The new access token is not
 * among the deleted: every part of one statement sees the same snapshot.
 */
export async function rotateRefreshToken(
  db: Db,
  input: { signature: string; clientId: string; now: Date; access: TokenRecord; refresh: TokenRecord },
): Promise<boolean> {
  const { access, refresh } = input;
  const rows = await rotateQuery(db).execute({
    signature: input.signature,
    clientId: input.clientId,
    now: input.now.toISOString(),
    accessSignature: access.signature,
    accessScope: access.grantedScope.join(" "),
    accessRequestedAt: access.requestedAt.toISOString(),
    accessExpiresAt: access.expiresAt?.toISOString() ?? null,
    accessSession: access.session,
    refreshSignature: refresh.signature,
    refreshScope: refresh.grantedScope.join(" "),
    refreshRequestedAt: refresh.requestedAt.toISOString(),
    refreshExpiresAt: refresh.expiresAt?.toISOString() ?? null,
    refreshSession: refresh.session,
  });
  return Number(rows[0]?.claimed ?? 0) === 1;
}

const rotateQuery = (db: Db) =>
  preparedSql(
    db,
    "rotate_refresh_token",
    () => sql`with claimed as (
        update oauth2_refresh_tokens set active = false, used_at = ${p("now")}::timestamptz
        where signature = ${p("signature")}::text and client_id = ${p("clientId")}::text and active and used_at is null
          and (expires_at is null or expires_at > ${p("now")}::timestamptz)
        returning request_id, client_id, subject, granted_audience
      ), dropped as (
        delete from oauth2_access_tokens a using claimed c where a.request_id = c.request_id and a.client_id = c.client_id
      ), new_access as (
        insert into oauth2_access_tokens (signature, request_id, client_id, subject, granted_scope, granted_audience, requested_at, expires_at, session)
        select ${p("accessSignature")}::text, c.request_id, c.client_id, c.subject, ${p("accessScope")}::text, c.granted_audience,
          ${p("accessRequestedAt")}::timestamptz, ${p("accessExpiresAt")}::timestamptz, ${p("accessSession")}::text
        from claimed c
      ), new_refresh as (
        insert into oauth2_refresh_tokens (signature, request_id, client_id, subject, granted_scope, granted_audience, requested_at, expires_at, session, active)
        select ${p("refreshSignature")}::text, c.request_id, c.client_id, c.subject, ${p("refreshScope")}::text, c.granted_audience,
          ${p("refreshRequestedAt")}::timestamptz, ${p("refreshExpiresAt")}::timestamptz, ${p("refreshSession")}::text, true
        from claimed c
      )
      select count(*)::int as claimed from claimed`,
  );

/** One rotation of a group (rotateRefreshTokenGrouped); `claimed` is set once its statement ran. */
interface GroupedRotation {
  input: { signature: string; clientId: string; now: Date; access: TokenRecord; refresh: TokenRecord };
  claimed?: boolean;
}

/** Rotations per statement at most, and statements at once (each holds a pool connection). */
export const refreshRotationGroupCommit = { maxBatch: 64, maxInFlight: 2 };

const rotationGroups = new WeakMap<Db, GroupCommit<GroupedRotation>>();

function rotationGroup(db: Db): GroupCommit<GroupedRotation> {
  let group = rotationGroups.get(db);
  if (!group) {
    group = new GroupCommit<GroupedRotation>({
      writeMany: async (rotations) => {
        const rows = await rotateBatchQuery(db).execute({ rows: JSON.stringify(rotations.map((r) => rotationRow(r.input))) });
        const won = new Set(rows.map((row) => row.access_signature));
        for (const r of rotations) r.claimed = won.has(r.input.access.signature);
      },
      writeOne: async (r) => {
        r.claimed = await rotateRefreshToken(db, r.input);
      },
      isUnavailable: isDatabaseUnavailable,
      ...refreshRotationGroupCommit,
    });
    rotationGroups.set(db, group);
  }
  return group;
}

function rotationRow(input: GroupedRotation["input"]) {
  const { access, refresh } = input;
  return {
    signature: input.signature,
    client_id: input.clientId,
    now: input.now.toISOString(),
    access_signature: access.signature,
    access_scope: access.grantedScope.join(" "),
    access_requested_at: access.requestedAt.toISOString(),
    access_expires_at: access.expiresAt?.toISOString() ?? null,
    access_session: access.session,
    refresh_signature: refresh.signature,
    refresh_scope: refresh.grantedScope.join(" "),
    refresh_requested_at: refresh.requestedAt.toISOString(),
    refresh_expires_at: refresh.expiresAt?.toISOString() ?? null,
    refresh_session: refresh.session,
  };
}

/**
 * rotateRefreshToken on the pool (never a transaction), sharing ONE statement (one round trip,
 * one commit) with the rotations of concurrent refreshes (storage/group-commit.ts). Each claim
 * is still its own conditional UPDATE of its row; two rotations of the same token in one
 * statement update it once, and only the one whose pair was written is told it won. A batch
 * that fails is retried rotation by rotation (nothing of it was written).
 */
export async function rotateRefreshTokenGrouped(db: Db, input: GroupedRotation["input"]): Promise<boolean> {
  const rotation: GroupedRotation = { input };
  await rotationGroup(db).write(rotation);
  return rotation.claimed === true;
}

// rotateQuery for many rotations: the claimed rows carry their own new pair (RETURNING of an
// UPDATE … FROM gives the input row that updated it).
const rotateBatchQuery = (db: Db) =>
  preparedSql(
    db,
    "rotate_refresh_tokens_batch",
    () => sql`with input as (
        select * from jsonb_to_recordset(${p("rows")}::text::jsonb) as r(signature text, client_id text, now timestamptz,
          access_signature text, access_scope text, access_requested_at timestamptz, access_expires_at timestamptz, access_session text,
          refresh_signature text, refresh_scope text, refresh_requested_at timestamptz, refresh_expires_at timestamptz, refresh_session text)
      ), claimed as (
        update oauth2_refresh_tokens t set active = false, used_at = i.now
        from input i
        where t.signature = i.signature and t.client_id = i.client_id and t.active and t.used_at is null
          and (t.expires_at is null or t.expires_at > i.now)
        returning t.request_id, t.client_id, t.subject, t.granted_audience, i.access_signature, i.access_scope, i.access_requested_at,
          i.access_expires_at, i.access_session, i.refresh_signature, i.refresh_scope, i.refresh_requested_at, i.refresh_expires_at, i.refresh_session
      ), dropped as (
        delete from oauth2_access_tokens a using claimed c where a.request_id = c.request_id and a.client_id = c.client_id
      ), new_access as (
        insert into oauth2_access_tokens (signature, request_id, client_id, subject, granted_scope, granted_audience, requested_at, expires_at, session)
        select c.access_signature, c.request_id, c.client_id, c.subject, c.access_scope, c.granted_audience, c.access_requested_at, c.access_expires_at, c.access_session
        from claimed c
      ), new_refresh as (
        insert into oauth2_refresh_tokens (signature, request_id, client_id, subject, granted_scope, granted_audience, requested_at, expires_at, session, active)
        select c.refresh_signature, c.request_id, c.client_id, c.subject, c.refresh_scope, c.granted_audience, c.refresh_requested_at,
          c.refresh_expires_at, c.refresh_session, true
        from claimed c
      )
      select access_signature from claimed`,
  );

/** Placeholder values `<prefix>Signature` … `<prefix>Session` of a row for insertIssuedRow (all null without a row). */
export function issuedRowParams(prefix: string, row: TokenRecord | undefined): Record<string, string | null> {
  return {
    [`${prefix}Signature`]: row?.signature ?? null,
    [`${prefix}RequestId`]: row?.requestId ?? null,
    [`${prefix}ClientId`]: row?.clientId ?? null,
    [`${prefix}Subject`]: row?.subject ?? null,
    [`${prefix}Scope`]: row ? row.grantedScope.join(" ") : null,
    [`${prefix}Audience`]: row ? JSON.stringify(row.grantedAudience) : null,
    [`${prefix}RequestedAt`]: row ? row.requestedAt.toISOString() : null,
    [`${prefix}ExpiresAt`]: row?.expiresAt?.toISOString() ?? null,
    [`${prefix}Session`]: row?.session ?? null,
  };
}

/**
 * A data-modifying CTE body: INSERT … SELECT of the row given as issuedRowParams(`prefix`)
 * into `table` (access tokens, refresh tokens or codes), only when the claim CTE `claim`
 * returned a row and a row was given.
 */
export function insertIssuedRow(table: "oauth2_access_tokens" | "oauth2_refresh_tokens" | "oauth2_authorization_codes", prefix: string, claim: string) {
  return sql`insert into ${sql.raw(table)} (signature, request_id, client_id, subject, granted_scope, granted_audience, requested_at, expires_at, session)
    select ${p(`${prefix}Signature`)}::text, ${p(`${prefix}RequestId`)}::text, ${p(`${prefix}ClientId`)}::text, ${p(`${prefix}Subject`)}::text,
      ${p(`${prefix}Scope`)}::text, ${p(`${prefix}Audience`)}::text::jsonb, ${p(`${prefix}RequestedAt`)}::timestamptz,
      ${p(`${prefix}ExpiresAt`)}::timestamptz, ${p(`${prefix}Session`)}::text
    from ${sql.raw(claim)} where ${p(`${prefix}Signature`)}::text is not null`;
}

/**
 * A code redemption in ONE statement (atomic on its own: one round trip, one commit): claims
 * the code (unused, unexpired, this client's; the caller read it and checked redirect_uri and
 * PKCE first) and writes the access token and, when given, the refresh token, only if the
 * claim succeeds. False when it did not (used meanwhile, expired, deleted): the caller reads
 * the code again to tell which. On PostgreSQL a concurrent redemption waits for the winner's
 * row lock, then finds the code spent.
 */
export async function spendAuthorizationCode(
  db: Db,
  input: { signature: string; clientId: string; now: Date; access: TokenRecord; refresh: TokenRecord | undefined },
): Promise<boolean> {
  const rows = await spendCodeQuery(db).execute({
    signature: input.signature,
    clientId: input.clientId,
    now: input.now.toISOString(),
    ...issuedRowParams("access", input.access),
    ...issuedRowParams("refresh", input.refresh),
  });
  return Number(rows[0]?.spent ?? 0) === 1;
}

// Refresh tokens start active (the column's default).
const spendCodeQuery = (db: Db) =>
  preparedSql(
    db,
    "spend_authorization_code",
    () => sql`with spent as (
        update oauth2_authorization_codes set used_at = ${p("now")}::timestamptz
        where signature = ${p("signature")}::text and client_id = ${p("clientId")}::text and used_at is null
          and expires_at > ${p("now")}::timestamptz
        returning signature
      ), new_access as (${insertIssuedRow("oauth2_access_tokens", "access", "spent")}
      ), new_refresh as (${insertIssuedRow("oauth2_refresh_tokens", "refresh", "spent")}
      )
      select count(*)::int as spent from spent`,
  );

/**
 * Keeps the pair a rotation issued with the rotated token (sealed), for the grace period, and
 * drops the pairs of the grant's earlier rotations: their successors are spent now.
 */
export async function keepRotatedPair(db: Db, signature: string, requestId: string, sealedPair: string): Promise<void> {
  await dropPairsOfGrantQuery(db).execute({ requestId });
  await setRotatedPairQuery(db).execute({ signature, sealedPair });
}

const dropPairsOfGrantQuery = (db: Db) =>
  prepared(db, "drop_rotated_pairs_of_grant", (d) =>
    d
      .update(refreshTokens)
      .set({ rotatedPair: null })
      .where(and(eq(refreshTokens.requestId, p("requestId")), isNotNull(refreshTokens.rotatedPair)))
      .prepare("drop_rotated_pairs_of_grant"),
  );
const setRotatedPairQuery = (db: Db) =>
  prepared(db, "set_rotated_pair", (d) =>
    d
      .update(refreshTokens)
      .set({ rotatedPair: sql`${p("sealedPair")}` })
      .where(eq(refreshTokens.signature, p("signature")))
      .prepare("set_rotated_pair"),
  );

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
