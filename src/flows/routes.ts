/**
 * @module Admin API of the login/consent/logout flow (Hydra v1 consent/handler.go):
 * /oauth2/auth/requests/{login,consent,logout}[/accept|/reject] and /oauth2/auth/sessions/{login,consent}.
 * Handlers are named after Hydra's operationIds. Wire bodies follow consent/types.go.
 */
import { getClient } from "../clients/store.ts";
import { toWire, type StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { conflict, invalidRequest, notFound } from "../errors.ts";
import { revokeGrant } from "../oauth2/store.ts";
import { json, type Handler, type RouteTable } from "../server/http.ts";
import { paginationHeaders, parsePage } from "../server/pagination.ts";
import type { Db } from "../storage/db.ts";
import { flowSignatures, newFlowValue, newLogoutValue, unsealFlowValue } from "./challenge.ts";
import {
  acceptConsent,
  acceptFreshLogin,
  acceptLogin,
  consentAccepted,
  consentRejected,
  consentVisibleStates,
  deniedError,
  loginVisibleStates,
  rejectConsent,
  rejectLogin,
  type ConsentAnswer,
  type Flow,
  type FlowState,
} from "./flow.ts";
import { backchannelLogoutSessions } from "./logout.ts";
import { acceptLogout, logoutVisibility, rejectLogout, type LogoutRequest } from "./logout-request.ts";
import { readAcceptConsent, readAcceptLogin, readReject } from "./schemas.ts";
import {
  answerFirstConsent,
  answerFreshLogin,
  deleteAuthorizationCodesOfRequest,
  deleteConsentSessions,
  deleteLoginSessionById,
  deleteLoginSessionsOfSubject,
  getFlowByConsentChallenge,
  getFlowByLoginChallenge,
  getFlowWithClientByChallenge,
  getLogoutRequestByChallenge,
  listConsentSessions,
  saveFlow,
  saveLogoutRequest,
} from "./store.ts";
import { endSessionUrl, withQuery } from "./urls.ts";

export const loginRequestPath = "/oauth2/auth/requests/login";
export const consentRequestPath = "/oauth2/auth/requests/consent";
export const logoutRequestPath = "/oauth2/auth/requests/logout";
export const sessionsPath = "/oauth2/auth/sessions";

/** The challenge from `login_challenge`/`consent_challenge`/`logout_challenge`, or the legacy `challenge`. */
function challengeOf(req: Request, name: "login_challenge" | "consent_challenge" | "logout_challenge"): string {
  const query = new URL(req.url).searchParams;
  const challenge = query.get(name) || query.get("challenge");
  if (!challenge) throw invalidRequest(undefined, { hint: "Query parameter 'challenge' is not defined but should have been." });
  return challenge;
}

/**
 * The signatures a challenge may be stored under; none for a value too long to be one, or with
 * a NUL (never issued, and the raw challenge is stored as request_id: PostgreSQL text refuses it).
 */
function challengeSignatures(deps: Deps, kind: "login_challenge" | "consent_challenge", challenge: string): string[] {
  return challenge.length <= 256 && !challenge.includes("\0") ? flowSignatures(deps.config, kind, challenge) : [];
}

async function loginFlow(deps: Deps, challenge: string): Promise<Flow> {
  const signatures = challengeSignatures(deps, "login_challenge", challenge);
  const flow = signatures.length > 0 ? await getFlowByLoginChallenge(deps.db, signatures) : undefined;
  if (!flow) throw notFound();
  return flow;
}

async function consentFlow(deps: Deps, challenge: string): Promise<Flow> {
  const signatures = challengeSignatures(deps, "consent_challenge", challenge);
  const flow = signatures.length > 0 ? await getFlowByConsentChallenge(deps.db, signatures) : undefined;
  if (!flow) throw notFound();
  return flow;
}

/** The flow of a login or consent challenge and its client, for the apps' GET; 404 when either is unknown. */
async function flowWithClient(deps: Deps, kind: "login_challenge" | "consent_challenge", challenge: string): Promise<{ flow: Flow; client: StoredClient | undefined }> {
  const column = kind === "login_challenge" ? "loginChallenge" : "consentChallenge";
  const found = await getFlowWithClientByChallenge(deps.db, column, challengeSignatures(deps, kind, challenge));
  if (!found) throw notFound();
  return found;
}

/** Hydra's LoginRequest, field for field. */
function loginRequestWire(flow: Flow, challenge: string, client: StoredClient) {
  return {
    challenge,
    requested_scope: flow.request.scope,
    requested_access_token_audience: flow.request.audience,
    skip: flow.loginSkip,
    // The subject the request was created with: the remembered one, "" for a fresh login.
    subject: flow.loginSkip ? flow.subject : "",
    oidc_context: flow.request.oidcContext,
    client: toWire(client),
    request_url: flow.request.requestUrl,
    session_id: flow.loginSessionId,
  };
}

/** Hydra's ConsentRequest, field for field. */
function consentRequestWire(deps: Deps, flow: Flow, challenge: string, client: StoredClient) {
  const login = flow.login && "accepted" in flow.login ? flow.login.accepted : undefined;
  return {
    challenge,
    requested_scope: flow.request.scope,
    requested_access_token_audience: flow.request.audience,
    skip: flow.consentSkip,
    subject: flow.subject,
    oidc_context: flow.request.oidcContext,
    client: toWire(client),
    request_url: flow.request.requestUrl,
    login_challenge: unsealFlowValue(deps.config, flow.loginChallengeSealed),
    login_session_id: flow.loginSessionId,
    acr: login?.acr ?? "",
    amr: login?.amr ?? [],
    ...(login?.context !== undefined && login.context !== null ? { context: login.context } : {}),
  };
}

/** 410 with the URL that restarts the flow (Hydra RequestWasHandledResponse). */
function gone(flow: Flow): Response {
  return json({ redirect_to: flow.request.requestUrl }, 410);
}

export function getLoginRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "login_challenge");
    const { flow, client } = await flowWithClient(deps, "login_challenge", challenge);
    if (!loginVisibleStates.includes(flow.state)) return gone(flow);
    if (!client) throw notFound();
    return json(loginRequestWire(flow, challenge, client));
  };
}

