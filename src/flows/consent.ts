/**
 * @module The consent half of the browser flow (Hydra requestConsent, verifyConsent): ask
 * the operator's consent app through a consent challenge (skip=true when a remembered
 * consent already covers the request), and redeem the consent verifier it sends back.
 */
import { getClient } from "../clients/store.ts";
import { isPublicClient, type StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { invalidClient, OAuthError, serverError } from "../errors.ts";
import { AuthorizeRequestError, targetOf } from "../oauth2/authorize-request.ts";
import { isStrictlySecureRedirectUri } from "../oauth2/redirect-uri.ts";
import { audienceAllowed, scopeAllowed } from "../oauth2/scopes.ts";
import type { Db } from "../storage/db.ts";
import { flowSignature, flowSignatures, newFlowValue, randomFlowValue, unsealFlowValue } from "./challenge.ts";
import { consentCsrfCookieName, deleteCookie, setCookie, signCookieValue } from "./cookies.ts";
import { completeConsent, consentRedeemable, deniedToOAuthError, failFlow, requestConsent as toConsentRequested, type Flow, type HandledConsent, type HandledLogin } from "./flow.ts";
import { csrfMatches, csrfMismatch, requestExpired } from "./checks.ts";
import { claimConsentVerifier, findRememberedConsent, saveConsentRequested, saveFlow } from "./store.ts";
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
 * RFC 6749 §10.2 / RFC 8252 §8.6: a public client whose redirect URI does not prove its
 * identity (not https, not loopback) is always asked for consent (Hydra requestConsent).
 */
async function rememberedConsent(deps: FlowDeps, db: Db, flow: Flow, client: StoredClient, subject: string, now: Date): Promise<boolean> {
  if (flow.request.prompt.includes("consent")) return false;
  if (isPublicClient(client) && !isStrictlySecureRedirectUri(flow.request.redirectUri)) return false;
  const previous = await findRememberedConsent(db, subject, client.clientId, now);
  const granted = previous?.consent && "accepted" in previous.consent ? previous.consent.accepted : undefined;
  return granted !== undefined && covers(deps, granted, flow);
}

export interface ConsentStep {
  /** The flow, claimed at login_used. */
  flow: Flow;
  client: StoredClient;
  accepted: HandledLogin;
  subjectId: string;
  cookies: Map<string, string>;
  /** Collects Set-Cookie headers of the whole step. */
  headers: Headers;
  now: Date;
}

/**
 * Step 4: creates the consent request and sends the browser to the consent app. Runs in the
 * login redemption's transaction `tx`; `persistLogin` writes what the login step remembers.
 */
export async function requestConsent(deps: FlowDeps, tx: Db, step: ConsentStep, persistLogin: () => Promise<void>): Promise<Response> {
  const { flow, client, accepted, headers, now } = step;
  const skip = await rememberedConsent(deps, tx, flow, client, accepted.subject, now);
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
  await persistLogin();
  if (!(await saveConsentRequested(tx, next, now))) throw serverError(undefined, { debug: "the flow changed while its login was being redeemed" });
  headers.set("Location", withQuery(consentUrl(deps.config), "consent_challenge", challenge.value));
  headers.set("Cache-Control", "no-store");
  headers.append(
    "Set-Cookie",
    setCookie(deps.config, consentCsrfCookieName(deps.config, challenge.signature), signCookieValue(deps.config, csrf), deps.config.ttl.login_consent_request / 1000),
  );
  return new Response(null, { status: 302, headers });
}

export interface RedeemedConsent {
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
 * Step 6: the browser is back with a consent verifier. Claims it (once) and checks expiry
 * and CSRF, inside the caller's transaction `tx`, which also writes what is issued: a
 * failed check is returned (not thrown) so that the caller commits the failed flow.
 */
export async function redeemConsentVerifier(deps: FlowDeps, tx: Db, verifier: string, cookies: Map<string, string>, now: Date): Promise<ConsentRedemption> {
  const claimed = await claimConsentVerifier(tx, flowSignatures(deps.config, "consent_verifier", verifier), consentRedeemable, now);
  if (!claimed) return undefined;
  const target = targetOf(claimed.request);
  const headers = new Headers();
  const csrfName = consentCsrfCookieName(deps.config, claimed.consentChallenge ?? "");
  const csrfCookie = cookies.get(csrfName);
  if (csrfCookie !== undefined) headers.append("Set-Cookie", deleteCookie(deps.config, csrfName));

  if (claimed.state === "consent_failed") {
    const denied = claimed.consent && "denied" in claimed.consent ? claimed.consent.denied : undefined;
    return { error: new AuthorizeRequestError(denied ? deniedToOAuthError(denied) : serverError(), target, headers) };
  }
  try {
    if (claimed.requestedAt.getTime() + deps.config.ttl.login_consent_request < now.getTime()) throw requestExpired("consent");
    if (!csrfMatches(deps, "consent_csrf", csrfCookie, claimed.consentCsrf)) throw csrfMismatch();
    const granted = claimed.consent && "accepted" in claimed.consent ? claimed.consent.accepted : undefined;
    if (!granted || !claimed.consentChallengeSealed || !claimed.authenticatedAt) throw serverError(undefined, { debug: "a redeemed consent has no grant" });
    const client = await getClient(tx, claimed.clientId);
    if (!client) throw invalidClient(undefined, { hint: "The requested OAuth 2.0 Client does not exist." });
    const consentChallenge = claimed.requestId ?? unsealFlowValue(deps.config, claimed.consentChallengeSealed);
    // Flows answered before the request_id was set at consent time get it now.
    const flow = claimed.requestId ? claimed : await saveFlow(tx, completeConsent(claimed, consentChallenge), ["consent_used"], now);
    if (!flow) throw serverError(undefined, { debug: "the flow changed while its consent was being redeemed" });
    return { redeemed: { flow, client, granted, consentChallenge, headers } };
  } catch (err) {
    await saveFlow(tx, failFlow(claimed), ["consent_used"], now);
    return { error: err instanceof OAuthError ? new AuthorizeRequestError(err, target, headers) : err };
  }
}
