/**
 * @module The consent half of the browser flow (Hydra requestConsent, verifyConsent): ask
 * the operator's consent app through a consent challenge (skip=true when a remembered
 * consent already covers the request), and redeem the consent verifier it sends back.
 */
import { isPublicClient, type StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { invalidClient, OAuthError, serverError } from "../errors.ts";
import { AuthorizeRequestError, targetOf } from "../oauth2/authorize-request.ts";
import { isStrictlySecureRedirectUri } from "../oauth2/redirect-uri.ts";
import { audienceAllowed, scopeAllowed } from "../oauth2/scopes.ts";
import { flowSignature, flowSignatures, newFlowValue, randomFlowValue, unsealFlowValue } from "./challenge.ts";
import { consentCsrfCookieName, deleteCookie, setCookie, signCookieValue } from "./cookies.ts";
import { completeConsent, deniedToOAuthError, requestConsent as toConsentRequested, type Flow, type HandledConsent, type HandledLogin } from "./flow.ts";
import { csrfMatches, csrfMismatch, requestExpired } from "./checks.ts";
import { failRedeemedFlow, getFlowToRedeem, type RememberedConsent } from "./store.ts";
import { consentUrl, withQuery } from "./urls.ts";

type FlowDeps = Pick<Deps, "config" | "db" | "clock" | "mode">;

export const consentRequired = (hint: string) => new OAuthError("consent_required", 400, "The Authorization Server requires End-User consent.", { hint });

/** Whether an earlier grant covers every requested scope (scope strategy) and audience. */
function covers(deps: FlowDeps, granted: HandledConsent, flow: Flow): boolean {
  return (
    flow.request.scope.every((s) => scopeAllowed(deps.config.strategies.scope, granted.grantScope, s)) &&
    flow.request.audience.every((a) => audienceAllowed(granted.grantAudience, a))
  );
}

/**
 * Whether the remembered consent read with the flow (flows/store.ts getFlowToRedeem: the newest
 * remembered one of the subject for the client) still holds and covers the request. RFC 6749
 * §10.2 / RFC 8252 §8.6: a public client whose redirect URI does not prove its identity (not
 * https, not loopback) is always asked for consent (Hydra requestConsent).
 */
function rememberedConsent(deps: FlowDeps, flow: Flow, client: StoredClient, remembered: RememberedConsent | undefined, now: Date): boolean {
  if (flow.request.prompt.includes("consent")) return false;
  if (isPublicClient(client) && !isStrictlySecureRedirectUri(flow.request.redirectUri)) return false;
  const granted = remembered?.consent && "accepted" in remembered.consent ? remembered.consent.accepted : undefined;
  if (!granted || !remembered?.handledAt) return false;
  // remember_for 0 = forever; otherwise it runs from when the consent was given.
  if (granted.rememberFor > 0 && remembered.handledAt.getTime() + granted.rememberFor * 1000 < now.getTime()) return false;
  return covers(deps, granted, flow);
}

export interface ConsentStep {
  /** The flow at login_used: its login verifier is being redeemed (saved with the result). */
  flow: Flow;
  client: StoredClient;
  accepted: HandledLogin;
  subjectId: string;
  /** The newest remembered consent of the subject for the client, read with the flow. */
  remembered: RememberedConsent | undefined;
  cookies: Map<string, string>;
  /** Collects Set-Cookie headers of the whole step. */
  headers: Headers;
  now: Date;
}

/**
 * Step 4: the consent request, and the redirect to the consent app. Writes nothing: the caller
 * saves `next` with the login redemption (flows/store.ts saveLoginRedeemed); `persistLogin` adds
 * what the login step remembers (its cookies), once consent can go on.
 */
export function requestConsent(deps: FlowDeps, step: ConsentStep, persistLogin: () => void): { next: Flow; response: Response } {
  const { flow, client, headers, now } = step;
  const skip = rememberedConsent(deps, flow, client, step.remembered, now);
  if (flow.request.prompt.includes("none") && !skip) throw consentRequired("Prompt 'none' was requested, but no previous consent was found.");

  const challenge = newFlowValue(deps.config, "consent_challenge");
  const csrf = randomFlowValue();
  const next = toConsentRequested(flow, {
    challenge: challenge.signature,
    challengeSealed: challenge.sealed,
    csrf: flowSignature(deps.config, "consent_csrf", csrf),
    skip,
    subjectIdentifier: step.subjectId,
  });
  persistLogin();
  headers.set("Location", withQuery(consentUrl(deps.config), "consent_challenge", challenge.value));
  headers.set("Cache-Control", "no-store");
  headers.append(
    "Set-Cookie",
    setCookie(deps.config, consentCsrfCookieName(deps.config, challenge.signature), signCookieValue(deps.config, csrf), deps.config.ttl.login_consent_request / 1000),
  );
  return { next, response: new Response(null, { status: 302, headers }) };
}

export interface RedeemedConsent {
  /** The flow as its redemption leaves it (consent_used, with its request_id); saved by the caller with what it issues. */
  flow: Flow;
  client: StoredClient;
  granted: HandledConsent;
  /** The consent challenge in clear: the request_id of everything issued now. */
  consentChallenge: string;
  headers: Headers;
}

/** What redeeming a consent verifier gave: the grant, an error for the client, or nothing (unknown or spent). */
export type ConsentRedemption = { redeemed: RedeemedConsent } | { error: unknown } | undefined;

/**
 * Step 6: the browser is back with a consent verifier. Reads its flow and checks expiry and
 * CSRF. A grant is not claimed yet: the caller claims it with one write together with what
 * it issues (flows/store.ts saveConsentRedeemed), so a failure before leaves it unspent. A
 * denial or a failed check is claimed here, as a failed flow, and returned (not thrown).
 * undefined when the verifier is unknown or spent (also when another request claims it first).
 */
export async function redeemConsentVerifier(deps: FlowDeps, verifier: string, cookies: Map<string, string>, now: Date): Promise<ConsentRedemption> {
  const found = await getFlowToRedeem(deps.db, "consentVerifier", flowSignatures(deps.config, "consent_verifier", verifier));
  if (!found) return undefined;
  const { flow: read, client } = found;
  const target = targetOf(read.request);
  const headers = new Headers();
  const csrfName = consentCsrfCookieName(deps.config, read.consentChallenge ?? "");
  const csrfCookie = cookies.get(csrfName);
  if (csrfCookie !== undefined) headers.append("Set-Cookie", deleteCookie(deps.config, csrfName));

  if (read.state === "consent_rejected") {
    if (!(await failRedeemedFlow(deps.db, read, now))) return undefined;
    const denied = read.consent && "denied" in read.consent ? read.consent.denied : undefined;
    return { error: new AuthorizeRequestError(denied ? deniedToOAuthError(denied) : serverError(), target, headers) };
  }
  try {
    if (read.requestedAt.getTime() + deps.config.ttl.login_consent_request < now.getTime()) throw requestExpired("consent");
    if (!csrfMatches(deps, "consent_csrf", csrfCookie, read.consentCsrf)) throw csrfMismatch();
    const granted = read.consent && "accepted" in read.consent ? read.consent.accepted : undefined;
    if (!granted || !read.consentChallengeSealed || !read.authenticatedAt) throw serverError(undefined, { debug: "a redeemed consent has no grant" });
    if (!client) throw invalidClient(undefined, { hint: "The requested OAuth 2.0 Client does not exist." });
    // Flows answered before the request_id was set at consent time get it now.
    const consentChallenge = read.requestId ?? unsealFlowValue(deps.config, read.consentChallengeSealed);
    const flow = completeConsent({ ...read, state: "consent_used" }, consentChallenge);
    return { redeemed: { flow, client, granted, consentChallenge, headers } };
  } catch (err) {
    if (!(await failRedeemedFlow(deps.db, read, now))) return undefined;
    return { error: err instanceof OAuthError ? new AuthorizeRequestError(err, target, headers) : err };
  }
}
