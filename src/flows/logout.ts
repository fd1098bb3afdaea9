/**
 * @module GET/POST /oauth2/sessions/logout (public listener; hydra-v1 §2.5): OpenID Connect
 * RP-Initiated Logout 1.0 with an id_token_hint, a logout the browser starts without one,
 * and its completion with ?logout_verifier= — the login session and its cookie are ended,
 * clients that received tokens in it are told (Front-Channel Logout 1.0 through the page,
 * Back-Channel Logout 1.0 in the background), and the browser goes to the post-logout URI.
 * An invalid hint or an unregistered post_logout_redirect_uri always ends on the error page
 * (urls.error), never at the URI given.
 */
import { randomUUID } from "node:crypto";
import { compactVerify, createLocalJWKSet, type ProtectedHeaderParameters } from "jose";
import { getClient } from "../clients/store.ts";
import type { StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { invalidRequest, OAuthError } from "../errors.ts";
import { publishedKeys } from "../keys/store.ts";
import { idTokenSet } from "../keys/types.ts";
import { errorPageRedirect } from "../oauth2/authorize.ts";
import { readAuthorizeParams } from "../oauth2/authorize-request.ts";
import type { Handler, RouteTable } from "../server/http.ts";
import { toOAuthError } from "../server/render-error.ts";
import { sendBackchannelLogout, type BackchannelTarget } from "./back-channel.ts";
import { flowSignatures, newLogoutValue } from "./challenge.ts";
import { deleteCookie, readCookies, sessionCookieName, verifyCookieValue } from "./cookies.ts";
import { frontchannelLogoutFrame, frontchannelLogoutPage, type FrontchannelFrame } from "./front-channel.ts";
import { sessionFromCookie } from "./login.ts";
import type { LogoutRequest } from "./logout-request.ts";
import { claimLogoutVerifier, deleteLoginSession, getLoginSession, insertLogoutRequest, listSessionClients } from "./store.ts";
import { endSessionPath, endSessionUrl, logoutUrl, postLogoutRedirectUrl, withQuery } from "./urls.ts";

type LogoutDeps = Pick<Deps, "config" | "db" | "clock" | "log" | "metrics" | "mode">;

/** Clock skew allowed on the hint's iat (several instances of the server may sign). */
const iatLeewaySeconds = 5;

/** Schemes a browser would run or render instead of navigating to: never a logout target. */
const unsafeSchemes = new Set(["javascript:", "data:", "vbscript:", "file:", "blob:"]);

export const logoutVerifierInvalid = () =>
  new OAuthError("access_denied", 403, "The resource owner or authorization server denied the request.", {
    hint: "The logout verifier has already been used, has not been granted, has expired, or is invalid.",
  });

const logoutFailed = (hint: string, debug?: string) => invalidRequest(undefined, { hint, debug });

function redirect(location: string, headers = new Headers()): Response {
  headers.set("Location", location);
  headers.set("Cache-Control", "no-store");
  headers.set("Pragma", "no-cache");
  return new Response(null, { status: 302, headers });
}

/** The claims of the hint Hydra needs; anything else about it is an error (hydra-v1 §2.5). */
interface HintClaims {
  sub: string;
  sid: string;
  aud: string[];
}

/**
 * Verifies an id_token_hint: signed by one of our ID-token keys (so alg "none" and foreign
 * keys fail), typed as an ID token, issued by us, not issued in the future; an expired one is
 * fine (RP-Initiated Logout §2). `sid` and `sub` are required, as Hydra.
 */
async function verifyIdTokenHint(deps: LogoutDeps, hint: string, now: Date): Promise<HintClaims> {
  if (hint.length > 16_384) throw logoutFailed("Logout failed because the id_token_hint is too long.");
  const keys = await publishedKeys(deps.db, [idTokenSet]);
  let header: ProtectedHeaderParameters;
  let claims: Record<string, unknown>;
  try {
    const verified = await compactVerify(hint, createLocalJWKSet({ keys }));
    header = verified.protectedHeader;
    const parsed = JSON.parse(new TextDecoder().decode(verified.payload)) as unknown;
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("the payload is not a JSON object");
    claims = parsed as Record<string, unknown>;
  } catch (err) {
    throw logoutFailed("Logout failed because the id_token_hint is malformed or was not signed by this server's ID token keys.", (err as Error).message);
  }
  // Our other JWTs (logout tokens) are signed with the same key; only an ID token is a hint.
  if (header.typ !== undefined && header.typ.toLowerCase() !== "jwt") throw logoutFailed("Logout failed because the id_token_hint is not an ID token.");
  const issuer = deps.config.urls.self.issuer;
  if (claims.iss !== issuer) {
    throw logoutFailed(`Logout failed because issuer claim value '${String(claims.iss)}' from query parameter id_token_hint does not match with issuer value from configuration '${issuer}'.`);
  }
  const nowSeconds = Math.floor(now.getTime() / 1000);
  if (typeof claims.iat !== "number" || claims.iat > nowSeconds + iatLeewaySeconds) {
    throw logoutFailed(`Logout failed because iat claim value '${String(claims.iat)}' from query parameter id_token_hint is before now ('${nowSeconds}').`);
  }
  if (typeof claims.sid !== "string" || claims.sid === "") throw logoutFailed("Logout failed because query parameter id_token_hint is missing sid claim.");
  if (typeof claims.sub !== "string" || claims.sub === "") throw logoutFailed("Logout failed because query parameter id_token_hint is missing sub claim.");
  const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a): a is string => typeof a === "string" && a !== "") : [];
  if (aud.length === 0) throw logoutFailed("Logout failed because query parameter id_token_hint is missing aud claim.");
  return { sub: claims.sub, sid: claims.sid, aud };
}

