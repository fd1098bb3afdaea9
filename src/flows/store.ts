/**
 * @module SQL of the browser flows: flows (login and consent requests), login sessions,
 * forced subject identifiers, the authorization codes a finished flow issues, and logout requests.
 * A transition is one conditional UPDATE on the state it expects; a verifier or a code is
 * claimed by one UPDATE … RETURNING, so it is redeemed once however many requests race.
 */
import { and, count, desc, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import { authorizationCodes, flows, loginSessions, logoutRequests, obfuscatedSubjects } from "../storage/schema/index.ts";
import type { ConsentResult, Flow, FlowState, LoginResult } from "./flow.ts";
import type { LogoutRequest, LogoutState } from "./logout-request.ts";
import type { StoredAuthorizeRequest } from "../oauth2/authorize-request.ts";

type FlowRow = typeof flows.$inferSelect;

/** Raw sql params are not mapped by column type: postgres-js needs text, not a Date. */
const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

function toFlow(row: FlowRow): Flow {
  return {
    id: row.id,
    state: row.state as FlowState,
    clientId: row.clientId,
    subject: row.subject,
    loginSessionId: row.loginSessionId,
    requestedAt: row.requestedAt,
    request: row.request as StoredAuthorizeRequest,
    loginChallenge: row.loginChallenge,
    loginChallengeSealed: row.loginChallengeSealed,
    loginCsrf: row.loginCsrf,
    loginVerifier: row.loginVerifier ?? undefined,
    loginSkip: row.loginSkip,
    authenticatedAt: row.authenticatedAt ?? undefined,
    login: (row.login as LoginResult | null) ?? undefined,
    consentChallenge: row.consentChallenge ?? undefined,
    consentChallengeSealed: row.consentChallengeSealed ?? undefined,
    consentCsrf: row.consentCsrf ?? undefined,
    consentVerifier: row.consentVerifier ?? undefined,
    consentVerifierSealed: row.consentVerifierSealed ?? undefined,
    consentSkip: row.consentSkip,
    consent: (row.consent as ConsentResult | null) ?? undefined,
    consentHandledAt: row.consentHandledAt ?? undefined,
    subjectIdentifier: row.subjectIdentifier ?? undefined,
    requestId: row.requestId ?? undefined,
  };
}

/** Every column a transition may change. */
function mutable(flow: Flow, now: Date) {
  const accepted = flow.consent && "accepted" in flow.consent ? flow.consent.accepted : undefined;
  return {
    state: flow.state,
    subject: flow.subject,
    loginVerifier: flow.loginVerifier ?? null,
    authenticatedAt: flow.authenticatedAt ?? null,
    login: flow.login ?? null,
    consentChallenge: flow.consentChallenge ?? null,
    consentChallengeSealed: flow.consentChallengeSealed ?? null,
    consentCsrf: flow.consentCsrf ?? null,
    consentVerifier: flow.consentVerifier ?? null,
    consentVerifierSealed: flow.consentVerifierSealed ?? null,
    consentSkip: flow.consentSkip,
    consent: flow.consent ?? null,
    consentError: flow.consent !== undefined && "denied" in flow.consent,
    consentRemember: accepted?.remember ?? false,
    consentRememberFor: accepted?.rememberFor ?? 0,
    consentHandledAt: flow.consentHandledAt ?? null,
    subjectIdentifier: flow.subjectIdentifier ?? null,
    requestId: flow.requestId ?? null,
    updatedAt: now,
  };
}

export async function insertFlow(db: Db, flow: Flow, now: Date): Promise<void> {
  await db.insert(flows).values({
    id: flow.id,
    clientId: flow.clientId,
    loginSessionId: flow.loginSessionId,
    requestedAt: flow.requestedAt,
    request: flow.request,
    loginChallenge: flow.loginChallenge,
    loginChallengeSealed: flow.loginChallengeSealed,
    loginCsrf: flow.loginCsrf,
    loginSkip: flow.loginSkip,
    ...mutable(flow, now),
  });
}

export async function getFlowByLoginChallenge(db: Db, signatures: string[]): Promise<Flow | undefined> {
  const [row] = await db.select().from(flows).where(inArray(flows.loginChallenge, signatures)).limit(1);
  return row ? toFlow(row) : undefined;
}

export async function getFlowByConsentChallenge(db: Db, signatures: string[]): Promise<Flow | undefined> {
  const [row] = await db.select().from(flows).where(inArray(flows.consentChallenge, signatures)).limit(1);
  return row ? toFlow(row) : undefined;
}

/**
 * Saves a transition computed by flow.ts, only if the flow is still in one of `from`.
 * undefined when another request moved it first (the caller answers 409).
 */
export async function saveFlow(
  db: Db,
  next: Flow,
  from: readonly FlowState[],
  now: Date,
  /** Also require the consent verifier to be this one (null: none yet), so two first answers cannot both mint one. */
  consentVerifierWas?: string | null,
): Promise<Flow | undefined> {
  const verifierCondition =
    consentVerifierWas === undefined ? undefined : consentVerifierWas === null ? isNull(flows.consentVerifier) : eq(flows.consentVerifier, consentVerifierWas);
  const rows = await db
    .update(flows)
    .set(mutable(next, now))
    .where(and(eq(flows.id, next.id), inArray(flows.state, [...from]), verifierCondition))
    .returning();
  return rows[0] ? toFlow(rows[0]) : undefined;
}

/**
 * Redeems a verifier: moves the flow from each state in `redeemable` to its successor, in one
 * statement. undefined when the verifier is unknown or was redeemed already.
 */
async function claimVerifier(
  db: Db,
  column: typeof flows.loginVerifier | typeof flows.consentVerifier,
  signatures: string[],
  redeemable: Readonly<Partial<Record<FlowState, FlowState>>>,
  now: Date,
): Promise<Flow | undefined> {
  const pairs = Object.entries(redeemable) as [FlowState, FlowState][];
  const next = sql.join(
    pairs.map(([from, to]) => sql`when ${from} then ${to}`),
    sql` `,
  );
  const rows = await db
    .update(flows)
    .set({ state: sql`case ${flows.state} ${next} end`, updatedAt: now })
    .where(and(inArray(column, signatures), inArray(flows.state, pairs.map(([from]) => from))))
    .returning();
  return rows[0] ? toFlow(rows[0]) : undefined;
}

export function claimLoginVerifier(db: Db, signatures: string[], redeemable: Readonly<Partial<Record<FlowState, FlowState>>>, now: Date) {
  return claimVerifier(db, flows.loginVerifier, signatures, redeemable, now);
}

export function claimConsentVerifier(db: Db, signatures: string[], redeemable: Readonly<Partial<Record<FlowState, FlowState>>>, now: Date) {
  return claimVerifier(db, flows.consentVerifier, signatures, redeemable, now);
}

// ---- remembered consent and consent sessions (Hydra persister_consent.go) ----

/** Consent that was granted and may be shown or reused: accepted, not skipped, not denied. */
const grantedConsent = and(inArray(flows.state, ["consent_accepted", "consent_used"]), eq(flows.consentSkip, false), eq(flows.consentError, false));

/** remember_for 0 = forever; otherwise it runs from when the consent was given. */
const notExpired = (now: Date) =>
  or(eq(flows.consentRememberFor, 0), sql`${flows.consentHandledAt} + make_interval(secs => ${flows.consentRememberFor}) > ${ts(now)}`);

/**
 * The newest remembered consent of a subject for a client, if still valid (Hydra
 * FindGrantedAndRememberedConsentRequests). Only consent the client actually received counts.
 */
export async function findRememberedConsent(db: Db, subject: string, clientId: string, now: Date): Promise<Flow | undefined> {
  const [row] = await db
    .select()
    .from(flows)
    .where(
      and(
        eq(flows.subject, subject),
        eq(flows.clientId, clientId),
        eq(flows.state, "consent_used"),
        eq(flows.consentSkip, false),
        eq(flows.consentError, false),
        eq(flows.consentRemember, true),
      ),
    )
    .orderBy(desc(flows.consentHandledAt))
    .limit(1);
  if (!row) return undefined;
  const flow = toFlow(row);
  const accepted = flow.consent && "accepted" in flow.consent ? flow.consent.accepted : undefined;
  if (!accepted || !flow.consentHandledAt) return undefined;
  if (accepted.rememberFor > 0 && flow.consentHandledAt.getTime() + accepted.rememberFor * 1000 < now.getTime()) return undefined;
  return flow;
}

/** A page of a subject's consent sessions, newest first, and how many there are. */
export async function listConsentSessions(db: Db, subject: string, limit: number, offset: number, now: Date): Promise<{ flows: Flow[]; total: number }> {
  const where = and(eq(flows.subject, subject), grantedConsent, notExpired(now));
  const rows = await db.select().from(flows).where(where).orderBy(desc(flows.requestedAt), desc(flows.id)).limit(limit).offset(offset);
  const [counted] = await db.select({ n: count() }).from(flows).where(where);
  return { flows: rows.map(toFlow), total: Number(counted?.n ?? 0) };
}

/**
 * Deletes the consent of a subject (for one client, or all), returning what was deleted so
 * that the caller can revoke the tokens each one issued (Hydra revokeConsentSession).
 */
export async function deleteConsentSessions(db: Db, subject: string, clientId: string | undefined): Promise<{ clientId: string; requestId: string | undefined }[]> {
  const rows = await db
    .delete(flows)
    .where(
      and(
        eq(flows.subject, subject),
        clientId === undefined ? undefined : eq(flows.clientId, clientId),
        inArray(flows.state, ["consent_accepted", "consent_rejected", "consent_used", "consent_failed"]),
      ),
    )
    .returning({ clientId: flows.clientId, requestId: flows.requestId });
  return rows.map((r) => ({ clientId: r.clientId, requestId: r.requestId ?? undefined }));
}

// ---- login sessions ----

export interface LoginSession {
  id: string;
  subject: string;
  authenticatedAt: Date;
  remember: boolean;
  expiresAt: Date | undefined;
}

/** A session that lets a flow skip the login: remembered and not expired. */
export async function getRememberedLoginSession(db: Db, id: string, now: Date): Promise<LoginSession | undefined> {
  const [row] = await db
    .select()
    .from(loginSessions)
    .where(and(eq(loginSessions.id, id), eq(loginSessions.remember, true), or(isNull(loginSessions.expiresAt), gt(loginSessions.expiresAt, now))))
    .limit(1);
  return row ? { id: row.id, subject: row.subject, authenticatedAt: row.authenticatedAt, remember: row.remember, expiresAt: row.expiresAt ?? undefined } : undefined;
}

/** Writes a confirmed login session (Hydra ConfirmLoginSession). */
export async function upsertLoginSession(db: Db, session: LoginSession): Promise<void> {
  const values = {
    subject: session.subject,
    authenticatedAt: session.authenticatedAt,
    remember: session.remember,
    expiresAt: session.expiresAt ?? null,
  };
  await db
    .insert(loginSessions)
    .values({ id: session.id, ...values })
    .onConflictDoUpdate({ target: loginSessions.id, set: values });
}

export async function deleteLoginSession(db: Db, id: string): Promise<void> {
  await db.delete(loginSessions).where(eq(loginSessions.id, id));
}

/** Deletes every login session of a subject (remembered or not); returns their ids (for back-channel logout). */
export async function deleteLoginSessionsOfSubject(db: Db, subject: string): Promise<string[]> {
  const rows = await db.delete(loginSessions).where(eq(loginSessions.subject, subject)).returning({ id: loginSessions.id });
  return rows.map((r) => r.id);
}

/** Deletes one login session (of `subject`, when given); returns its id if there was one. */
export async function deleteLoginSessionById(db: Db, id: string, subject?: string): Promise<string | undefined> {
  const rows = await db
    .delete(loginSessions)
    .where(and(eq(loginSessions.id, id), subject === undefined ? undefined : eq(loginSessions.subject, subject)))
    .returning({ id: loginSessions.id });
  return rows[0]?.id;
}

/**
 * A login session by id, remembered or not, unless its remember_for ran out: what an ID
 * token's `sid` names. A login that was not remembered has a row too (flows/login.ts), so
 * RP-initiated logout finds it and runs front- and back-channel logout (Hydra misses this,
 * hydra-v1 §7 #3132).
 */
export async function getLoginSession(db: Db, id: string, now: Date): Promise<LoginSession | undefined> {
  const [row] = await db
    .select()
    .from(loginSessions)
    .where(and(eq(loginSessions.id, id), or(isNull(loginSessions.expiresAt), gt(loginSessions.expiresAt, now))))
    .limit(1);
  return row ? { id: row.id, subject: row.subject, authenticatedAt: row.authenticatedAt, remember: row.remember, expiresAt: row.expiresAt ?? undefined } : undefined;
}

/** A client that received tokens within a login session, and the subject as it knows the user. */
export interface SessionClient {
  clientId: string;
  /** Pairwise or forced identifier when the client has one, else the subject. */
  subject: string;
}

/**
 * The clients that got a consent (and so an ID token with this `sid`) within a login
 * session: flows of the session whose consent verifier was redeemed without error. Newest
 * flow first, one entry per client (Hydra ListUserAuthenticatedClientsWith*ChannelLogout).
 */
export async function listSessionClients(db: Db, sid: string): Promise<SessionClient[]> {
  const rows = await db
    .select({ clientId: flows.clientId, subject: flows.subject, subjectIdentifier: flows.subjectIdentifier })
    .from(flows)
    .where(and(eq(flows.loginSessionId, sid), eq(flows.state, "consent_used"), eq(flows.consentError, false)))
    .orderBy(desc(flows.requestedAt))
    // A bound, so one session cannot make a logout unbounded; far above a real session's clients.
    .limit(1000);
  const out = new Map<string, SessionClient>();
  for (const r of rows) if (!out.has(r.clientId)) out.set(r.clientId, { clientId: r.clientId, subject: r.subjectIdentifier ?? r.subject });
  return [...out.values()];
}

// ---- forced subject identifiers ----

/** Replaces the forced identifier of (client, subject) (Hydra CreateForcedObfuscatedLoginSession). */
export async function setForcedSubject(db: Db, clientId: string, subject: string, obfuscated: string): Promise<void> {
  await db
    .insert(obfuscatedSubjects)
    .values({ clientId, subject, obfuscated })
    .onConflictDoUpdate({ target: [obfuscatedSubjects.clientId, obfuscatedSubjects.subject], set: { obfuscated } });
}

/** The forced identifier a client knows a subject by, if one was set. */
export async function getForcedSubject(db: Db, clientId: string, subject: string): Promise<string | undefined> {
  const [row] = await db
    .select({ obfuscated: obfuscatedSubjects.obfuscated })
    .from(obfuscatedSubjects)
    .where(and(eq(obfuscatedSubjects.clientId, clientId), eq(obfuscatedSubjects.subject, subject)))
    .limit(1);
  return row?.obfuscated;
}

// ---- authorization codes (what a finished flow issues for `code`) ----

export interface AuthorizationCodeRecord {
  signature: string;
  requestId: string;
  clientId: string;
  /** The local subject (as login accept gave it), as on token rows; the pairwise one is in the sealed session. */
  subject: string;
  grantedScope: string[];
  grantedAudience: string[];
  requestedAt: Date;
  expiresAt: Date;
  /** Sealed (or plain JSON) AuthorizationCodeSession, see oauth2/authorization-code.ts. */
  session: string;
  usedAt: Date | undefined;
}

type CodeRow = typeof authorizationCodes.$inferSelect;

function toCode(row: CodeRow): AuthorizationCodeRecord {
  return {
    signature: row.signature,
    requestId: row.requestId,
    clientId: row.clientId,
    subject: row.subject,
    grantedScope: row.grantedScope.split(" ").filter(Boolean),
    grantedAudience: Array.isArray(row.grantedAudience) ? row.grantedAudience : [],
    requestedAt: row.requestedAt,
    expiresAt: row.expiresAt!,
    session: row.session,
    usedAt: row.usedAt ?? undefined,
  };
}

export async function insertAuthorizationCode(db: Db, code: Omit<AuthorizationCodeRecord, "usedAt">): Promise<void> {
  await db.insert(authorizationCodes).values({
    signature: code.signature,
    requestId: code.requestId,
    clientId: code.clientId,
    subject: code.subject,
    grantedScope: code.grantedScope.join(" "),
    grantedAudience: code.grantedAudience,
    requestedAt: code.requestedAt,
    expiresAt: code.expiresAt,
    session: code.session,
  });
}

/** A code as stored, used or not (so a replay can be told from an unknown code). */
export async function getAuthorizationCode(db: Db, signature: string): Promise<AuthorizationCodeRecord | undefined> {
  const [row] = await db.select().from(authorizationCodes).where(eq(authorizationCodes.signature, signature)).limit(1);
  return row ? toCode(row) : undefined;
}

/**
 * Claims a code for redemption: one UPDATE that succeeds for one caller only, and only while
 * the code is unused and unexpired (and, given `clientId`, only for that client). undefined
 * otherwise.
 */
export async function claimAuthorizationCode(db: Db, signature: string, now: Date, clientId?: string): Promise<AuthorizationCodeRecord | undefined> {
  const rows = await db
    .update(authorizationCodes)
    .set({ usedAt: now })
    .where(
      and(
        eq(authorizationCodes.signature, signature),
        isNull(authorizationCodes.usedAt),
        sql`${authorizationCodes.expiresAt} > ${ts(now)}`,
        clientId === undefined ? undefined : eq(authorizationCodes.clientId, clientId),
      ),
    )
    .returning();
  return rows[0] ? toCode(rows[0]) : undefined;
}

/** Deletes the codes a grant issued (its consent was revoked). */
export async function deleteAuthorizationCodesOfRequest(db: Db, requestId: string): Promise<number> {
  const rows = await db.delete(authorizationCodes).where(eq(authorizationCodes.requestId, requestId)).returning({ s: authorizationCodes.signature });
  return rows.length;
}

// ---- cleanup (for the janitor's "requests" group) ----

/**
 * Deletes up to `n` flows that can never complete (Hydra FlushInactiveLoginConsentRequests):
 * unfinished ones that arrived before `unfinishedBefore` (now − ttl.login_consent_request, or
 * the janitor's request lifespan), and denied or failed ones that arrived before `endedBefore`.
 * Completed flows (consent_used) stay: they are the consent sessions and carry the request_id
 * their tokens are revoked by.
 */
export async function deleteInactiveFlows(db: Db, cutoffs: { unfinishedBefore: Date; endedBefore: Date }, n: number): Promise<number> {
  const unfinished: FlowState[] = ["login_requested", "login_accepted", "login_rejected", "login_used", "consent_requested", "consent_accepted", "consent_rejected"];
  const ended: FlowState[] = ["login_failed", "consent_failed"];
  const victims = db
    .select({ id: flows.id })
    .from(flows)
    .where(
      or(
        and(inArray(flows.state, unfinished), sql`${flows.requestedAt} < ${ts(cutoffs.unfinishedBefore)}`),
        and(inArray(flows.state, ended), sql`${flows.requestedAt} < ${ts(cutoffs.endedBefore)}`),
      ),
    )
    .limit(n);
  const rows = await db.delete(flows).where(inArray(flows.id, victims)).returning({ id: flows.id });
  return rows.length;
}

/** Deletes up to `n` login sessions whose remember_for ran out before `before`. */
export async function deleteExpiredLoginSessions(db: Db, before: Date, n: number): Promise<number> {
  const victims = db.select({ id: loginSessions.id }).from(loginSessions).where(sql`${loginSessions.expiresAt} < ${ts(before)}`).limit(n);
  const rows = await db.delete(loginSessions).where(inArray(loginSessions.id, victims)).returning({ id: loginSessions.id });
  return rows.length;
}

// ---- logout requests (flows/logout-request.ts) ----

type LogoutRow = typeof logoutRequests.$inferSelect;

function toLogoutRequest(row: LogoutRow): LogoutRequest {
  return {
    id: row.id,
    state: row.state as LogoutState,
    challenge: row.challenge,
    verifier: row.verifier ?? undefined,
    subject: row.subject,
    sid: row.sid,
    clientId: row.clientId ?? undefined,
    rpInitiated: row.rpInitiated,
    requestUrl: row.requestUrl,
    postLogoutRedirectUri: row.postLogoutRedirectUri,
    requestedAt: row.requestedAt,
    expiresAt: row.expiresAt,
  };
}

export async function insertLogoutRequest(db: Db, request: LogoutRequest, now: Date): Promise<void> {
  await db.insert(logoutRequests).values({
    id: request.id,
    state: request.state,
    challenge: request.challenge,
    verifier: request.verifier ?? null,
    subject: request.subject,
    sid: request.sid,
    clientId: request.clientId ?? null,
    rpInitiated: request.rpInitiated,
    requestUrl: request.requestUrl,
    postLogoutRedirectUri: request.postLogoutRedirectUri,
    requestedAt: request.requestedAt,
    expiresAt: request.expiresAt,
    updatedAt: now,
  });
}

export async function getLogoutRequestByChallenge(db: Db, signatures: string[]): Promise<LogoutRequest | undefined> {
  const [row] = await db.select().from(logoutRequests).where(inArray(logoutRequests.challenge, signatures)).limit(1);
  return row ? toLogoutRequest(row) : undefined;
}

/**
 * Saves an answer computed by logout-request.ts, only if the request is still in state `from`
 * and unexpired; undefined when another request answered it first.
 */
export async function saveLogoutRequest(db: Db, next: LogoutRequest, from: LogoutState, now: Date): Promise<LogoutRequest | undefined> {
  const rows = await db
    .update(logoutRequests)
    .set({ state: next.state, verifier: next.verifier ?? null, updatedAt: now })
    .where(and(eq(logoutRequests.id, next.id), eq(logoutRequests.state, from), sql`${logoutRequests.expiresAt} > ${ts(now)}`))
    .returning();
  return rows[0] ? toLogoutRequest(rows[0]) : undefined;
}

/** Redeems a logout verifier: accepted → used, once, while unexpired. undefined otherwise. */
export async function claimLogoutVerifier(db: Db, signatures: string[], now: Date): Promise<LogoutRequest | undefined> {
  const rows = await db
    .update(logoutRequests)
    .set({ state: "used", updatedAt: now })
    .where(and(inArray(logoutRequests.verifier, signatures), eq(logoutRequests.state, "accepted"), sql`${logoutRequests.expiresAt} > ${ts(now)}`))
    .returning();
  return rows[0] ? toLogoutRequest(rows[0]) : undefined;
}

/**
 * Deletes up to `n` logout requests that arrived before `before` (the janitor passes
 * now − the request lifespan, bounded by its notAfter), whatever their state: an unanswered
 * one has expired, and a used or rejected one is only kept so that the admin API can answer
 * 410/404 while the request would still be valid.
 */
export async function deleteExpiredLogoutRequests(db: Db, before: Date, n: number): Promise<number> {
  const victims = db.select({ id: logoutRequests.id }).from(logoutRequests).where(sql`${logoutRequests.requestedAt} < ${ts(before)}`).limit(n);
  const rows = await db.delete(logoutRequests).where(inArray(logoutRequests.id, victims)).returning({ id: logoutRequests.id });
  return rows.length;
}

/**
 * What a deleted client leaves in the flows tables: its login/consent requests and
 * remembered consents, its forced subject identifiers and its logout requests.
 * (Login sessions belong to the user, not the client, and stay.)
 */
export async function deleteFlowsOfClient(db: Db, clientId: string): Promise<void> {
  await db.delete(flows).where(eq(flows.clientId, clientId));
  await db.delete(obfuscatedSubjects).where(eq(obfuscatedSubjects.clientId, clientId));
  await db.delete(logoutRequests).where(eq(logoutRequests.clientId, clientId));
}
