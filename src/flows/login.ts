/**
 * @module The login half of the browser flow (Hydra consent/strategy_default.go
 * requestAuthentication, verifyAuthentication): decide whether the user must log in or a
 * remembered session can be reused, hand the login to the operator's app through a login
 * challenge, and redeem the login verifier it sends the browser back with.
 */
import { randomUUID } from "node:crypto";
import type { StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { invalidClient, OAuthError, serverError } from "../errors.ts";
import { AuthorizeRequestError, targetOf, type StoredAuthorizeRequest } from "../oauth2/authorize-request.ts";
import type { Db } from "../storage/db.ts";
import { flowSignature, flowSignatures, newFlowValue, randomFlowValue } from "./challenge.ts";
import { csrfMatches, csrfMismatch, requestExpired } from "./checks.ts";
import { requestConsent } from "./consent.ts";
import { deleteCookie, loginCsrfCookieName, sessionCookieName, setCookie, signCookieValue, verifyCookieValue } from "./cookies.ts";
import { truncateToSecond, type Flow, deniedToOAuthError } from "./flow.ts";
import { subjectIdentifier } from "./pairwise.ts";
import {
  deleteLoginSession,
  failRedeemedFlow,
  getFlowToRedeem,
  getForcedSubject,
  getRememberedLoginSession,
  insertFlow,
  saveLoginRedeemed,
  type LoginRedemptionWrites,
  type LoginSession,
  type RememberedConsent,
} from "./store.ts";
import { loginSessionExpiry } from "./login-session-expiry.ts";
import { loginUrl, withQuery } from "./urls.ts";

type FlowDeps = Pick<Deps, "config" | "db" | "clock" | "mode">;

export const loginRequired = (hint: string) =>
  new OAuthError("login_required", 400, "The Authorization Server requires End-User authentication.", { hint });

/** The remembered login session the request's cookie points at, if any. */
export async function sessionFromCookie(deps: FlowDeps, cookies: Map<string, string>, now: Date): Promise<LoginSession | undefined> {
  const sid = verifyCookieValue(deps.config, cookies.get(sessionCookieName(deps.config)));
  return sid ? getRememberedLoginSession(deps.db, sid, now) : undefined;
}

/**
 * Hydra revokeAuthenticationSession: forgets the session the cookie points at (row and
 * cookie), e.g. when the user logs in without "remember me" or the subjects got mixed up.
 */
async function revokeCookieSession(deps: FlowDeps, db: Db, cookies: Map<string, string>, headers: Headers): Promise<void> {
  const name = sessionCookieName(deps.config);
  const sid = verifyCookieValue(deps.config, cookies.get(name));
  if (sid) await deleteLoginSession(db, sid);
  if (cookies.has(name)) headers.append("Set-Cookie", deleteCookie(deps.config, name));
}

/** Whether an id_token_hint's subject names the session's user (plain, pairwise or forced form). */
async function hintMatchesSession(deps: FlowDeps, client: StoredClient, hintSubject: string, sessionSubject: string): Promise<boolean> {
  if (hintSubject === sessionSubject) return true;
  if (hintSubject === subjectIdentifier(deps.config, client, sessionSubject, undefined)) return true;
  return (await getForcedSubject(deps.db, client.clientId, sessionSubject)) === hintSubject;
}

/**
 * Step 1 (no verifier yet): starts a flow and sends the browser to the login app with a
 * login challenge. A remembered session gives skip=true, unless prompt=login, max_age or an
 * id_token_hint for someone else rules it out.
 */
export async function startLogin(
  deps: FlowDeps,
  request: StoredAuthorizeRequest,
  client: StoredClient,
  cookies: Map<string, string>,
  now: Date,
): Promise<Response> {
  const target = targetOf(request);
  const none = request.prompt.includes("none");
  let session = request.prompt.includes("login") ? undefined : await sessionFromCookie(deps, cookies, now);
  if (session && request.maxAge !== null) {
    // OIDC Core §3.1.2.1; max_age=0 asks for a fresh login (OIDC Core errata: like prompt=login).
    const tooOld = request.maxAge === 0 || session.authenticatedAt.getTime() + request.maxAge * 1000 < now.getTime();
    if (tooOld) {
      if (none) throw new AuthorizeRequestError(loginRequired("Request failed because prompt is set to 'none' and authentication time reached 'max_age'."), target);
      session = undefined;
    }
  }
  if (session && request.idTokenHintSubject !== null && !(await hintMatchesSession(deps, client, request.idTokenHintSubject, session.subject))) {
    throw new AuthorizeRequestError(
      loginRequired("Request failed because subject claim from id_token_hint does not match subject from authentication session."),
      target,
    );
  }
  if (none && !session) throw new AuthorizeRequestError(loginRequired("Prompt 'none' was requested, but no existing login session was found."), target);

  const challenge = newFlowValue(deps.config, "login_challenge");
  const csrf = randomFlowValue();
  const flow: Flow = {
    id: randomUUID(),
    state: "login_requested",
    clientId: client.clientId,
    subject: session?.subject ?? "",
    loginSessionId: session?.id ?? randomUUID(),
    // Truncated as Hydra's RequestedAt, so auth_time ≥ rat holds for a login in the same second.
    requestedAt: truncateToSecond(now),
    request,
    loginChallenge: challenge.signature,
    loginChallengeSealed: challenge.sealed,
    loginCsrf: flowSignature(deps.config, "login_csrf", csrf),
    loginVerifier: undefined,
    loginSkip: session !== undefined,
    authenticatedAt: session?.authenticatedAt,
    login: undefined,
    consentChallenge: undefined,
    consentChallengeSealed: undefined,
    consentCsrf: undefined,
    consentVerifier: undefined,
    consentVerifierSealed: undefined,
    consentSkip: false,
    consent: undefined,
    consentHandledAt: undefined,
    subjectIdentifier: undefined,
    requestId: undefined,
  };
  await insertFlow(deps.db, flow, now);
  const headers = new Headers({ Location: withQuery(loginUrl(deps.config), "login_challenge", challenge.value), "Cache-Control": "no-store" });
  headers.append(
    "Set-Cookie",
    setCookie(deps.config, loginCsrfCookieName(deps.config, challenge.signature), signCookieValue(deps.config, csrf), deps.config.ttl.login_consent_request / 1000),
  );
  return new Response(null, { status: 302, headers });
}

/** fosite ValidatePrompt, after the login: the authentication must fit prompt, max_age and id_token_hint. */
function checkAuthentication(request: StoredAuthorizeRequest, authTime: Date, requestedAt: Date, subjectId: string, now: Date): void {
  // Five seconds of wiggle room, as fosite.
  if (authTime.getTime() > now.getTime() + 5000) {
    throw serverError(undefined, { debug: "Failed to validate OpenID Connect request because authentication time is in the future." });
  }
  if (request.maxAge !== null && request.maxAge > 0 && authTime.getTime() + request.maxAge * 1000 < requestedAt.getTime()) {
    throw loginRequired("Failed to validate OpenID Connect request because authentication time does not satisfy max_age time.");
  }
  if (request.prompt.includes("none") && authTime.getTime() > requestedAt.getTime()) {
    throw loginRequired("Failed to validate OpenID Connect request because prompt was set to 'none' but auth_time happened after the authorization request was registered.");
  }
  if (request.prompt.includes("login") && authTime.getTime() < requestedAt.getTime()) {
    throw loginRequired("Failed to validate OpenID Connect request because prompt was set to 'login' but auth_time happened before the authorization request was registered.");
  }
  if (request.idTokenHintSubject !== null && request.idTokenHintSubject !== subjectId) {
    throw loginRequired("Failed to validate OpenID Connect request because the subject from provided id token from id_token_hint does not match the current session's subject.");
  }
}

/**
 * Step 3: the browser is back with a login verifier. Reads its flow (with the client and the
 * remembered consent step 4 may reuse), checks expiry, CSRF and the authentication, and then
 * redeems it and moves on to consent in ONE statement with what the login leaves behind
 * (flows/store.ts saveLoginRedeemed); a failed check is redeemed too, as a failed flow.
 * undefined when the verifier is unknown or spent, also when another request redeems it
 * first (the caller answers access_denied).
 */
export async function redeemLoginVerifier(deps: FlowDeps, verifier: string, cookies: Map<string, string>, now: Date): Promise<Response | undefined> {
  const found = await getFlowToRedeem(deps.db, "loginVerifier", flowSignatures(deps.config, "login_verifier", verifier));
  if (!found) return undefined;
  const { flow: read, client, remembered } = found;
  const target = targetOf(read.request);
  const headers = new Headers();
  // The CSRF cookie of this step is spent either way.
  const csrfName = loginCsrfCookieName(deps.config, read.loginChallenge);
  const csrfCookie = cookies.get(csrfName);
  if (csrfCookie !== undefined) headers.append("Set-Cookie", deleteCookie(deps.config, csrfName));

  if (read.state === "login_rejected") {
    if (!(await failRedeemedFlow(deps.db, read, now))) return undefined;
    const denied = read.login && "denied" in read.login ? read.login.denied : undefined;
    throw new AuthorizeRequestError(denied ? deniedToOAuthError(denied) : serverError(), target, headers);
  }
  let step: LoginRedemption;
  try {
    step = continueToConsent(deps, { ...read, state: "login_used" }, client, remembered, cookies, headers, csrfCookie, now);
  } catch (err) {
    // The verifier is spent and the flow ends here. Something off with who is logged in also
    // forgets the session, to be safe (Hydra), in the same transaction.
    const forget = err instanceof OAuthError && err.code === "login_required";
    const failed = await deps.db.transaction(async (txRaw) => {
      const tx = txRaw as unknown as Db;
      if (!(await failRedeemedFlow(tx, read, now))) return false;
      if (forget) await revokeCookieSession(deps, tx, cookies, headers);
      return true;
    });
    if (!failed) return undefined;
    throw err instanceof OAuthError ? new AuthorizeRequestError(err, target, headers) : err;
  }
  if (!(await saveLoginRedeemed(deps.db, step.next, step.writes, now))) return undefined;
  return step.response;
}

/** What a redeemed login saves (the flow at consent_requested, and the login's rows) and answers. */
interface LoginRedemption {
  next: Flow;
  writes: LoginRedemptionWrites;
  response: Response;
}

/** Step 3 on the flow read at login_accepted (`claimed`, at login_used): the checks, then step 4; writes nothing. */
function continueToConsent(
  deps: FlowDeps,
  claimed: Flow,
  client: StoredClient | undefined,
  remembered: RememberedConsent | undefined,
  cookies: Map<string, string>,
  headers: Headers,
  csrfCookie: string | undefined,
  now: Date,
): LoginRedemption {
  if (claimed.requestedAt.getTime() + deps.config.ttl.login_consent_request < now.getTime()) throw requestExpired("login");
  if (!csrfMatches(deps, "login_csrf", csrfCookie, claimed.loginCsrf)) throw csrfMismatch();
  const accepted = claimed.login && "accepted" in claimed.login ? claimed.login.accepted : undefined;
  if (!accepted || !claimed.authenticatedAt) throw serverError(undefined, { debug: "a redeemed login has no accepted login" });
  if (!client) throw invalidClient(undefined, { hint: "The requested OAuth 2.0 Client does not exist." });
  const subjectId = subjectIdentifier(deps.config, client, accepted.subject, accepted.forceSubjectIdentifier || undefined);
  checkAuthentication(claimed.request, claimed.authenticatedAt, claimed.requestedAt, subjectId, now);

  const writes: LoginRedemptionWrites = { session: undefined, forcedSubject: accepted.forceSubjectIdentifier || undefined, forgetSession: undefined };
  const { next, response } = requestConsent(deps, { flow: claimed, client, accepted, subjectId, remembered, cookies, headers, now }, () => {
    if (claimed.loginSkip) return;
    // A login that is not remembered gets a row too: it is what the `sid` of the ID tokens
    // names, so that RP-initiated logout and DELETE sessions/login can end it with front-
    // and back-channel logout (Hydra misses this case, hydra-v1 §7 #3132). It never lets a
    // flow skip the login, and remember_for (the cookie's lifetime) does not apply to it; its
    // row expires with the tokens of that login (login-session-expiry.ts).
    writes.session = {
      id: claimed.loginSessionId,
      subject: accepted.subject,
      authenticatedAt: claimed.authenticatedAt!,
      remember: accepted.remember,
      expiresAt: loginSessionExpiry(deps.config, accepted, claimed.authenticatedAt!),
    };
    const name = sessionCookieName(deps.config);
    if (accepted.remember) {
      headers.append(
        "Set-Cookie",
        setCookie(deps.config, name, signCookieValue(deps.config, claimed.loginSessionId), accepted.rememberFor > 0 ? accepted.rememberFor : undefined),
      );
    } else {
      // Not remembered: any earlier session of this browser is forgotten too (Hydra).
      const previous = verifyCookieValue(deps.config, cookies.get(name));
      if (previous && previous !== claimed.loginSessionId) writes.forgetSession = previous;
      if (cookies.has(name)) headers.append("Set-Cookie", deleteCookie(deps.config, name));
    }
  });
  return { next, writes, response };
}