/**
 * The client the hint was issued to: the first audience that is a registered client. With
 * RP-Initiated Logout's client_id, that one, and it must be an audience of the hint (§2).
 */
async function hintClient(deps: LogoutDeps, claims: HintClaims, clientId: string | undefined): Promise<StoredClient> {
  if (clientId !== undefined && !claims.aud.includes(clientId)) {
    throw logoutFailed("Logout failed because query parameter client_id does not match an audience of the id_token_hint.");
  }
  // Bounded: an ID token we issued has one audience, or a handful.
  for (const aud of (clientId !== undefined ? [clientId] : claims.aud).slice(0, 10)) {
    const client = await getClient(deps.db, aud);
    if (client) return client;
  }
  throw logoutFailed("Logout failed because none of the listed audiences is a registered OAuth 2.0 Client.");
}

/**
 * post_logout_redirect_uri must equal one of the client's post_logout_redirect_uris exactly
 * (RP-Initiated Logout §3: simple string comparison); `state` is then added (§2).
 */
function clientRedirect(client: StoredClient, requested: string, state: string | undefined): string {
  if (!client.postLogoutRedirectUris.includes(requested)) {
    throw logoutFailed("Logout failed because query parameter post_logout_redirect_uri is not a whitelisted as a post_logout_redirect_uri for the client.");
  }
  let url: URL;
  try {
    url = new URL(requested);
  } catch {
    throw logoutFailed("Logout failed because query parameter post_logout_redirect_uri is not a valid URI.");
  }
  if (unsafeSchemes.has(url.protocol)) throw logoutFailed("Logout failed because query parameter post_logout_redirect_uri uses a scheme that cannot be redirected to.");
  return state === undefined ? requested : withQuery(requested, "state", state);
}

/** Creates the logout request and sends the browser to the logout app. */
async function askLogoutApp(
  deps: LogoutDeps,
  fields: Pick<LogoutRequest, "subject" | "sid" | "clientId" | "rpInitiated" | "requestUrl" | "postLogoutRedirectUri">,
  now: Date,
): Promise<Response> {
  const challenge = newLogoutValue(deps.config, "logout_challenge");
  await insertLogoutRequest(
    deps.db,
    {
      ...fields,
      id: randomUUID(),
      state: "requested",
      challenge: challenge.signature,
      verifier: undefined,
      requestedAt: now,
      expiresAt: new Date(now.getTime() + deps.config.ttl.login_consent_request),
    },
    now,
  );
  return redirect(withQuery(logoutUrl(deps.config), "logout_challenge", challenge.value));
}

/** Step 1: a logout arrives, from a relying party (with a hint) or from the browser (without). */
async function startLogout(deps: LogoutDeps, input: { params: Map<string, string>; raw: string }, cookies: Map<string, string>, now: Date): Promise<Response> {
  const { params } = input;
  const hint = params.get("id_token_hint");
  const state = params.get("state");
  const requested = params.get("post_logout_redirect_uri");
  const requestUrl = input.raw ? `${endSessionUrl(deps.config)}?${input.raw}` : endSessionUrl(deps.config);

  if (hint === undefined) {
    // Without a hint no client is known, so neither is a redirect URI to trust (Hydra).
    if (state !== undefined || requested !== undefined) {
      throw logoutFailed("Logout failed because query parameters state or post_logout_redirect_uri are set but id_token_hint is missing.");
    }
    const session = await sessionFromCookie(deps, cookies, now);
    if (!session) return redirect(postLogoutRedirectUrl(deps.config));
    return askLogoutApp(
      deps,
      { subject: session.subject, sid: session.id, clientId: undefined, rpInitiated: false, requestUrl, postLogoutRedirectUri: postLogoutRedirectUrl(deps.config) },
      now,
    );
  }

  const claims = await verifyIdTokenHint(deps, hint, now);
  const client = await hintClient(deps, claims, params.get("client_id"));
  // Without post_logout_redirect_uri the logout ends at urls.post_logout_redirect, without state (Hydra).
  const redirectTo = requested === undefined ? postLogoutRedirectUrl(deps.config) : clientRedirect(client, requested, state);
  // Remembered or not: the sid of any login has a session row (flows/login.ts).
  const session = await getLoginSession(deps.db, claims.sid, now);
  // Ended already (logged out, revoked, expired): nothing to ask, the RP gets its redirect (Hydra).
  if (!session) return redirect(redirectTo);
  return askLogoutApp(
    deps,
    { subject: session.subject, sid: session.id, clientId: client.clientId, rpInitiated: true, requestUrl, postLogoutRedirectUri: redirectTo },
    now,
  );
}

