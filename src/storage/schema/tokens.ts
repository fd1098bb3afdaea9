/**
 * @module Tables of issued credentials. Only HMAC signatures of tokens and codes
 * are stored (a dump yields nothing usable); session data is sealed under
 * secrets.system. `request_id` ties together everything one grant issued, so a
 * revocation or a detected replay removes the whole chain.
 */
import { boolean, index, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

const grantColumns = {
  /** HMAC signature of the opaque token (or a hash of a JWT's signature part). */
  signature: text("signature").primaryKey(),
  requestId: text("request_id").notNull(),
  clientId: text("client_id").notNull(),
  /**
   * The LOCAL subject, as login accept gave it (the client id for client_credentials). A
   * pairwise or forced subject is kept in the sealed session (obfuscatedSubject) and is what
   * the client sees; introspection returns it as obfuscated_subject.
   */
  subject: text("subject").notNull(),
  grantedScope: text("granted_scope").notNull().default(""),
  grantedAudience: jsonb("granted_audience").$type<string[]>().notNull().default([]),
  requestedAt: at("requested_at").notNull().defaultNow(),
  /** Null = never expires (ttl.refresh_token -1). */
  expiresAt: at("expires_at"),
  /** The session (ext claims, id-token claims, consent link), sealed; see oauth2/tokens. */
  session: text("session").notNull(),
};

export const accessTokens = pgTable("oauth2_access_tokens", grantColumns, (t) => [
  index("oauth2_access_tokens_request_id_idx").on(t.requestId),
  index("oauth2_access_tokens_client_id_idx").on(t.clientId),
  index("oauth2_access_tokens_expires_at_idx").on(t.expiresAt),
]);

export const refreshTokens = pgTable(
  "oauth2_refresh_tokens",
  {
    ...grantColumns,
    active: boolean("active").notNull().default(true),
    /** Set once when rotated; the claim that makes rotation single-use. */
    usedAt: at("used_at"),
    /** The pair issued on rotation, sealed, kept only for the grace period so a retry gets the same pair. */
    rotatedPair: text("rotated_pair"),
  },
  (t) => [
    index("oauth2_refresh_tokens_request_id_idx").on(t.requestId),
    index("oauth2_refresh_tokens_client_id_idx").on(t.clientId),
    index("oauth2_refresh_tokens_expires_at_idx").on(t.expiresAt),
  ],
);

export const authorizationCodes = pgTable(
  "oauth2_authorization_codes",
  {
    ...grantColumns,
    usedAt: at("used_at"),
  },
  (t) => [index("oauth2_authorization_codes_request_id_idx").on(t.requestId), index("oauth2_authorization_codes_expires_at_idx").on(t.expiresAt)],
);

/** Seen `jti` values of client assertions and jwt-bearer grants, kept until they expire (replay protection). */
export const jtiRecords = pgTable(
  "oauth2_jti_records",
  {
    /** SHA-256 of issuer + jti, so an attacker-chosen jti cannot bloat the key. */
    signature: text("signature").primaryKey(),
    expiresAt: at("expires_at").notNull(),
  },
  (t) => [index("oauth2_jti_records_expires_at_idx").on(t.expiresAt)],
);

/** RFC 7523 trust relationships (Hydra's /trust/grants/jwt-bearer/issuers). */
export const trustedJwtIssuers = pgTable(
  "trusted_jwt_issuers",
  {
    id: text("id").primaryKey(),
    issuer: text("issuer").notNull(),
    /** Empty when allow_any_subject. */
    subject: text("subject").notNull().default(""),
    allowAnySubject: boolean("allow_any_subject").notNull().default(false),
    scope: jsonb("scope").$type<string[]>().notNull().default([]),
    /** The issuer's public key, stored in json_web_keys under this set and kid. */
    keySet: text("key_set").notNull(),
    keyId: text("key_id").notNull(),
    createdAt: at("created_at").notNull().defaultNow(),
    expiresAt: at("expires_at").notNull(),
  },
  (t) => [index("trusted_jwt_issuers_issuer_idx").on(t.issuer), index("trusted_jwt_issuers_expires_at_idx").on(t.expiresAt)],
);
