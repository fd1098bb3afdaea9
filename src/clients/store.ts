/**
 * @module SQL for OAuth 2.0 clients (table oauth2_clients). Maps rows to StoredClient:
 * id, name, owner, secret hash and timestamps are columns; every other field lives in
 * `fields` (jsonb) under Hydra's JSON name.
 */
import { and, asc, count, eq, sql, type SQL } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import { GroupRead, textArrayLiteral } from "../storage/group-read.ts";
import { prepared } from "../storage/prepared.ts";
import { oauth2Clients } from "../storage/schema/clients.ts";
import {
  lifespanFields,
  type JsonWebKeySet,
  type Lifespans,
  type OAuth2Client,
  type StoredClient,
  type TokenEndpointAuthMethod,
} from "./types.ts";

type Row = typeof oauth2Clients.$inferSelect;

/** The jsonb document: what is not a column, by Hydra's JSON names. */
function fieldsOf(c: OAuth2Client): Record<string, unknown> {
  return {
    redirect_uris: c.redirectUris,
    grant_types: c.grantTypes,
    response_types: c.responseTypes,
    scope: c.scope,
    audience: c.audience,
    policy_uri: c.policyUri,
    allowed_cors_origins: c.allowedCorsOrigins,
    tos_uri: c.tosUri,
    client_uri: c.clientUri,
    logo_uri: c.logoUri,
    contacts: c.contacts,
    subject_type: c.subjectType,
    sector_identifier_uri: c.sectorIdentifierUri,
    jwks_uri: c.jwksUri,
    jwks: c.jwks ?? null,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    token_endpoint_auth_signing_alg: c.tokenEndpointAuthSigningAlg,
    request_uris: c.requestUris,
    request_object_signing_alg: c.requestObjectSigningAlg,
    userinfo_signed_response_alg: c.userinfoSignedResponseAlg,
    frontchannel_logout_uri: c.frontchannelLogoutUri,
    frontchannel_logout_session_required: c.frontchannelLogoutSessionRequired,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    backchannel_logout_uri: c.backchannelLogoutUri,
    backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
    metadata: c.metadata,
    ...c.lifespans,
  };
}

/**
 * A row as a client (also for stores that read a client together with another row). Lists
 * read back as [] even when written as null, as Hydra's pipe-delimited columns do (its GET
 * shows "grant_types": [] where the create echo showed null).
 */
export function toClient(row: Row): StoredClient {
  const f = (row.fields ?? {}) as Record<string, unknown>;
  const str = (k: string, d = "") => (typeof f[k] === "string" ? (f[k] as string) : d);
  const strs = (k: string) => (Array.isArray(f[k]) ? (f[k] as string[]) : []);
  const bool = (k: string) => f[k] === true;
  const jwks = f.jwks as JsonWebKeySet | null | undefined;
  // Filled in one pass (not emptyLifespans() then overwritten): every request reads a client.
  const lifespans = {} as Lifespans;
  for (const field of lifespanFields) lifespans[field] = typeof f[field] === "string" ? (f[field] as string) : null;
  return {
    clientId: row.id,
    clientName: row.clientName,
    redirectUris: strs("redirect_uris"),
    grantTypes: strs("grant_types"),
    responseTypes: strs("response_types"),
    scope: str("scope"),
    audience: strs("audience"),
    owner: row.owner,
    policyUri: str("policy_uri"),
    allowedCorsOrigins: strs("allowed_cors_origins"),
    tosUri: str("tos_uri"),
    clientUri: str("client_uri"),
    logoUri: str("logo_uri"),
    contacts: strs("contacts"),
    subjectType: str("subject_type", "public"),
    sectorIdentifierUri: str("sector_identifier_uri"),
    jwksUri: str("jwks_uri"),
    jwks: jwks && Array.isArray(jwks.keys) && jwks.keys.length > 0 ? jwks : undefined,
    tokenEndpointAuthMethod: str("token_endpoint_auth_method", "client_secret_basic") as TokenEndpointAuthMethod,
    tokenEndpointAuthSigningAlg: str("token_endpoint_auth_signing_alg"),
    requestUris: strs("request_uris"),
    requestObjectSigningAlg: str("request_object_signing_alg"),
    userinfoSignedResponseAlg: str("userinfo_signed_response_alg", "none"),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    frontchannelLogoutUri: str("frontchannel_logout_uri"),
    frontchannelLogoutSessionRequired: bool("frontchannel_logout_session_required"),
    postLogoutRedirectUris: strs("post_logout_redirect_uris"),
    backchannelLogoutUri: str("backchannel_logout_uri"),
    backchannelLogoutSessionRequired: bool("backchannel_logout_session_required"),
    metadata: typeof f.metadata === "object" && f.metadata !== null && !Array.isArray(f.metadata) ? (f.metadata as Record<string, unknown>) : {},
    lifespans,
    secretHash: row.secretHash,
  };
}