/** Saves a login answer; a lost race (another accept/reject first) is a 409 like a second answer. */
async function answerLogin(deps: Deps, flow: Flow, next: Flow, verifier: string): Promise<Response> {
  const saved = await saveFlow(deps.db, next, ["login_requested"], deps.clock.now());
  if (!saved) throw conflict();
  return json({ redirect_to: withQuery(flow.request.requestUrl, "login_verifier", verifier) });
}

export function acceptLoginRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "login_challenge");
    const input = await readAcceptLogin(req);
    const now = deps.clock.now();
    const verifier = newFlowValue(deps.config, "login_verifier");
    // The common case, a login that was not skipped, in one statement; anything else (unknown,
    // skipped, answered already) reads the flow and decides as acceptLogin says.
    const fresh = acceptFreshLogin(input, verifier.signature, now);
    const signatures = challengeSignatures(deps, "login_challenge", challenge);
    const request = signatures.length > 0 ? await answerFreshLogin(deps.db, signatures, fresh, now) : undefined;
    if (request) return json({ redirect_to: withQuery(request.requestUrl, "login_verifier", verifier.value) });
    const flow = await loginFlow(deps, challenge);
    return answerLogin(deps, flow, acceptLogin(flow, input, verifier.signature, now), verifier.value);
  };
}

export function rejectLoginRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "login_challenge");
    const denied = deniedError(await readReject(req), "login request denied");
    const flow = await loginFlow(deps, challenge);
    const verifier = newFlowValue(deps.config, "login_verifier");
    return answerLogin(deps, flow, rejectLogin(flow, denied, verifier.signature), verifier.value);
  };
}

export function getConsentRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "consent_challenge");
    const { flow, client } = await flowWithClient(deps, "consent_challenge", challenge);
    if (!consentVisibleStates.includes(flow.state)) return gone(flow);
    if (!client) throw notFound();
    return json(consentRequestWire(deps, flow, challenge, client));
  };
}

/** The consent verifier: one per consent request, so a repeated answer redirects with the same one. */
function consentVerifier(deps: Deps, flow: Flow): { value: string; signature: string; sealed: string } {
  if (flow.consentVerifierSealed && flow.consentVerifier) {
    return { value: unsealFlowValue(deps.config, flow.consentVerifierSealed), signature: flow.consentVerifier, sealed: flow.consentVerifierSealed };
  }
  return newFlowValue(deps.config, "consent_verifier");
}

