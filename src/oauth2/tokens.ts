/**
 * @module Access tokens: issuance for every grant (opaque or RFC 9068 JWT, per
 * strategies.access_token), the session stored with them (sealed at rest), and the lookup
 * of a presented token for introspection and revocation. Rows are written only through
 * oauth2/store.ts and keyed by a signature: the HMAC of an opaque token, or
 * hex(SHA-384(signature part)) of a JWT (Hydra's key), so a database dump holds no token.
 */
import { createHash, randomUUID } from "node:crypto";
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JWTPayload } from "jose";
import { effectiveLifespanMs, type LifespanGrant } from "../clients/lifespans.ts";
import type { OAuth2Client } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { seal, unseal } from "../lib/crypto.ts";
import { signJwt } from "../keys/jws.ts";
import { signingKey, type SigningKey } from "../keys/signing.ts";
import { publishedKeys } from "../keys/store.ts";
import { accessTokenSet } from "../keys/types.ts";
import type { Jwk } from "../keys/types.ts";
import type { Db } from "../storage/db.ts";
import type { TokenResponse } from "./grants/types.ts";
import { generateOpaqueToken, opaqueTokenSignature } from "./opaque-token.ts";
import type { StoredClient } from "../clients/types.ts";
import {
  getAccessTokenGrouped,
  getAccessTokenWithClientGrouped,
  getRefreshToken,
  insertAccessToken,
  insertAccessTokenGrouped,
  insertRefreshToken,
  type RefreshTokenRecord,
  type TokenRecord,
} from "./store.ts";

/**
 * What is kept with a token besides its columns (Hydra's oauth2.Session). Grants fill what
 * they know; every field is optional except `ext`.
 */
export interface TokenSession {
  /** Hydra's session.access_token (consent `session.access_token`): `ext` of JWT access tokens and introspection. */
  ext: Record<string, unknown>;
  /** Claims of ID tokens issued for this grant (authorization_code / refresh_token issues). */
  idToken?: Record<string, unknown>;
  /**
   * The subject the client sees when it differs from the stored (local) subject: a pairwise
   * or forced subject identifier. `sub` of ID tokens, JWT access tokens and userinfo;
   * introspection returns it as `obfuscated_subject` (Hydra).
   */
  obfuscatedSubject?: string;
  /** Introspection's `username` (RFC 7662 §2.2), when a grant knows one. */
  username?: string;
  /** The consent request this grant came from (authorization_code issue). */
  consentChallenge?: string;
}

/** Separates the AEAD key of sessions from other sealed data (lib/crypto.ts). */
export const sessionSealPurpose = "session";

type TokenDeps = Pick<Deps, "config" | "db" | "clock">;

/** Sealed under secrets.system[0] when oauth2.session.encrypt_at_rest (Hydra's default), plain JSON otherwise. */
export function encodeSession(config: TokenDeps["config"], session: TokenSession): string {
  const text = JSON.stringify(session);
  return config.oauth2.session.encrypt_at_rest ? seal(config.secrets.system, text, sessionSealPurpose) : text;
}

/**
 * Either form opens, whatever the setting is now (it may have been switched). A session
 * that no listed secret opens reads as empty: the token still introspects, without `ext`.
 */
export function decodeSession(config: TokenDeps["config"], stored: string): TokenSession {
  try {
    const text = stored.startsWith("{") ? stored : unseal(config.secrets.system, stored, sessionSealPurpose);
    const parsed = JSON.parse(text) as Partial<TokenSession>;
    return { ...parsed, ext: parsed.ext && typeof parsed.ext === "object" ? parsed.ext : {} };
  } catch {
    return { ext: {} };
  }
}