/**
 * Inserts a client; false when the id is taken (the caller answers 409). A dynamically
 * registered client also gets the HMAC signature of its registration access token (RFC 7592).
 */
export async function insertClient(db: Db, client: OAuth2Client, secretHash: string | null, registrationTokenSignature: string | null = null): Promise<boolean> {
  const rows = await db
    .insert(oauth2Clients)
    .values({
      id: client.clientId,
      clientName: client.clientName,
      owner: client.owner,
      secretHash,
      registrationTokenSignature,
      fields: fieldsOf(client),
      createdAt: client.createdAt,
      updatedAt: client.updatedAt,
    })
    .onConflictDoNothing({ target: oauth2Clients.id })
    .returning({ id: oauth2Clients.id });
  return rows.length === 1;
}

/** PostgreSQL text cannot hold NUL (the driver fails the query): a value with one matches no row. */
function unstorable(...values: (string | undefined)[]): boolean {
  return values.some((v) => v !== undefined && v.includes("\0"));
}

// Built once per process (storage/prepared.ts): every token request reads its client.
const clientById = (db: Db) =>
  prepared(db, "client_by_id", (d) =>
    d.select().from(oauth2Clients).where(eq(oauth2Clients.id, sql.placeholder("id"))).limit(1).prepare("client_by_id"),
  );

export async function getClient(db: Db, id: string): Promise<StoredClient | undefined> {
  if (unstorable(id)) return undefined;
  const [row] = await clientById(db).execute({ id });
  return row ? toClient(row) : undefined;
}

/** Clients by id, many in one statement (the group read below). */
const clientsByIds = (db: Db) =>
  prepared(db, "clients_by_ids", (d) =>
    d
      .select()
      .from(oauth2Clients)
      .where(sql`${oauth2Clients.id} = any(${sql.placeholder("ids")}::text::text[])`)
      .prepare("clients_by_ids"),
  );

/** Keys per statement and statements at once (each holds a pool connection), as the token group commit. */
export const clientGroupRead = { maxBatch: 64, maxInFlight: 2 };

const clientReads = new WeakMap<Db, GroupRead<string, Row>>();

/** The group read of clients by id on `db` (the pool, never a transaction). */
export function clientRead(db: Db): GroupRead<string, Row> {
  let group = clientReads.get(db);
  if (!group) {
    group = new GroupRead<string, Row>({
      readMany: (ids) => clientsByIds(db).execute({ ids: textArrayLiteral(ids) }),
      readOne: async (id) => (await clientById(db).execute({ id }))[0],
      keyOf: (row) => row.id,
      ...clientGroupRead,
    });
    clientReads.set(db, group);
  }
  return group;
}

/**
 * getClient on the pool (never a transaction: it would not see the transaction's own writes),
 * sharing one statement with the reads of concurrent requests (every token request reads its
 * client; storage/group-read.ts). Sees at least what was committed before it was called.
 */
export async function getClientGrouped(db: Db, id: string): Promise<StoredClient | undefined> {
  if (unstorable(id)) return undefined;
  const row = await clientRead(db).read(id);
  return row ? toClient(row) : undefined;
}

/** A client with the signature of its registration access token (null: none issued, e.g. admin-created). */
export async function getClientRegistration(db: Db, id: string): Promise<{ client: StoredClient; registrationTokenSignature: string | null } | undefined> {
  if (unstorable(id)) return undefined;
  const [row] = await clientById(db).execute({ id });
  return row ? { client: toClient(row), registrationTokenSignature: row.registrationTokenSignature } : undefined;
}

