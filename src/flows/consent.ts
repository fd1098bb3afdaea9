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
import { consentRedeemable, deniedToOAuthError, failFlow, requestConsent as toConsentRequested, type Flow, type HandledConsent, type HandledLogin } from "./flow.ts";
import { csrfMatches, csrfMismatch, requestExpired } from "./checks.ts";
import { claimConsentVerifier, findRememberedConsent, saveFlow } from "./store.ts";
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
async function rememberedConsent(deps: FlowDeps, flow: Flow, client: StoredClient, subject: string, now: Date): Promise<boolean> {
  if (flow.request.prompt.includes("consent")) return false;
  if (isPublicClient(client) && !isStrictlySecureRedirectUri(flow.request.redirectUri)) return false;
  const previous = await findRememberedConsent(deps.db, subject, client.clientId, now);
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
 * Step 4: creates the consent request and sends the browser to the consent app.
 * `persistLogin` writes what the login step remembers, in the same transaction.
 */
export async function requestConsent(deps: FlowDeps, step: ConsentStep, persistLogin: (tx: Db) => Promise<void>): Promise<Response> {
  const { flow, client, accepted, headers, now } = step;
  const skip = await rememberedConsent(deps, flow, client, accepted.subject, now);
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
  await deps.db.transaction(async (tx) => {
    await persistLogin(tx as unknown as Db);
    const saved = await saveFlow(tx as unknown as Db, next, ["login_used"], now);
    if (!saved) throw serverError(undefined, { debug: "the flow changed while its login was being redeemed" });
  });
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

/**
 * Step 6: the browser is back with a consent verifier. Claims it (once) and checks expiry
 * and CSRF. undefined when the verifier is unknown or spent.
 */
export async function redeemConsentVerifier(deps: FlowDeps, verifier: string, cookies: Map<string, string>, now: Date): Promise<RedeemedConsent | undefined> {
  const claimed = await claimConsentVerifier(deps.db, flowSignatures(deps.config, "consent_verifier", verifier), consentRedeemable, now);
  if (!claimed) return undefined;
  const target = targetOf(claimed.request);
  const headers = new Headers();
  const csrfName = consentCsrfCookieName(deps.config, claimed.consentChallenge ?? "");
  const csrfCookie = cookies.get(csrfName);
  if (csrfCookie !== undefined) headers.append("Set-Cookie", deleteCookie(deps.config, csrfName));

  if (claimed.state === "consent_failed") {
    const denied = claimed.consent && "denied" in claimed.consent ? claimed.consent.denied : undefined;
    throw new AuthorizeRequestError(denied ? deniedToOAuthError(denied) : serverError(), target, headers);
  }
  try {
    if (claimed.requestedAt.getTime() + deps.config.ttl.login_consent_request < now.getTime()) throw requestExpired("consent");
    if (!csrfMatches(deps, "consent_csrf", csrfCookie, claimed.consentCsrf)) throw csrfMismatch();
    const granted = claimed.consent && "accepted" in claimed.consent ? claimed.consent.accepted : undefined;
    if (!granted || !claimed.consentChallengeSealed || !claimed.authenticatedAt) throw serverError(undefined, { debug: "a redeemed consent has no grant" });
    const client = await getClient(deps.db, claimed.clientId);
    if (!client) throw invalidClient(undefined, { hint: "The requested OAuth 2.0 Client does not exist." });
    return { flow: claimed, client, granted, consentChallenge: unsealFlowValue(deps.config, claimed.consentChallengeSealed), headers };
  } catch (err) {
    await saveFlow(deps.db, failFlow(claimed), ["consent_used"], now);
    if (err instanceof OAuthError) throw new AuthorizeRequestError(err, target, headers);
    throw err;
  }
}
