/**
 * @module SQL of the browser flows: flows (login and consent requests), login sessions,
 * forced subject identifiers, the authorization codes a finished flow issues, and logout requests.
 * A transition is one conditional UPDATE on the state it expects; a verifier or a code is
 * claimed by one UPDATE … RETURNING, so it is redeemed once however many requests race.
 * A complete code flow costs 13 statements and no explicit transaction (test/flows/db-work.test.ts):
 * first answers are applied by challenge without reading the flow, the apps' GETs read the flow
 * with its client in one query, and each verifier redemption reads its flow, decides, and then
 * claims it with one statement that also writes what the step leaves behind (data-modifying CTEs).
 */
import { and, count, desc, eq, gt, inArray, isNull, or, sql } from "drizzle-orm";
import type { Db } from "../storage/db.ts";
import { prepared, preparedSql } from "../storage/prepared.ts";
import { authorizationCodes, flows, loginSessions, logoutRequests, oauth2Clients, obfuscatedSubjects } from "../storage/schema/index.ts";
import { toClient } from "../clients/store.ts";
import { insertIssuedRow, issuedRowParams, type TokenRecord } from "../oauth2/store.ts";
import type { StoredClient } from "../clients/types.ts";
import type { ConsentAnswer, ConsentResult, Flow, FlowState, LoginAnswer, LoginResult } from "./flow.ts";
import type { LogoutRequest, LogoutState } from "./logout-request.ts";
import type { StoredAuthorizeRequest } from "../oauth2/authorize-request.ts";

type FlowRow = typeof flows.$inferSelect;

/** Raw sql params are not mapped by column type: postgres-js needs text, not a Date. */
const ts = (d: Date) => sql`${d.toISOString()}::timestamptz`;

// The queries of every flow are prepared (storage/prepared.ts): built once per process, run on
// the pool or a transaction. Dates travel as ISO text through a cast (drizzle maps a null Date
// param to a crash), and a list of signatures (one per secrets.system entry) as s0…s(n-1),
// one prepared query per list length.
const p = sql.placeholder;
const atParam = (name: string) => sql`${p(name)}::timestamptz`;
const signatureParams = (n: number) => Array.from({ length: n }, (_, i) => p(`s${i}`));
const signatureValues = (signatures: readonly string[]) => Object.fromEntries(signatures.map((s, i) => [`s${i}`, s]));
/** drizzle fills placeholders in update sets through the column's encoder, as it does in inserts; only its types say no. */
const placeholderSet = (set: Record<string, unknown>) => set as Partial<typeof flows.$inferInsert>;

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

/** The columns derived from a consent answer (indexed for remembered consent and sessions). */
function consentColumns(consent: ConsentResult | undefined) {
  const accepted = consent && "accepted" in consent ? consent.accepted : undefined;
  return {
    consent: consent ?? null,
    consentError: consent !== undefined && "denied" in consent,
    consentRemember: accepted?.remember ?? false,
    consentRememberFor: accepted?.rememberFor ?? 0,
  };
}

/** Every column a transition may change. */
function mutable(flow: Flow, now: Date) {
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
    ...consentColumns(flow.consent),
    consentHandledAt: flow.consentHandledAt ?? null,
    subjectIdentifier: flow.subjectIdentifier ?? null,
    requestId: flow.requestId ?? null,
    updatedAt: now,
  };
}

const insertNewFlowQuery = (db: Db) =>
  prepared(db, "flow_insert_new", (d) =>
    d
      .insert(flows)
      .values({
        id: p("id"),
        state: "login_requested",
        clientId: p("clientId"),
        subject: p("subject"),
        loginSessionId: p("loginSessionId"),
        requestedAt: atParam("requestedAt"),
        request: p("request"),
        loginChallenge: p("loginChallenge"),
        loginChallengeSealed: p("loginChallengeSealed"),
        loginCsrf: p("loginCsrf"),
        loginSkip: p("loginSkip"),
        authenticatedAt: atParam("authenticatedAt"),
        updatedAt: atParam("now"),
      })
      .prepare("flow_insert_new"),
  );

