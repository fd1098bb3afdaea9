/**
 * @module One authorization flow as a state machine (Hydra's flow/flow.go): its states, the
 * login and consent results it carries, and pure transition functions. store.ts saves each
 * transition with a conditional UPDATE on the expected state, so two racing requests can
 * never both move a flow; verifiers are claimed the same way, so each is redeemed once.
 *
 * stateDiagram-v2
 *   [*] --> login_requested: GET /oauth2/auth (login challenge, CSRF cookie)
 *   login_requested --> login_accepted: PUT login/accept (login verifier issued)
 *   login_requested --> login_rejected: PUT login/reject (login verifier issued)
 *   login_accepted --> login_used: login_verifier redeemed (claimed once)
 *   login_rejected --> login_failed: login_verifier redeemed (error sent to the client)
 *   login_used --> consent_requested: checks passed (consent challenge, CSRF cookie)
 *   login_used --> login_failed: expired, CSRF mismatch, prompt/subject checks failed
 *   consent_requested --> consent_accepted: PUT consent/accept (consent verifier issued)
 *   consent_requested --> consent_rejected: PUT consent/reject (consent verifier issued)
 *   consent_accepted --> consent_accepted: PUT consent/accept again (same verifier)
 *   consent_accepted --> consent_rejected: PUT consent/reject (same verifier)
 *   consent_rejected --> consent_accepted: PUT consent/accept (same verifier)
 *   consent_accepted --> consent_used: consent_verifier redeemed (claimed once; response issued)
 *   consent_rejected --> consent_failed: consent_verifier redeemed (error sent to the client)
 *   consent_used --> consent_failed: expired or CSRF mismatch (nothing issued)
 *   consent_used --> [*]
 *   login_failed --> [*]
 *   consent_failed --> [*]
 */
import { conflict, invalidRequest, OAuthError } from "../errors.ts";
import type { StoredAuthorizeRequest } from "../oauth2/authorize-request.ts";

export const flowStates = [
  "login_requested",
  "login_accepted",
  "login_rejected",
  "login_used",
  "login_failed",
  "consent_requested",
  "consent_accepted",
  "consent_rejected",
  "consent_used",
  "consent_failed",
] as const;
export type FlowState = (typeof flowStates)[number];

/** States in which the login app may still GET the login request (Hydra: not yet "was_handled"). */
export const loginVisibleStates: readonly FlowState[] = ["login_requested", "login_accepted", "login_rejected"];
/** States in which the consent app may still GET the consent request. */
export const consentVisibleStates: readonly FlowState[] = ["consent_requested", "consent_accepted", "consent_rejected"];

/** Hydra's RequestDeniedError, as the login/consent app sent it (defaults applied). */
export interface DeniedError {
  error: string;
  error_description: string;
  error_hint: string;
  status_code: number;
  error_debug: string;
}

/** What the login app accepted (Hydra HandledLoginRequest). */
export interface HandledLogin {
  subject: string;
  remember: boolean;
  /** Seconds; 0 = for the browser session. */
  rememberFor: number;
  acr: string;
  amr: string[];
  /** Passed on to the consent request; undefined when not sent. */
  context: unknown;
  forceSubjectIdentifier: string;
  /** ISO time of the authentication (the remembered session's when skipped). */
  authenticatedAt: string;
}

/** Hydra's ConsentRequestSessionData. */
export interface ConsentSessionData {
  access_token: Record<string, unknown>;
  id_token: Record<string, unknown>;
}

/** What the consent app granted (Hydra HandledConsentRequest). */
export interface HandledConsent {
  grantScope: string[];
  grantAudience: string[];
  remember: boolean;
  /** Seconds; 0 = forever. */
  rememberFor: number;
  session: ConsentSessionData;
  /** ISO time. */
  handledAt: string;
}

export type LoginResult = { accepted: HandledLogin } | { denied: DeniedError };
export type ConsentResult = { accepted: HandledConsent } | { denied: DeniedError };

