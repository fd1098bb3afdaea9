/**
 * @module Tables of the browser flows: one row per authorization flow (its login and
 * consent requests and their results, see flows/flow.ts), remembered login sessions, and
 * forced (obfuscated) subject identifiers. Challenges, verifiers and CSRF values are
 * stored as HMAC signatures; the two challenges are also kept sealed, because Hydra's
 * admin API shows them again later (consent sessions, the consent request's login_challenge).
 */
import { sql } from "drizzle-orm";
import { boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const flows = pgTable(
  "oauth2_flows",
  {
    id: text("id").primaryKey(),
    /** A FlowState (flows/flow.ts). */
    state: text("state").notNull(),
    clientId: text("client_id").notNull(),
    /** The user as the login app names them: the remembered subject (skip), then the accepted one. "" before. */
    subject: text("subject").notNull().default(""),
    /** The login session id (`sid`): the remembered session's, or a new one. */
    loginSessionId: text("login_session_id").notNull(),
    /** When the authorization request arrived (`rat`); flows expire ttl.login_consent_request after it. */
    requestedAt: at("requested_at").notNull(),
    /** The validated authorization request (oauth2/authorize-request.ts StoredAuthorizeRequest). */
    request: jsonb("request").notNull(),

    loginChallenge: text("login_challenge").notNull(),
    loginChallengeSealed: text("login_challenge_sealed").notNull(),
    loginCsrf: text("login_csrf").notNull(),
    loginVerifier: text("login_verifier"),
    loginSkip: boolean("login_skip").notNull().default(false),
    /** The remembered session's auth time (skip), then the accepted login's. */
    authenticatedAt: at("authenticated_at"),
    /** The login app's answer: an accepted login or a denial (flows/flow.ts). */
    login: jsonb("login"),

    consentChallenge: text("consent_challenge"),
    consentChallengeSealed: text("consent_challenge_sealed"),
    consentCsrf: text("consent_csrf"),
    consentVerifier: text("consent_verifier"),
    /** Sealed, so that a repeated accept answers with the same verifier (Hydra keeps one per request). */
    consentVerifierSealed: text("consent_verifier_sealed"),
    consentSkip: boolean("consent_skip").notNull().default(false),
    /** The consent app's answer: a grant or a denial. */
    consent: jsonb("consent"),
    consentError: boolean("consent_error").notNull().default(false),
    consentRemember: boolean("consent_remember").notNull().default(false),
    consentRememberFor: integer("consent_remember_for").notNull().default(0),
    consentHandledAt: at("consent_handled_at"),

    /** The subject as this client sees it (pairwise or forced), set when the login is redeemed. */
    subjectIdentifier: text("subject_identifier"),
    /** The consent challenge, written when consent is answered: what the flow's code and tokens carry as request_id. */
    requestId: text("request_id"),
    updatedAt: at("updated_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("oauth2_flows_login_challenge_idx").on(t.loginChallenge),
    uniqueIndex("oauth2_flows_login_verifier_idx").on(t.loginVerifier),
    uniqueIndex("oauth2_flows_consent_challenge_idx").on(t.consentChallenge),
    uniqueIndex("oauth2_flows_consent_verifier_idx").on(t.consentVerifier),
    index("oauth2_flows_subject_client_id_idx").on(t.subject, t.clientId),
    // Remembered consent (flows/store.ts getFlowToRedeem, login verifiers): the newest usable answer of a
    // subject for a client without walking every past flow of that pair.
    index("oauth2_flows_remembered_consent_idx")
      .on(t.subject, t.clientId, t.consentHandledAt.desc().nullsFirst())
      .where(sql`${t.state} = 'consent_used' AND ${t.consentRemember} AND NOT ${t.consentSkip} AND NOT ${t.consentError}`),
    index("oauth2_flows_requested_at_idx").on(t.requestedAt),
    index("oauth2_flows_request_id_idx").on(t.requestId),
    // Logout: which clients received consent within a login session (front/back-channel).
    index("oauth2_flows_login_session_id_idx").on(t.loginSessionId),
  ],
);

/** Remembered authentications (Hydra's hydra_oauth2_authentication_session); the cookie holds the id, signed. */
export const loginSessions = pgTable(
  "oauth2_login_sessions",
  {
    id: text("id").primaryKey(),
    subject: text("subject").notNull(),
    authenticatedAt: at("authenticated_at").notNull(),
    /** Only remembered sessions let a later flow skip the login. */
    remember: boolean("remember").notNull().default(false),
    /**
     * When the row is garbage (the janitor deletes it). Null only for a remembered session with
     * remember_for 0: until the browser session ends (the cookie is a session cookie). A login
     * that was not remembered always has one (flows/login-session-expiry.ts).
     */
    expiresAt: at("expires_at"),
    createdAt: at("created_at").notNull().defaultNow(),
  },
  (t) => [
    index("oauth2_login_sessions_subject_idx").on(t.subject),
    index("oauth2_login_sessions_expires_at_idx").on(t.expiresAt),
    check("oauth2_login_sessions_expiry_check", sql`${t.remember} OR ${t.expiresAt} IS NOT NULL`),
  ],
);

/** force_subject_identifier from login accept: the subject a (pairwise) client sees instead of the computed one. */
export const obfuscatedSubjects = pgTable(
  "oauth2_obfuscated_subjects",
  {
    clientId: text("client_id").notNull(),
    subject: text("subject").notNull(),
    obfuscated: text("obfuscated").notNull(),
  },
  (t) => [primaryKey({ columns: [t.clientId, t.subject] }), index("oauth2_obfuscated_subjects_client_id_obfuscated_idx").on(t.clientId, t.obfuscated)],
);

/**
 * Logout requests (Hydra's hydra_oauth2_logout_request): one row per logout that reached the
 * logout app. The challenge and the verifier are stored as HMAC signatures only; unlike
 * Hydra v1 a request expires (expires_at = requested_at + ttl.login_consent_request).
 */
export const logoutRequests = pgTable(
  "oauth2_logout_requests",
  {
    id: text("id").primaryKey(),
    /** A LogoutState (flows/logout-request.ts): requested, accepted, rejected, used. */
    state: text("state").notNull(),
    challenge: text("challenge").notNull(),
    /** Set when the logout app accepts. */
    verifier: text("verifier"),
    /** The user as the login app names them (the login session's subject). */
    subject: text("subject").notNull(),
    /** The login session to end (`sid`). */
    sid: text("sid").notNull(),
    /** The client named by the id_token_hint; null for a logout the browser started. */
    clientId: text("client_id"),
    rpInitiated: boolean("rp_initiated").notNull().default(false),
    requestUrl: text("request_url").notNull(),
    /** Where the browser goes once logged out (state already appended). */
    postLogoutRedirectUri: text("post_logout_redirect_uri").notNull(),
    requestedAt: at("requested_at").notNull(),
    expiresAt: at("expires_at").notNull(),
    updatedAt: at("updated_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("oauth2_logout_requests_challenge_idx").on(t.challenge),
    uniqueIndex("oauth2_logout_requests_verifier_idx").on(t.verifier),
    index("oauth2_logout_requests_requested_at_idx").on(t.requestedAt),
  ],
);