export async function insertFlow(db: Db, flow: Flow, now: Date): Promise<void> {
  if (flow.state === "login_requested") {
    // A new flow (oauth2/auth): only the columns known before the login; the rest start NULL or at their defaults.
    await insertNewFlowQuery(db).execute({
      id: flow.id,
      clientId: flow.clientId,
      subject: flow.subject,
      loginSessionId: flow.loginSessionId,
      requestedAt: flow.requestedAt.toISOString(),
      request: flow.request,
      loginChallenge: flow.loginChallenge,
      loginChallengeSealed: flow.loginChallengeSealed,
      loginCsrf: flow.loginCsrf,
      loginSkip: flow.loginSkip,
      authenticatedAt: flow.authenticatedAt?.toISOString() ?? null,
      now: now.toISOString(),
    });
    return;
  }
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

const flowByChallengeQuery = (db: Db, column: "loginChallenge" | "consentChallenge", n: number) =>
  prepared(db, `flow_by_${column}_${n}`, (d) =>
    d
      .select()
      .from(flows)
      .where(inArray(flows[column], signatureParams(n)))
      .limit(1)
      .prepare(`flow_by_${column}_${n}`),
  );

async function getFlowByChallenge(db: Db, column: "loginChallenge" | "consentChallenge", signatures: string[]): Promise<Flow | undefined> {
  if (signatures.length === 0) return undefined;
  const [row] = await flowByChallengeQuery(db, column, signatures.length).execute(signatureValues(signatures));
  return row ? toFlow(row) : undefined;
}

const flowWithClientQuery = (db: Db, column: "loginChallenge" | "consentChallenge", n: number) =>
  prepared(db, `flow_with_client_by_${column}_${n}`, (d) =>
    d
      .select({ flow: flows, client: oauth2Clients })
      .from(flows)
      .leftJoin(oauth2Clients, eq(oauth2Clients.id, flows.clientId))
      .where(inArray(flows[column], signatureParams(n)))
      .limit(1)
      .prepare(`flow_with_client_by_${column}_${n}`),
  );

/**
 * A flow by challenge with its client, in one query (what the login and consent apps GET);
 * client undefined when it was deleted.
 */
export async function getFlowWithClientByChallenge(
  db: Db,
  column: "loginChallenge" | "consentChallenge",
  signatures: string[],
): Promise<{ flow: Flow; client: StoredClient | undefined } | undefined> {
  if (signatures.length === 0) return undefined;
  const [row] = await flowWithClientQuery(db, column, signatures.length).execute(signatureValues(signatures));
  return row ? { flow: toFlow(row.flow), client: row.client ? toClient(row.client) : undefined } : undefined;
}

export function getFlowByLoginChallenge(db: Db, signatures: string[]): Promise<Flow | undefined> {
  return getFlowByChallenge(db, "loginChallenge", signatures);
}

export function getFlowByConsentChallenge(db: Db, signatures: string[]): Promise<Flow | undefined> {
  return getFlowByChallenge(db, "consentChallenge", signatures);
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
 * Applies a login answer to the flow of a login challenge that awaits it and was not skipped,
 * in one statement (flow.ts acceptFreshLogin: such an answer needs nothing from the flow).
 * The flow's request (for redirect_to); undefined when no flow qualifies, and the caller
 * reads the flow to tell why (unknown, answered, skipped).
 */
const answerFreshLoginQuery = (db: Db, n: number) =>
  prepared(db, `flow_answer_fresh_login_${n}`, (d) =>
    d
      .update(flows)
      .set(placeholderSet({ state: p("state"), subject: p("subject"), loginVerifier: p("loginVerifier"), authenticatedAt: atParam("authenticatedAt"), login: p("login"), updatedAt: atParam("now") }))
      .where(and(inArray(flows.loginChallenge, signatureParams(n)), eq(flows.state, "login_requested"), eq(flows.loginSkip, false)))
      .returning({ request: flows.request })
      .prepare(`flow_answer_fresh_login_${n}`),
  );

export async function answerFreshLogin(db: Db, signatures: string[], answer: LoginAnswer, now: Date): Promise<StoredAuthorizeRequest | undefined> {
  if (signatures.length === 0 || !answer.loginVerifier || !answer.authenticatedAt || !answer.login) return undefined;
  const rows = await answerFreshLoginQuery(db, signatures.length).execute({
    ...signatureValues(signatures),
    state: answer.state,
    subject: answer.subject,
    loginVerifier: answer.loginVerifier,
    authenticatedAt: answer.authenticatedAt.toISOString(),
    login: answer.login,
    now: now.toISOString(),
  });
  return rows[0]?.request as StoredAuthorizeRequest | undefined;
}

/**
 * Applies the first answer to a consent request (no verifier minted yet) in one statement,
 * keeping `requestId`, the consent challenge that becomes the request_id of what the flow issues.
 * The flow's request (for redirect_to); undefined when the request is unknown or was answered
 * already (the caller then reads the flow and answers again with its verifier, or 409).
 */
const answerFirstConsentQuery = (db: Db, n: number) =>
  prepared(db, `flow_answer_first_consent_${n}`, (d) =>
    d
      .update(flows)
      .set(
        placeholderSet({
          state: p("state"),
          consentVerifier: p("consentVerifier"),
          consentVerifierSealed: p("consentVerifierSealed"),
          consentHandledAt: atParam("consentHandledAt"),
          consent: p("consent"),
          consentError: p("consentError"),
          consentRemember: p("consentRemember"),
          consentRememberFor: p("consentRememberFor"),
          requestId: p("requestId"),
          updatedAt: atParam("now"),
        }),
      )
      .where(and(inArray(flows.consentChallenge, signatureParams(n)), eq(flows.state, "consent_requested"), isNull(flows.consentVerifier)))
      .returning({ request: flows.request })
      .prepare(`flow_answer_first_consent_${n}`),
  );

export async function answerFirstConsent(db: Db, signatures: string[], answer: ConsentAnswer, requestId: string, now: Date): Promise<StoredAuthorizeRequest | undefined> {
  if (signatures.length === 0 || !answer.consentVerifier || !answer.consentVerifierSealed || !answer.consentHandledAt || !answer.consent) return undefined;
  const rows = await answerFirstConsentQuery(db, signatures.length).execute({
    ...signatureValues(signatures),
    state: answer.state,
    consentVerifier: answer.consentVerifier,
    consentVerifierSealed: answer.consentVerifierSealed,
    consentHandledAt: answer.consentHandledAt.toISOString(),
    ...consentColumns(answer.consent),
    requestId,
    now: now.toISOString(),
  });
  return rows[0]?.request as StoredAuthorizeRequest | undefined;
}

/** The remembered consent a redemption may reuse: the consent answer and when it was given. */
export interface RememberedConsent {
  consent: ConsentResult | null;
  handledAt: Date | undefined;
}

export interface FlowToRedeem {
  /** In the state its verifier redeems (login_/consent_ accepted or rejected), as read: nothing is claimed yet. */
  flow: Flow;
  /** undefined when the client was deleted. */
  client: StoredClient | undefined;
  /** Login verifiers only: the newest remembered consent of the flow's subject for its client (state consent_used, remembered, not skipped or denied). */
  remembered: RememberedConsent | undefined;
}

// The newest remembered consent of the redeemed flow's subject for its client, as one value
// (the rows of the partial index oauth2_flows_remembered_consent_idx).
const rememberedOfFlow = sql`(select jsonb_build_object('consent', r.consent, 'handled_at', r.consent_handled_at) from oauth2_flows r
  where r.subject = "oauth2_flows"."subject" and r.client_id = "oauth2_flows"."client_id" and r.state = 'consent_used'
    and r.consent_remember and not r.consent_skip and not r.consent_error
  order by r.consent_handled_at desc nulls first limit 1)`.mapWith((v: unknown) => {
  if (v === null || v === undefined) return undefined;
  const o = (typeof v === "string" ? JSON.parse(v) : v) as { consent: ConsentResult | null; handled_at: string | null };
  return { consent: o.consent, handledAt: o.handled_at ? new Date(o.handled_at) : undefined } satisfies RememberedConsent;
});

const flowToRedeemQuery = (db: Db, column: "loginVerifier" | "consentVerifier", n: number) =>
  prepared(db, `flow_to_redeem_by_${column}_${n}`, (d) =>
    d
      .select({
        flow: flows,
        client: oauth2Clients,
        ...(column === "loginVerifier" ? { remembered: rememberedOfFlow } : {}),
      })
      .from(flows)
      .leftJoin(oauth2Clients, eq(oauth2Clients.id, flows.clientId))
      .where(
        and(
          inArray(flows[column], signatureParams(n)),
          inArray(flows.state, column === "loginVerifier" ? ["login_accepted", "login_rejected"] : ["consent_accepted", "consent_rejected"]),
        ),
      )
      .limit(1)
      .prepare(`flow_to_redeem_by_${column}_${n}`),
  );

/**
 * The flow a verifier redeems, with its client (and, for a login verifier, the remembered
 * consent the next step may reuse), in one read that claims nothing: the caller decides, then
 * claims with one conditional write on the state read here (saveLoginRedeemed, saveConsentRedeemed,
 * failRedeemedFlow), which only one request can win. undefined when the verifier is unknown or
 * spent. A login answer changes only by redemption, and saveConsentRedeemed also requires the
 * consent answer read here (the consent app may answer again), so what was read is still
 * current when the claim succeeds.
 */
export async function getFlowToRedeem(db: Db, column: "loginVerifier" | "consentVerifier", signatures: string[]): Promise<FlowToRedeem | undefined> {
  if (signatures.length === 0) return undefined;
  const [row] = (await flowToRedeemQuery(db, column, signatures.length).execute(signatureValues(signatures))) as {
    flow: FlowRow;
    client: typeof oauth2Clients.$inferSelect | null;
    remembered?: RememberedConsent;
  }[];
  if (!row) return undefined;
  return { flow: toFlow(row.flow), client: row.client ? toClient(row.client) : undefined, remembered: row.remembered ?? undefined };
}

/** Where a redeemed verifier ends a flow without going on: rejected answers, and failed checks. */
const failedState = { login_accepted: "login_failed", login_rejected: "login_failed", consent_accepted: "consent_failed", consent_rejected: "consent_failed" } as const;

const failRedeemedQuery = (db: Db, from: keyof typeof failedState) =>
  prepared(db, `flow_fail_redeemed_${from}`, (d) =>
    d
      .update(flows)
      .set(placeholderSet({ state: failedState[from], updatedAt: atParam("now") }))
      .where(and(eq(flows.id, p("id")), eq(flows.state, from)))
      .returning({ id: flows.id })
      .prepare(`flow_fail_redeemed_${from}`),
  );

/**
 * Redeems a verifier without going on: the flow read by getFlowToRedeem moves from its state
 * to login_failed / consent_failed. False when another request redeemed it first.
 */
export async function failRedeemedFlow(db: Db, flow: Flow, now: Date): Promise<boolean> {
  if (!(flow.state in failedState)) throw new Error(`failRedeemedFlow from state ${flow.state}`);
  const rows = await failRedeemedQuery(db, flow.state as keyof typeof failedState).execute({ id: flow.id, now: now.toISOString() });
  return rows.length > 0;
}

/** What a redeemed login writes besides the flow (login.ts). */
export interface LoginRedemptionWrites {
  /** The login session the flow's `sid` names; undefined when the login was skipped (the remembered session stays as it is). */
  session: LoginSession | undefined;
  /** force_subject_identifier of the login, kept for (client, subject). */
  forcedSubject: string | undefined;
  /** An earlier session of this browser, forgotten because this login is not remembered. */
  forgetSession: string | undefined;
}

/**
 * Redeems a login verifier and saves flow.ts requestConsent (login_accepted → consent_requested,
 * login_used only in between) with what the login leaves behind, in ONE statement: nothing is
 * written unless the flow is still where getFlowToRedeem read it. False when another request
 * redeemed it first.
 */
export async function saveLoginRedeemed(db: Db, next: Flow, writes: LoginRedemptionWrites, now: Date): Promise<boolean> {
  if (next.state !== "consent_requested" || !next.consentChallenge || !next.consentChallengeSealed || !next.consentCsrf || next.subjectIdentifier === undefined) {
    throw new Error("saveLoginRedeemed needs a flow that requestConsent returned");
  }
  const { session } = writes;
  const rows = await loginRedeemedQuery(db).execute({
    id: next.id,
    consentChallenge: next.consentChallenge,
    consentChallengeSealed: next.consentChallengeSealed,
    consentCsrf: next.consentCsrf,
    consentSkip: next.consentSkip,
    subjectIdentifier: next.subjectIdentifier,
    now: now.toISOString(),
    clientId: next.clientId,
    subject: next.subject,
    forced: writes.forcedSubject ?? null,
    sessionId: session?.id ?? null,
    sessionSubject: session?.subject ?? null,
    sessionAuthenticatedAt: session?.authenticatedAt.toISOString() ?? null,
    sessionRemember: session?.remember ?? false,
    sessionExpiresAt: session?.expiresAt?.toISOString() ?? null,
    forget: writes.forgetSession ?? null,
  });
  return Number(rows[0]?.moved ?? 0) === 1;
}

// The writes of one login redemption as data-modifying CTEs of one statement; each runs only
// when the flow moved (and when its value is given). They touch different rows: `forget` is
// never the flow's own session (login.ts).
const loginRedeemedQuery = (db: Db) =>
  preparedSql(
    db,
    "flow_login_redeemed",
    () => sql`with moved as (
        update oauth2_flows set state = 'consent_requested', consent_challenge = ${p("consentChallenge")}::text,
          consent_challenge_sealed = ${p("consentChallengeSealed")}::text, consent_csrf = ${p("consentCsrf")}::text,
          consent_skip = ${p("consentSkip")}::boolean, subject_identifier = ${p("subjectIdentifier")}::text, updated_at = ${p("now")}::timestamptz
        where id = ${p("id")}::text and state = 'login_accepted'
        returning id
      ), forced as (
        insert into oauth2_obfuscated_subjects (client_id, subject, obfuscated)
        select ${p("clientId")}::text, ${p("subject")}::text, ${p("forced")}::text from moved where ${p("forced")}::text is not null
        on conflict (client_id, subject) do update set obfuscated = excluded.obfuscated
      ), session as (
        insert into oauth2_login_sessions (id, subject, authenticated_at, remember, expires_at)
        select ${p("sessionId")}::text, ${p("sessionSubject")}::text, ${p("sessionAuthenticatedAt")}::timestamptz, ${p("sessionRemember")}::boolean,
          ${p("sessionExpiresAt")}::timestamptz
        from moved where ${p("sessionId")}::text is not null
        on conflict (id) do update set subject = excluded.subject, authenticated_at = excluded.authenticated_at,
          remember = excluded.remember, expires_at = excluded.expires_at
      ), forgotten as (
        delete from oauth2_login_sessions where id = ${p("forget")}::text and exists (select 1 from moved)
      )
      select count(*)::int as moved from moved`,
  );

/**
 * Redeems a consent verifier (consent_accepted → consent_used, recording the request_id) and
 * writes what it issues (the code, an implicit access token) in ONE statement: nothing is
 * written unless the flow is still where getFlowToRedeem read it, with the same answer (the
 * consent app may accept again until the verifier is redeemed: what is issued must be what
 * the flow keeps), and a failed write leaves the verifier unspent. False when another request
 * redeemed it or answered again first.
 */
export async function saveConsentRedeemed(db: Db, flow: Flow, requestId: string, issued: { code?: TokenRecord; accessToken?: TokenRecord }, now: Date): Promise<boolean> {
  const rows = await consentRedeemedQuery(db).execute({
    id: flow.id,
    consent: JSON.stringify(flow.consent ?? null),
    requestId,
    now: now.toISOString(),
    ...issuedRowParams("code", issued.code),
    ...issuedRowParams("access", issued.accessToken),
  });
  return Number(rows[0]?.used ?? 0) === 1;
}

const consentRedeemedQuery = (db: Db) =>
  preparedSql(
    db,
    "flow_consent_redeemed",
    () => sql`with used as (
        update oauth2_flows set state = 'consent_used', request_id = ${p("requestId")}::text, updated_at = ${p("now")}::timestamptz
        where id = ${p("id")}::text and state = 'consent_accepted' and consent = ${p("consent")}::text::jsonb
        returning id
      ), code as (${insertIssuedRow("oauth2_authorization_codes", "code", "used")}
      ), access as (${insertIssuedRow("oauth2_access_tokens", "access", "used")}
      )
      select count(*)::int as used from used`,
  );

// ---- remembered consent and consent sessions (Hydra persister_consent.go) ----

/** Consent that was granted and may be shown or reused: accepted, not skipped, not denied. */
const grantedConsent = and(inArray(flows.state, ["consent_accepted", "consent_used"]), eq(flows.consentSkip, false), eq(flows.consentError, false));

/** remember_for 0 = forever; otherwise it runs from when the consent was given. */
const notExpired = (now: Date) =>
  or(eq(flows.consentRememberFor, 0), sql`${flows.consentHandledAt} + make_interval(secs => ${flows.consentRememberFor}) > ${ts(now)}`);

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

const upsertLoginSessionQuery = (db: Db) =>
  prepared(db, "login_session_upsert", (d) => {
    const values = { subject: p("subject"), authenticatedAt: atParam("authenticatedAt"), remember: p("remember"), expiresAt: atParam("expiresAt") };
    return d
      .insert(loginSessions)
      .values({ id: p("id"), ...values })
      .onConflictDoUpdate({ target: loginSessions.id, set: placeholderSet(values) as Partial<typeof loginSessions.$inferInsert> })
      .prepare("login_session_upsert");
  });

/** Writes a confirmed login session (Hydra ConfirmLoginSession). */
export async function upsertLoginSession(db: Db, session: LoginSession): Promise<void> {
  await upsertLoginSessionQuery(db).execute({
    id: session.id,
    subject: session.subject,
    authenticatedAt: session.authenticatedAt.toISOString(),
    remember: session.remember,
    expiresAt: session.expiresAt?.toISOString() ?? null,
  });
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

/** A code as stored, used or not (so a replay can be told from an unknown code). */
export async function getAuthorizationCode(db: Db, signature: string): Promise<AuthorizationCodeRecord | undefined> {
  const [row] = await codeBySignatureQuery(db).execute({ signature });
  return row ? toCode(row) : undefined;
}

const codeBySignatureQuery = (db: Db) =>
  prepared(db, "authorization_code_by_signature", (d) =>
    d.select().from(authorizationCodes).where(eq(authorizationCodes.signature, p("signature"))).limit(1).prepare("authorization_code_by_signature"),
  );

/**
 * Claims a code for redemption: one UPDATE that succeeds for one caller only, and only while
 * the code is unused and unexpired (and, given `clientId`, only for that client). undefined
 * otherwise.
 */
const claimCodeQuery = (db: Db, forClient: boolean) =>
  prepared(db, `authorization_code_claim${forClient ? "_for_client" : ""}`, (d) =>
    d
      .update(authorizationCodes)
      .set({ usedAt: atParam("now") })
      .where(
        and(
          eq(authorizationCodes.signature, p("signature")),
          isNull(authorizationCodes.usedAt),
          sql`${authorizationCodes.expiresAt} > ${atParam("now")}`,
          forClient ? eq(authorizationCodes.clientId, p("clientId")) : undefined,
        ),
      )
      .returning()
      .prepare(`authorization_code_claim${forClient ? "_for_client" : ""}`),
  );

export async function claimAuthorizationCode(db: Db, signature: string, now: Date, clientId?: string): Promise<AuthorizationCodeRecord | undefined> {
  const rows = await claimCodeQuery(db, clientId !== undefined).execute({ signature, now: now.toISOString(), ...(clientId === undefined ? {} : { clientId }) });
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