export interface Flow {
  id: string;
  state: FlowState;
  clientId: string;
  /** Local subject: the remembered one (skip) until the login is accepted, then the accepted one. */
  subject: string;
  /** `sid`: the login session this flow belongs to. */
  loginSessionId: string;
  requestedAt: Date;
  request: StoredAuthorizeRequest;

  /** HMAC signatures (flows/challenge.ts), never the values themselves. */
  loginChallenge: string;
  loginChallengeSealed: string;
  loginCsrf: string;
  loginVerifier: string | undefined;
  loginSkip: boolean;
  /** The remembered session's auth time (skip), then the accepted login's. */
  authenticatedAt: Date | undefined;
  login: LoginResult | undefined;

  consentChallenge: string | undefined;
  consentChallengeSealed: string | undefined;
  consentCsrf: string | undefined;
  consentVerifier: string | undefined;
  consentVerifierSealed: string | undefined;
  consentSkip: boolean;
  consent: ConsentResult | undefined;
  consentHandledAt: Date | undefined;

  /** The subject as the client sees it (pairwise or forced), from the login redemption on. */
  subjectIdentifier: string | undefined;
  /** The consent challenge, once consent was answered (the request_id of what the flow issues). */
  requestId: string | undefined;
}

/** Hydra's RequestDeniedError defaults: SetDefaults(name) then status 400. */
export function deniedError(input: Partial<DeniedError>, defaultName: string): DeniedError {
  return {
    error: input.error || defaultName,
    error_description: input.error_description ?? "",
    error_hint: input.error_hint ?? "",
    status_code: input.status_code || 400,
    error_debug: input.error_debug ?? "",
  };
}

/** A denial as the error delivered to the client (Hydra toRFCError). */
export function deniedToOAuthError(denied: DeniedError): OAuthError {
  return new OAuthError(denied.error || "request_denied", denied.status_code || 400, denied.error_description, {
    hint: denied.error_hint || undefined,
    debug: denied.error_debug || undefined,
  });
}

export interface AcceptLoginInput {
  subject: string;
  remember: boolean;
  rememberFor: number;
  acr: string;
  amr: string[];
  context: unknown;
  forceSubjectIdentifier: string;
}

/** What a login answer changes in its flow. */
export type LoginAnswer = Pick<Flow, "state" | "subject" | "loginVerifier" | "authenticatedAt" | "login">;

/**
 * PUT login/accept of a login that was not skipped (no remembered session): the answer does
 * not depend on the flow beyond its awaiting it, so store.ts can apply it by challenge
 * without reading the flow first. The same as acceptLogin on such a flow.
 */
export function acceptFreshLogin(input: AcceptLoginInput, verifier: string, now: Date): LoginAnswer {
  if (!input.subject) throw invalidRequest(undefined, { hint: "Field 'subject' must not be empty." });
  const authenticatedAt = truncateToSecond(now);
  return {
    state: "login_accepted",
    subject: input.subject,
    loginVerifier: verifier,
    authenticatedAt,
    login: { accepted: { ...input, authenticatedAt: authenticatedAt.toISOString() } },
  };
}

/** A login can be answered once (Hydra: the handled row is a unique insert → 409). */
function mustAwaitLogin(flow: Flow): void {
  if (flow.state !== "login_requested") throw conflict();
}

/**
 * PUT login/accept. When the login was skipped, the subject must be the remembered one, the
 * session stays remembered and keeps its auth time (Hydra AcceptLoginRequest).
 */
export function acceptLogin(flow: Flow, input: AcceptLoginInput, verifier: string, now: Date): Flow {
  mustAwaitLogin(flow);
  if (!input.subject) throw invalidRequest(undefined, { hint: "Field 'subject' must not be empty." });
  if (flow.subject && input.subject !== flow.subject) {
    throw invalidRequest(undefined, { hint: "Field 'subject' does not match subject from previous authentication." });
  }
  const authenticatedAt = flow.loginSkip && flow.authenticatedAt ? flow.authenticatedAt : truncateToSecond(now);
  return {
    ...flow,
    state: "login_accepted",
    subject: input.subject,
    loginVerifier: verifier,
    authenticatedAt,
    login: {
      accepted: {
        ...input,
        remember: flow.loginSkip ? true : input.remember,
        authenticatedAt: authenticatedAt.toISOString(),
      },
    },
  };
}

