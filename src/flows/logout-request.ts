/**
 * @module One logout request as a state machine (Hydra's LogoutRequest, consent/types.go),
 * with pure transition functions; store.ts saves each transition with a conditional UPDATE on
 * the expected state, and the verifier is claimed by one UPDATE … RETURNING, so it is redeemed
 * once. Unlike Hydra v1, where a logout request lives until the verifier is used, a request
 * here expires ttl.login_consent_request after it arrived (like a login or consent request),
 * so a challenge or verifier that leaked cannot be replayed days later.
 *
 * stateDiagram-v2
 *   [*] --> requested: GET/POST /oauth2/sessions/logout (logout challenge → urls.logout)
 *   requested --> accepted: PUT logout/accept (logout verifier issued)
 *   requested --> rejected: PUT logout/reject (the request disappears: 404)
 *   accepted --> used: logout_verifier redeemed (claimed once; session ended, channels run)
 *   rejected --> [*]
 *   used --> [*]
 *   requested --> [*]: expired (ttl.login_consent_request; the janitor deletes it)
 */
import { conflict, notFound } from "../errors.ts";

export const logoutStates = ["requested", "accepted", "rejected", "used"] as const;
export type LogoutState = (typeof logoutStates)[number];

export interface LogoutRequest {
  id: string;
  state: LogoutState;
  /** HMAC signature of the challenge (flows/challenge.ts), never the value. */
  challenge: string;
  /** HMAC signature of the verifier, once accepted. */
  verifier: string | undefined;
  subject: string;
  /** The login session to end. */
  sid: string;
  /** The client named by the id_token_hint; undefined when the browser started the logout. */
  clientId: string | undefined;
  rpInitiated: boolean;
  requestUrl: string;
  /** Where the browser goes at the end (state appended already). */
  postLogoutRedirectUri: string;
  requestedAt: Date;
  expiresAt: Date;
}

/**
 * What the admin API may show of a request: the request itself, a 410 (used: Hydra's
 * RequestWasHandledResponse) or nothing (rejected requests are invisible in Hydra; expired
 * ones are too, here).
 */
export function logoutVisibility(request: LogoutRequest, now: Date): "visible" | "gone" | "invisible" {
  if (request.state === "used") return "gone";
  if (request.state === "rejected" || request.expiresAt.getTime() <= now.getTime()) return "invisible";
  return "visible";
}

/** A logout can be answered once; afterwards the challenge is spent (409), as a login answer. */
function mustAwaitAnswer(request: LogoutRequest, now: Date): void {
  if (logoutVisibility(request, now) === "invisible") throw notFound();
  if (request.state !== "requested") throw conflict(undefined, { hint: "The logout request was already answered." });
}

export function acceptLogout(request: LogoutRequest, verifierSignature: string, now: Date): LogoutRequest {
  mustAwaitAnswer(request, now);
  return { ...request, state: "accepted", verifier: verifierSignature };
}

export function rejectLogout(request: LogoutRequest, now: Date): LogoutRequest {
  mustAwaitAnswer(request, now);
  return { ...request, state: "rejected" };
}