export interface SessionChannels {
  front: FrontchannelFrame[];
  back: BackchannelTarget[];
}

/** Front- and back-channel logout of every client that received tokens within a login session. */
export async function sessionChannels(deps: Pick<Deps, "config" | "db">, sid: string): Promise<SessionChannels> {
  const out: SessionChannels = { front: [], back: [] };
  for (const entry of await listSessionClients(deps.db, sid)) {
    const client = await getClient(deps.db, entry.clientId);
    if (!client) continue;
    const frame = frontchannelLogoutFrame(client, deps.config.urls.self.issuer, sid);
    if (frame) out.front.push(frame);
    if (/^https?:\/\//i.test(client.backchannelLogoutUri)) out.back.push({ clientId: client.clientId, uri: client.backchannelLogoutUri, subject: entry.subject, sid });
  }
  return out;
}

/** Tells the clients of ended sessions, in the background (DELETE /oauth2/auth/sessions/login). */
export async function backchannelLogoutSessions(deps: LogoutDeps, sids: readonly string[]): Promise<void> {
  const targets: BackchannelTarget[] = [];
  for (const sid of sids) targets.push(...(await sessionChannels(deps, sid)).back);
  void sendBackchannelLogout(deps, targets);
}

/**
 * Step 3: the logout app accepted and the browser is back with the verifier. Claims it once,
 * ends the login session and its cookie, starts back-channel logout, and answers with the
 * front-channel page, or a redirect when no client has a frontchannel_logout_uri.
 */
async function completeLogout(deps: LogoutDeps, verifier: string, cookies: Map<string, string>, now: Date): Promise<Response> {
  const claimed = verifier.length <= 256 ? await claimLogoutVerifier(deps.db, flowSignatures(deps.config, "logout_verifier", verifier), now) : undefined;
  if (!claimed) throw logoutVerifierInvalid();
  const name = sessionCookieName(deps.config);
  const cookieSid = verifyCookieValue(deps.config, cookies.get(name));
  // The browser started it from its cookie: a browser with another session (or none by now,
  // e.g. a second submit) has nothing to log out here, and nobody is told twice (Hydra).
  if (!claimed.rpInitiated && cookieSid !== claimed.sid) return redirect(claimed.postLogoutRedirectUri);

  const headers = new Headers();
  if (cookies.has(name)) headers.append("Set-Cookie", deleteCookie(deps.config, name));
  const channels = await sessionChannels(deps, claimed.sid);
  await deleteLoginSession(deps.db, claimed.sid);
  void sendBackchannelLogout(deps, channels.back);
  if (channels.front.length === 0) return redirect(claimed.postLogoutRedirectUri, headers);
  const page = frontchannelLogoutPage(channels.front, claimed.postLogoutRedirectUri);
  for (const [k, v] of page.headers) headers.set(k, v);
  return new Response(page.body, { status: 200, headers });
}

/** GET and POST /oauth2/sessions/logout. Every failure ends on the error page (Hydra forwardError). */
export function oauth2Logout(deps: Deps): Handler {
  return async (req, cx) => {
    const now = deps.clock.now();
    try {
      const input = await readAuthorizeParams(req);
      const cookies = readCookies(req);
      const verifier = input.params.get("logout_verifier");
      if (verifier !== undefined) return await completeLogout(deps, verifier, cookies, now);
      return await startLogout(deps, input, cookies, now);
    } catch (err) {
      const oauth = toOAuthError(err);
      if (oauth.status >= 500) cx.log.error(`request ${cx.requestId}: logout failed`, err);
      else cx.log.debug(`request ${cx.requestId}: logout error ${oauth.code}: ${oauth.description}${oauth.hint ? ` ${oauth.hint}` : ""}`);
      return errorPageRedirect(deps, oauth);
    }
  };
}

export function logoutRoutes(deps: Deps): RouteTable {
  return { [endSessionPath]: { GET: oauth2Logout(deps), POST: oauth2Logout(deps) } };
}