export function rejectLogin(flow: Flow, denied: DeniedError, verifier: string): Flow {
  mustAwaitLogin(flow);
  return { ...flow, state: "login_rejected", loginVerifier: verifier, login: { denied } };
}

/** The login verifier was redeemed and every check passed: ask for consent. */
export function requestConsent(
  flow: Flow,
  next: { challenge: string; challengeSealed: string; csrf: string; skip: boolean; subjectIdentifier: string },
): Flow {
  if (flow.state !== "login_used") throw new Error(`requestConsent from state ${flow.state}`);
  return {
    ...flow,
    state: "consent_requested",
    consentChallenge: next.challenge,
    consentChallengeSealed: next.challengeSealed,
    consentCsrf: next.csrf,
    consentSkip: next.skip,
    subjectIdentifier: next.subjectIdentifier,
  };
}

/** A verifier was redeemed but the flow cannot go on; nothing more happens with it. */
export function failFlow(flow: Flow): Flow {
  if (flow.state === "login_used") return { ...flow, state: "login_failed" };
  if (flow.state === "consent_used") return { ...flow, state: "consent_failed" };
  throw new Error(`failFlow from state ${flow.state}`);
}

/** Consent may be answered again until its verifier is redeemed (Hydra HandleConsentRequest). */
function mustAwaitConsent(flow: Flow): void {
  if (!consentVisibleStates.includes(flow.state)) {
    if (flow.state === "consent_used" || flow.state === "consent_failed") {
      throw conflict(undefined, { hint: "The consent request was already used and can no longer be changed." });
    }
    throw conflict();
  }
}

export interface AcceptConsentInput {
  grantScope: string[];
  grantAudience: string[];
  remember: boolean;
  rememberFor: number;
  session: ConsentSessionData;
}

/**
 * What a consent answer changes in its flow. It depends on the flow only through its state,
 * so a first answer can be applied by challenge without reading the flow (store.ts).
 */
export type ConsentAnswer = Pick<Flow, "state" | "consentVerifier" | "consentVerifierSealed" | "consentHandledAt" | "consent">;

export function consentAccepted(input: AcceptConsentInput, verifier: { signature: string; sealed: string }, now: Date): ConsentAnswer {
  return {
    state: "consent_accepted",
    consentVerifier: verifier.signature,
    consentVerifierSealed: verifier.sealed,
    consentHandledAt: now,
    consent: { accepted: { ...input, handledAt: now.toISOString() } },
  };
}

export function consentRejected(denied: DeniedError, verifier: { signature: string; sealed: string }, now: Date): ConsentAnswer {
  return { state: "consent_rejected", consentVerifier: verifier.signature, consentVerifierSealed: verifier.sealed, consentHandledAt: now, consent: { denied } };
}

export function acceptConsent(flow: Flow, input: AcceptConsentInput, verifier: { signature: string; sealed: string }, now: Date): Flow {
  mustAwaitConsent(flow);
  return { ...flow, ...consentAccepted(input, verifier, now) };
}

export function rejectConsent(flow: Flow, denied: DeniedError, verifier: { signature: string; sealed: string }, now: Date): Flow {
  mustAwaitConsent(flow);
  return { ...flow, ...consentRejected(denied, verifier, now) };
}

/** The consent verifier was redeemed: the flow is done and its tokens carry `requestId`. */
export function completeConsent(flow: Flow, requestId: string): Flow {
  if (flow.state !== "consent_used") throw new Error(`completeConsent from state ${flow.state}`);
  return { ...flow, requestId };
}

/** Hydra truncates auth times to the second (the ID token's auth_time has seconds only). */
export function truncateToSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}