async function answerConsent(
  deps: Deps,
  challenge: string,
  firstAnswer: (verifier: { signature: string; sealed: string }) => ConsentAnswer,
  answer: (flow: Flow, verifier: { signature: string; sealed: string }) => Flow,
): Promise<Response> {
  // The first answer (no verifier yet) in one statement; a repeated one reads the flow for its verifier.
  const signatures = challengeSignatures(deps, "consent_challenge", challenge);
  if (signatures.length > 0) {
    const verifier = newFlowValue(deps.config, "consent_verifier");
    const request = await answerFirstConsent(deps.db, signatures, firstAnswer(verifier), challenge, deps.clock.now());
    if (request) return json({ redirect_to: withQuery(request.requestUrl, "consent_verifier", verifier.value) });
  }
  // Two tries: a concurrent first answer may mint the verifier between our read and write.
  for (let attempt = 0; attempt < 2; attempt++) {
    const flow = await consentFlow(deps, challenge);
    const verifier = consentVerifier(deps, flow);
    // The challenge is the request_id of everything the flow issues: kept now, so that the
    // redemption does not need another write to record it.
    const next = { ...answer(flow, verifier), requestId: challenge };
    const saved = await saveFlow(deps.db, next, consentVisibleStates as FlowState[], deps.clock.now(), flow.consentVerifier ?? null);
    if (saved) return json({ redirect_to: withQuery(flow.request.requestUrl, "consent_verifier", verifier.value) });
  }
  // Redeemed in between: as an answer after use.
  throw conflict(undefined, { hint: "The consent request was already used and can no longer be changed." });
}

export function acceptConsentRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "consent_challenge");
    const input = await readAcceptConsent(req);
    return answerConsent(
      deps,
      challenge,
      (verifier) => consentAccepted(input, verifier, deps.clock.now()),
      (flow, verifier) => acceptConsent(flow, input, verifier, deps.clock.now()),
    );
  };
}

export function rejectConsentRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "consent_challenge");
    const denied = deniedError(await readReject(req), "consent request denied");
    return answerConsent(
      deps,
      challenge,
      (verifier) => consentRejected(denied, verifier, deps.clock.now()),
      (flow, verifier) => rejectConsent(flow, denied, verifier, deps.clock.now()),
    );
  };
}

function subjectOf(query: URLSearchParams): string {
  const subject = query.get("subject");
  if (!subject) throw invalidRequest(undefined, { hint: "Query parameter 'subject' is not defined but should have been." });
  return subject;
}

/** GET /oauth2/auth/sessions/consent: a subject's granted consent (Hydra PreviousConsentSession). */
export function listSubjectConsentSessions(deps: Deps): Handler {
  return async (req) => {
    const url = new URL(req.url);
    const subject = subjectOf(url.searchParams);
    const { limit, offset } = parsePage(url.searchParams, 100, 500);
    const { flows, total } = await listConsentSessions(deps.db, subject, limit, offset, deps.clock.now());
    const clients = new Map<string, StoredClient | undefined>();
    const items = [];
    for (const flow of flows) {
      if (!clients.has(flow.clientId)) clients.set(flow.clientId, await getClient(deps.db, flow.clientId));
      const client = clients.get(flow.clientId);
      const granted = flow.consent && "accepted" in flow.consent ? flow.consent.accepted : undefined;
      if (!client || !granted || !flow.consentChallengeSealed) continue;
      items.push({
        grant_scope: granted.grantScope,
        grant_access_token_audience: granted.grantAudience,
        session: granted.session,
        remember: granted.remember,
        remember_for: granted.rememberFor,
        handled_at: granted.handledAt,
        consent_request: consentRequestWire(deps, flow, unsealFlowValue(deps.config, flow.consentChallengeSealed), client),
      });
    }
    return json(items, 200, paginationHeaders(url, total, limit, offset));
  };
}

/**
 * DELETE /oauth2/auth/sessions/consent?subject=&client= (or &all=true): deletes the consent
 * and revokes what it issued — access and refresh tokens (oauth2/store.ts revokeGrant) and
 * unredeemed codes — in one transaction. 204 even when there was nothing (Hydra).
 */
export function revokeConsentSessions(deps: Deps): Handler {
  return async (req) => {
    const query = new URL(req.url).searchParams;
    const subject = subjectOf(query);
    const client = query.get("client") || undefined;
    const all = query.get("all") === "true";
    if (!client && !all) {
      throw invalidRequest(undefined, { hint: "Query parameter both 'client' and 'all' is not defined but one of them should have been." });
    }
    await deps.db.transaction(async (txRaw) => {
      const tx = txRaw as unknown as Db;
      const deleted = await deleteConsentSessions(tx, subject, client);
      for (const d of deleted) {
        if (!d.requestId) continue;
        await revokeGrant(tx, d.requestId, d.clientId);
        await deleteAuthorizationCodesOfRequest(tx, d.requestId);
      }
    });
    return new Response(null, { status: 204 });
  };
}