export interface ClientFilter {
  limit: number;
  offset: number;
  /** Exact match, as Hydra's `client_name = ?`; "" = no filter. */
  clientName?: string;
  owner?: string;
}

/** One page of clients ordered by id (byte order, the same on PostgreSQL and PGlite) and the filtered total. */
export async function listClients(db: Db, filter: ClientFilter): Promise<{ clients: StoredClient[]; total: number }> {
  if (unstorable(filter.clientName, filter.owner)) return { clients: [], total: 0 };
  const byName = Boolean(filter.clientName);
  const byOwner = Boolean(filter.owner);
  const values = { limit: filter.limit, offset: filter.offset, clientName: filter.clientName, owner: filter.owner };
  // Two statements, two pool connections: the page and the total at the same time.
  const [rows, [counted]] = await Promise.all([clientPage(db, byName, byOwner).execute(values), clientCount(db, byName, byOwner).execute(values)]);
  return { clients: rows.map(toClient), total: Number(counted?.n ?? 0) };
}

/** The filter of a client listing: one prepared text per combination of filters. */
function clientFilter(byName: boolean, byOwner: boolean): SQL | undefined {
  const conditions: SQL[] = [];
  if (byName) conditions.push(eq(oauth2Clients.clientName, sql.placeholder("clientName")));
  if (byOwner) conditions.push(eq(oauth2Clients.owner, sql.placeholder("owner")));
  return conditions.length > 0 ? and(...conditions) : undefined;
}

const clientPage = (db: Db, byName: boolean, byOwner: boolean) => {
  const name = `client_page_${Number(byName)}${Number(byOwner)}`;
  return prepared(db, name, (d) =>
    d
      .select()
      .from(oauth2Clients)
      .where(clientFilter(byName, byOwner))
      .orderBy(asc(sql`${oauth2Clients.id} collate "C"`))
      .limit(sql.placeholder("limit"))
      .offset(sql.placeholder("offset"))
      .prepare(name),
  );
};

const clientCount = (db: Db, byName: boolean, byOwner: boolean) => {
  const name = `client_count_${Number(byName)}${Number(byOwner)}`;
  return prepared(db, name, (d) => d.select({ n: count() }).from(oauth2Clients).where(clientFilter(byName, byOwner)).prepare(name));
};

/** What an update does to the stored secret hash. */
export type SecretChange = { kind: "keep" } | { kind: "set"; hash: string } | { kind: "clear" };

/** Rotation of a registration access token: applied only if the stored signature is still `expected`. */
export interface RegistrationTokenRotation {
  expected: string;
  next: string;
}

/**
 * Replaces every field but id and created_at. With "keep" the hash column is not written,
 * so a concurrent secret change is not overwritten. undefined when the client is gone, or,
 * with `rotation`, when its registration token is no longer `expected`: of two updates
 * presenting the same token only one wins (compare-and-swap in one statement).
 */
export async function updateClient(db: Db, client: OAuth2Client, secret: SecretChange, rotation?: RegistrationTokenRotation): Promise<StoredClient | undefined> {
  const rows = await db
    .update(oauth2Clients)
    .set({
      clientName: client.clientName,
      owner: client.owner,
      fields: fieldsOf(client),
      updatedAt: client.updatedAt,
      ...(secret.kind === "set" ? { secretHash: secret.hash } : secret.kind === "clear" ? { secretHash: null } : {}),
      ...(rotation ? { registrationTokenSignature: rotation.next } : {}),
    })
    .where(
      rotation
        ? and(eq(oauth2Clients.id, client.clientId), eq(oauth2Clients.registrationTokenSignature, rotation.expected))
        : eq(oauth2Clients.id, client.clientId),
    )
    .returning();
  return rows[0] ? toClient(rows[0]) : undefined;
}

/** Deletes a client; false when there was none. Takes a transaction so dependents can go with it. */
export async function deleteClient(db: Db, id: string): Promise<boolean> {
  if (unstorable(id)) return false;
  const rows = await db.delete(oauth2Clients).where(eq(oauth2Clients.id, id)).returning({ id: oauth2Clients.id });
  return rows.length === 1;
}