/** Claims a grant's session may not place at the top level of a JWT access token (they are ours). */
const reservedClaims: ReadonlySet<string> = new Set(["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "scp", "ext"]);

export interface IssueAccessTokenInput {
  /**
   * Ties together everything one grant issues (access, refresh, code): revocation takes the
   * whole grant. A fresh UUID per grant; a refresh keeps its grant's id.
   */
  requestId: string;
  client: Pick<OAuth2Client, "clientId" | "lifespans">;
  /**
   * The LOCAL subject (as login accept gave it; the client id for client_credentials): the
   * row's `subject` and introspection's `sub`. A pairwise or forced subject goes in
   * session.obfuscatedSubject; it is what the client sees (ID tokens, JWT `sub`, userinfo).
   */
  subject: string;
  grantedScope: readonly string[];
  grantedAudience: readonly string[];
  session: TokenSession;
  /** Selects the per-client lifespan (`<grantType>_grant_access_token_lifespan`), else ttl.access_token. */
  grantType: LifespanGrant;
  /** The request time; `iat`, `nbf` and `requested_at`. */
  now: Date;
  /**
   * The key of hydra.jwt.access-token (strategies.access_token "jwt"), loaded before a
   * transaction with accessTokenSigningKey(): inside one, loading it through deps.db would
   * wait forever on PGlite, which runs one statement at a time.
   */
  jwtKey?: SigningKey;
}

/**
 * The JWT access-token signing key when access tokens are JWTs, else undefined. Call it before
 * opening a transaction that issues access tokens, and pass the result as `jwtKey`.
 */
export async function accessTokenSigningKey(deps: TokenDeps): Promise<SigningKey | undefined> {
  return deps.config.strategies.access_token === "jwt" ? signingKey(deps, accessTokenSet) : undefined;
}

export interface IssuedAccessToken {
  /** The token to hand to the client; never logged, never stored. */
  token: string;
  /** The row key (see module comment). */
  signature: string;
  expiresAt: Date;
  /** Seconds, for `expires_in`. */
  expiresIn: number;
}

/**
 * Issues one access token and writes its row with `db`, so a grant that writes several rows
 * passes its transaction: `deps.db.transaction((tx) => issueAccessToken(deps, tx, …))`. With
 * `deps.db` itself the row goes through the group commit (oauth2/store.ts), and this returns
 * once it is committed.
 * With strategies.access_token "jwt" the token is an RFC 9068 JWT signed with the newest key
 * of hydra.jwt.access-token; it still gets a row, so it can be revoked and introspected.
 *
 * @param deps the server's Deps (signing keys are cached per Deps object, so pass the same one)
 * @example
 *   const issued = await issueAccessToken(cx.deps, cx.deps.db, {
 *     requestId: crypto.randomUUID(), client, subject: client.clientId,
 *     grantedScope: ["read"], grantedAudience: [], session: { ext: {} },
 *     grantType: "client_credentials", now: req.now,
 *   });
 *   return accessTokenResponse(issued, ["read"]);
 */
export async function issueAccessToken(deps: TokenDeps, db: Db, input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
  const { issued, record } = await mintAccessToken(deps, input);
  // On the pool itself (no transaction: client_credentials) the row shares its INSERT and
  // commit with concurrent requests; in a grant's transaction it is written there.
  await (db === deps.db ? insertAccessTokenGrouped(db, record) : insertAccessToken(db, record));
  return issued;
}

/** An access token and the row to store for it, not written yet (issueAccessToken writes it; a refresh rotation writes it in its own statement). */
export async function mintAccessToken(deps: TokenDeps, input: IssueAccessTokenInput): Promise<{ issued: IssuedAccessToken; record: TokenRecord }> {
  const { config } = deps;
  const lifespanMs = effectiveLifespanMs(input.client, input.grantType, "access_token", config.ttl.access_token);
  // JWT `exp` has whole seconds; the row gets the same instant so both expire together.
  const expSeconds = Math.floor((input.now.getTime() + lifespanMs) / 1000);
  const expiresAt = new Date(expSeconds * 1000);
  let token: string;
  let signature: string;
  if (config.strategies.access_token === "jwt") {
    token = await signJwtAccessToken(deps, input, expSeconds);
    signature = jwtSignatureKey(token);
  } else {
    ({ token, signature } = generateOpaqueToken(config.secrets.system, "access_token", config.oauth2.token_prefix.access_token));
  }
  const record = tokenRecord(config, input, signature, expiresAt);
  return { issued: { token, signature, expiresAt, expiresIn: Math.max(0, expSeconds - Math.floor(input.now.getTime() / 1000)) }, record };
}

/** The row stored for an access or refresh token: what it was granted, and only its signature. */
function tokenRecord(
  config: Deps["config"],
  input: Pick<IssueRefreshTokenInput, "requestId" | "client" | "subject" | "grantedScope" | "grantedAudience" | "session" | "now">,
  signature: string,
  expiresAt: Date | undefined,
): TokenRecord {
  return {
    signature,
    requestId: input.requestId,
    clientId: input.client.clientId,
    subject: input.subject,
    grantedScope: [...input.grantedScope],
    grantedAudience: [...input.grantedAudience],
    requestedAt: input.now,
    expiresAt,
    session: encodeSession(config, input.session),
  };
}

export interface IssueRefreshTokenInput {
  requestId: string;
  client: Pick<OAuth2Client, "clientId" | "lifespans">;
  /** The local subject, as on the access token. */
  subject: string;
  /** What the grant allows: a refresh may narrow the access token's scope, never this (RFC 6749 §6). */
  grantedScope: readonly string[];
  grantedAudience: readonly string[];
  session: TokenSession;
  /** Selects `<grantType>_grant_refresh_token_lifespan`, else ttl.refresh_token (-1: never expires). */
  grantType: "authorization_code" | "refresh_token";
  now: Date;
}

export interface IssuedRefreshToken {
  token: string;
  signature: string;
  /** undefined: never expires. */
  expiresAt: Date | undefined;
}

/**
 * Issues one opaque refresh token (oauth2.token_prefix.refresh_token) and writes its row with
 * `db` (pass the grant's transaction). Only the HMAC signature is stored.
 */
export async function issueRefreshToken(deps: Pick<Deps, "config">, db: Db, input: IssueRefreshTokenInput): Promise<IssuedRefreshToken> {
  const { issued, record } = mintRefreshToken(deps, input);
  await insertRefreshToken(db, record);
  return issued;
}

/** A refresh token and the row to store for it, not written yet. */
export function mintRefreshToken(deps: Pick<Deps, "config">, input: IssueRefreshTokenInput): { issued: IssuedRefreshToken; record: TokenRecord } {
  const { config } = deps;
  const { token, signature } = generateOpaqueToken(config.secrets.system, "refresh_token", config.oauth2.token_prefix.refresh_token);
  const lifespanMs = effectiveLifespanMs(input.client, input.grantType, "refresh_token", config.ttl.refresh_token);
  const expiresAt = lifespanMs < 0 ? undefined : new Date(input.now.getTime() + lifespanMs);
  const record = tokenRecord(config, input, signature, expiresAt);
  return { issued: { token, signature, expiresAt }, record };
}

/** RFC 6749 §5.1 body for an issued access token; grants add refresh_token / id_token. */
export function accessTokenResponse(issued: IssuedAccessToken, grantedScope: readonly string[]): TokenResponse {
  return { access_token: issued.token, token_type: "bearer", expires_in: issued.expiresIn, scope: grantedScope.join(" ") };
}

/**
 * RFC 9068 §2.2 claims plus Hydra's (`scp`, `ext`, `client_id`); `aud` is the granted
 * audience as an array, as Hydra writes it (empty when none was granted).
 */
async function signJwtAccessToken(deps: TokenDeps, input: IssueAccessTokenInput, exp: number): Promise<string> {
  const { config } = deps;
  const iat = Math.floor(input.now.getTime() / 1000);
  const topLevel: JWTPayload = {};
  for (const claim of config.oauth2.allowed_top_level_claims) {
    if (!reservedClaims.has(claim) && Object.hasOwn(input.session.ext, claim)) topLevel[claim] = input.session.ext[claim];
  }
  const payload: JWTPayload = {
    ...topLevel,
    iss: config.urls.self.issuer,
    // What the client may see: the pairwise (or forced) subject when there is one, as in ID
    // tokens and userinfo. The row keeps the local subject (introspection's `sub`).
    sub: input.session.obfuscatedSubject ?? input.subject,
    aud: [...input.grantedAudience],
    exp,
    iat,
    ...(config.oauth2.exclude_not_before_claim ? {} : { nbf: iat }),
    jti: randomUUID(),
    client_id: input.client.clientId,
    scope: input.grantedScope.join(" "),
    scp: [...input.grantedScope],
    ext: input.session.ext,
  };
  const key = input.jwtKey ?? (await signingKey(deps, accessTokenSet));
  return signJwt(key, "at+jwt", payload);
}

/** Hydra's row key of a JWT access token: hex(SHA-384(signature part)). */
export function jwtSignatureKey(jwt: string): string {
  return createHash("sha384").update(jwt.slice(jwt.lastIndexOf(".") + 1)).digest("hex");
}

function looksLikeJwt(token: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token) && token.length <= 16 * 1024;
}

/** A presented token found in storage. */
export type FoundToken = { use: "access_token"; record: TokenRecord } | { use: "refresh_token"; record: RefreshTokenRecord };

/**
 * Finds the row of a presented token, whatever its kind: an opaque access or refresh token
 * (the HMAC purpose tells them apart even with empty prefixes), or a JWT access token. Does
 * not judge expiry or activity. `verifyJwt` checks a JWT's signature against the access-token
 * keys first (introspection); revocation skips it, as knowing the signature part is enough
 * to own the row.
 */
export async function findToken(deps: TokenDeps, token: string, options: { verifyJwt: boolean }): Promise<FoundToken | undefined> {
  const key = await tokenKey(deps, token, options);
  if (!key) return undefined;
  if (key.use === "refresh_token") {
    const record = await getRefreshToken(deps.db, key.signature);
    return record ? { use: "refresh_token", record } : undefined;
  }
  const record = await getAccessTokenGrouped(deps.db, key.signature);
  return record ? { use: "access_token", record } : undefined;
}

/**
 * findToken (JWTs verified) with the client of an access token read in the same round trip
 * (userinfo); `client` is undefined for a refresh token or a client that is gone.
 */
export async function findTokenWithClient(deps: TokenDeps, token: string): Promise<{ found: FoundToken; client: StoredClient | undefined } | undefined> {
  const key = await tokenKey(deps, token, { verifyJwt: true });
  if (!key) return undefined;
  if (key.use === "refresh_token") {
    const record = await getRefreshToken(deps.db, key.signature);
    return record ? { found: { use: "refresh_token", record }, client: undefined } : undefined;
  }
  const row = await getAccessTokenWithClientGrouped(deps.db, key.signature);
  return row ? { found: { use: "access_token", record: row.record }, client: row.client } : undefined;
}

/** Which table and row key a presented token would have; undefined when it cannot be ours. */
async function tokenKey(deps: TokenDeps, token: string, options: { verifyJwt: boolean }): Promise<{ use: FoundToken["use"]; signature: string } | undefined> {
  const { config } = deps;
  const secrets = config.secrets.system;
  const prefixes = config.oauth2.token_prefix;
  if (looksLikeJwt(token)) {
    if (options.verifyJwt && !(await verifyAccessTokenJwt(deps, token))) return undefined;
    return { use: "access_token", signature: jwtSignatureKey(token) };
  }
  const access = opaqueTokenSignature(secrets, "access_token", prefixes.access_token, token);
  if (access) return { use: "access_token", signature: access };
  const refresh = opaqueTokenSignature(secrets, "refresh_token", prefixes.refresh_token, token);
  if (refresh) return { use: "refresh_token", signature: refresh };
  return undefined;
}

/** The public keys of hydra.jwt.access-token, cached briefly per Deps; reread on an unknown kid. */
interface VerifyKeys {
  loadedAt: number;
  kids: Set<string>;
  keySet: ReturnType<typeof createLocalJWKSet>;
}
const verifyKeyCaches = new WeakMap<object, VerifyKeys>();
const verifyKeysMaxAgeMs = 30_000;

async function loadVerifyKeys(deps: TokenDeps): Promise<VerifyKeys> {
  const keys: Jwk[] = await publishedKeys(deps.db, [accessTokenSet]);
  const entry = { loadedAt: deps.clock.now().getTime(), kids: new Set(keys.map((k) => k.kid)), keySet: createLocalJWKSet({ keys }) };
  verifyKeyCaches.set(deps, entry);
  return entry;
}

/** Whether a JWT was signed by one of our access-token keys (expiry is the row's business). */
async function verifyAccessTokenJwt(deps: TokenDeps, token: string): Promise<boolean> {
  let kid: string | undefined;
  try {
    const header = decodeProtectedHeader(token);
    if (header.typ !== "at+jwt") return false;
    kid = header.kid;
  } catch {
    return false;
  }
  let keys = verifyKeyCaches.get(deps);
  const now = deps.clock.now().getTime();
  // A key created in this or another process signs at once: an unknown kid rereads the set.
  if (!keys || now - keys.loadedAt > verifyKeysMaxAgeMs || (kid !== undefined && !keys.kids.has(kid))) keys = await loadVerifyKeys(deps);
  try {
    // The signature only: expiry is judged from the row, with the server's clock.
    await compactVerify(token, keys.keySet);
    return true;
  } catch {
    return false;
  }
}