/**
 * DELETE /oauth2/auth/sessions/login?subject= ends every login session of the subject;
 * ?sid= (Gatehouse) ends one (of that subject, when both are given). Unlike Hydra v1, the
 * clients that received tokens in those sessions are sent a back-channel logout (in the
 * background; the answer does not wait for them). 204 even when there was nothing.
 */
export function revokeAuthenticationSession(deps: Deps): Handler {
  return async (req) => {
    const query = new URL(req.url).searchParams;
    const sid = query.get("sid") || undefined;
    const subject = sid === undefined ? subjectOf(query) : query.get("subject") || undefined;
    const ended = sid === undefined ? await deleteLoginSessionsOfSubject(deps.db, subject!) : [await deleteLoginSessionById(deps.db, sid, subject)].filter((s) => s !== undefined);
    await backchannelLogoutSessions(deps, ended);
    return new Response(null, { status: 204 });
  };
}

// ---- logout requests (flows/logout-request.ts; the public side is flows/logout.ts) ----

async function logoutRequestOf(deps: Deps, challenge: string): Promise<LogoutRequest> {
  const request = challenge.length <= 256 ? await getLogoutRequestByChallenge(deps.db, flowSignatures(deps.config, "logout_challenge", challenge)) : undefined;
  if (!request) throw notFound();
  return request;
}

/** 410 once the verifier was redeemed, as Hydra's RequestWasHandledResponse. */
function logoutGone(request: LogoutRequest): Response {
  return json({ redirect_to: request.requestUrl }, 410);
}

/** Hydra's LogoutRequest: {challenge, subject, sid, request_url, rp_initiated, client|null}; the client without secret. */
export function getLogoutRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "logout_challenge");
    const request = await logoutRequestOf(deps, challenge);
    const visibility = logoutVisibility(request, deps.clock.now());
    if (visibility === "gone") return logoutGone(request);
    if (visibility === "invisible") throw notFound();
    const client = request.clientId ? await getClient(deps.db, request.clientId) : undefined;
    return json({
      challenge,
      subject: request.subject,
      sid: request.sid,
      request_url: request.requestUrl,
      rp_initiated: request.rpInitiated,
      client: client ? toWire(client) : null,
    });
  };
}

/** PUT logout/accept: no body; 200 {"redirect_to": "<public>/oauth2/sessions/logout?logout_verifier=…"}. */
export function acceptLogoutRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "logout_challenge");
    const request = await logoutRequestOf(deps, challenge);
    const now = deps.clock.now();
    if (logoutVisibility(request, now) === "gone") return logoutGone(request);
    const verifier = newLogoutValue(deps.config, "logout_verifier");
    const saved = await saveLogoutRequest(deps.db, acceptLogout(request, verifier.signature, now), "requested", now);
    if (!saved) throw conflict(undefined, { hint: "The logout request was already answered." });
    return json({ redirect_to: withQuery(endSessionUrl(deps.config), "logout_verifier", verifier.value) });
  };
}

/** PUT logout/reject: 204; the request disappears (Hydra ignores any body). */
export function rejectLogoutRequest(deps: Deps): Handler {
  return async (req) => {
    const challenge = challengeOf(req, "logout_challenge");
    await req.body?.cancel().catch(() => {});
    const request = await logoutRequestOf(deps, challenge);
    const now = deps.clock.now();
    if (logoutVisibility(request, now) === "gone") return logoutGone(request);
    const saved = await saveLogoutRequest(deps.db, rejectLogout(request, now), "requested", now);
    if (!saved) throw conflict(undefined, { hint: "The logout request was already answered." });
    return new Response(null, { status: 204 });
  };
}

export function flowRoutes(deps: Deps): RouteTable {
  return {
    [loginRequestPath]: { GET: getLoginRequest(deps) },
    [`${loginRequestPath}/accept`]: { PUT: acceptLoginRequest(deps) },
    [`${loginRequestPath}/reject`]: { PUT: rejectLoginRequest(deps) },
    [consentRequestPath]: { GET: getConsentRequest(deps) },
    [`${consentRequestPath}/accept`]: { PUT: acceptConsentRequest(deps) },
    [`${consentRequestPath}/reject`]: { PUT: rejectConsentRequest(deps) },
    [logoutRequestPath]: { GET: getLogoutRequest(deps) },
    [`${logoutRequestPath}/accept`]: { PUT: acceptLogoutRequest(deps) },
    [`${logoutRequestPath}/reject`]: { PUT: rejectLogoutRequest(deps) },
    [`${sessionsPath}/consent`]: { GET: listSubjectConsentSessions(deps), DELETE: revokeConsentSessions(deps) },
    [`${sessionsPath}/login`]: { DELETE: revokeAuthenticationSession(deps) },
  };
}

