/**
 * @module GET/POST /oauth2/auth (public listener): the authorization endpoint. A new request
 * is validated and handed to the login app (flows/login.ts); the browser comes back with a
 * login verifier (→ consent app, flows/consent.ts) and then with a consent verifier, when
 * the response is issued: code, token and/or id_token (OIDC Core §3, Multiple Response Type
 * Encoding), in the request's response mode. Everything one flow issues carries the consent
 * challenge as request_id, as Hydra, so revoking the consent revokes it all.
 */
import type { Deps } from "../deps.ts";
import { OAuthError } from "../errors.ts";
import { verifierInvalid } from "../flows/checks.ts";
import { redeemConsentVerifier, type RedeemedConsent } from "../flows/consent.ts";
import { readCookies } from "../flows/cookies.ts";
import { redeemLoginVerifier, startLogin } from "../flows/login.ts";
import { errorUrl } from "../flows/urls.ts";
import type { Cx, Handler, RouteTable } from "../server/http.ts";
import { errorBody, toOAuthError } from "../server/render-error.ts";
import { saveConsentRedeemed } from "../flows/store.ts";
import { mintAuthorizationCode } from "./authorization-code.ts";
import { AuthorizeRequestError, readAuthorizeParams, targetOf, validateAuthorizeRequest } from "./authorize-request.ts";
import { buildIdToken } from "./id-token.ts";
import { authorizationErrorResponse, authorizationResponse, type ResponseTarget } from "./response-modes.ts";
import { accessTokenSigningKey, mintAccessToken } from "./tokens.ts";

type AuthorizeDeps = Pick<Deps, "config" | "db" | "clock" | "mode">;

/**
 * Errors before the client and redirect URI are known go to urls.error (or the fallback
 * page) on our own origin, never to a redirect URI (RFC 6749 §4.1.2.1; Hydra forwardError).
 */
export function errorPageRedirect(deps: Pick<Deps, "config">, err: OAuthError, extraHeaders?: Headers): Response {
  const url = new URL(errorUrl(deps.config));
  const body = errorBody(err, deps.config.oauth2) as Record<string, unknown>;
  for (const key of ["error", "error_description", "error_hint", "error_debug"]) {
    if (typeof body[key] === "string" && body[key] !== "") url.searchParams.set(key, body[key] as string);
  }
  const headers = new Headers({ Location: url.toString(), "Cache-Control": "no-store", Pragma: "no-cache" });
  if (extraHeaders) for (const [k, v] of extraHeaders) headers.append(k, v);
  return new Response(null, { status: 302, headers });
}

/**
 * Steps 6 and 7: redeems a consent verifier and writes what the client receives (code,
 * access token) in ONE statement with the claim (flows/store.ts saveConsentRedeemed): one
 * commit for the step, and a failure before or while writing leaves the verifier unspent. A
 * failed check is committed as a failed flow. The ID token is signed after the commit because
 * its at_hash/c_hash cover the code and token.
 */
async function redeemConsent(deps: AuthorizeDeps, cx: Cx, verifier: string, cookies: Map<string, string>, now: Date): Promise<Response | undefined> {
  const jwtKey = await accessTokenSigningKey(deps);
  const redemption = await redeemConsentVerifier(deps, verifier, cookies, now);
  if (!redemption) return undefined;
  if ("error" in redemption) throw redemption.error;
  const { redeemed } = redemption;
  const target = targetOf(redeemed.flow.request);
  const issued = await withTarget(cx, target, redeemed.headers, async () => {
    const rows = await mintRows(deps, redeemed, jwtKey, now);
    const claimed = await saveConsentRedeemed(deps.db, redeemed.flow, redeemed.consentChallenge, { code: rows.code?.record, accessToken: rows.token?.record }, now);
    return claimed ? rows : undefined;
  });
  // Another request redeemed the verifier between our read and write: spent.
  if (!issued) return undefined;
  return await withTarget(cx, target, redeemed.headers, () => issueResponse(deps, redeemed, issued, now));
}

interface IssuedRows {
  code: ReturnType<typeof mintAuthorizationCode> | undefined;
  token: Awaited<ReturnType<typeof mintAccessToken>> | undefined;
}

/** What both halves of step 7 read from the redeemed flow. */
function issuance({ flow, granted }: RedeemedConsent) {
  return {
    request: flow.request,
    login: flow.login && "accepted" in flow.login ? flow.login.accepted : undefined,
    /** The subject as this client sees it (pairwise or forced). */
    subjectId: flow.subjectIdentifier ?? flow.subject,
    authTime: flow.authenticatedAt!,
    types: flow.request.responseTypes,
    idTokenClaims: granted.session.id_token ?? {},
  };
}

/** Step 7: the code and access token, and their rows (written with the claim). */
async function mintRows(deps: AuthorizeDeps, redeemed: RedeemedConsent, jwtKey: Awaited<ReturnType<typeof accessTokenSigningKey>>, now: Date): Promise<IssuedRows> {
  const { flow, client, granted, consentChallenge } = redeemed;
  const { request, login, subjectId, authTime, types, idTokenClaims } = issuance(redeemed);
  const accessTokenClaims = granted.session.access_token ?? {};
  const code = types.includes("code")
    ? mintAuthorizationCode(
        deps,
        {
          clientId: client.clientId,
          redirectUri: request.redirectUri,
          redirectUriGiven: request.redirectUriGiven,
          pkce: request.pkce,
          nonce: request.nonce,
          requestedScope: request.scope,
          requestedAudience: request.audience,
          grantedScope: granted.grantScope,
          grantedAudience: granted.grantAudience,
          subject: flow.subject,
          subjectIdentifier: subjectId,
          authTime: authTime.toISOString(),
          requestedAt: flow.requestedAt.toISOString(),
          acr: login?.acr ?? "",
          amr: login?.amr ?? [],
          sid: flow.loginSessionId,
          accessTokenClaims,
          idTokenClaims,
          requestId: consentChallenge,
        },
        now,
      )
    : undefined;
  const token = types.includes("token")
    ? await mintAccessToken(deps, {
        requestId: consentChallenge,
        client,
        subject: flow.subject,
        grantedScope: granted.grantScope,
        grantedAudience: granted.grantAudience,
        session: {
          ext: accessTokenClaims,
          idToken: {
            ...idTokenClaims,
            sub: subjectId,
            auth_time: Math.floor(authTime.getTime() / 1000),
            rat: Math.floor(flow.requestedAt.getTime() / 1000),
            ...(login?.acr ? { acr: login.acr } : {}),
            ...(login?.amr?.length ? { amr: login.amr } : {}),
            sid: flow.loginSessionId,
          },
          ...(subjectId !== flow.subject ? { obfuscatedSubject: subjectId } : {}),
          consentChallenge,
        },
        grantType: "implicit",
        now,
        jwtKey,
      })
    : undefined;
  return { code, token };
}

/** Step 7, after the commit: the ID token and the authorization response. */
async function issueResponse(deps: AuthorizeDeps, redeemed: RedeemedConsent, issued: IssuedRows, now: Date): Promise<Response> {
  const { flow, client, granted } = redeemed;
  const { request, login, subjectId, authTime, types, idTokenClaims } = issuance(redeemed);
  const idToken = types.includes("id_token")
    ? await buildIdToken(deps, {
        client,
        grant: "implicit",
        subject: subjectId,
        authTime,
        requestedAt: flow.requestedAt,
        nonce: request.nonce,
        acr: login?.acr,
        amr: login?.amr,
        sid: flow.loginSessionId,
        accessToken: issued.token?.issued.token,
        code: issued.code?.code,
        extra: idTokenClaims,
        now,
      })
    : undefined;

  return authorizationResponse(
    targetOf(request),
    {
      code: issued.code?.code,
      access_token: issued.token?.issued.token,
      token_type: issued.token ? "bearer" : undefined,
      expires_in: issued.token ? String(issued.token.issued.expiresIn) : undefined,
      id_token: idToken?.token,
      // fosite answers the granted scope with every response type.
      scope: granted.grantScope.join(" "),
      state: request.state,
    },
    redeemed.headers,
  );
}

/** A verifier that is unknown or spent: access_denied, to the redirect URI of the request in the URL if it is valid. */
async function spentVerifier(deps: AuthorizeDeps, input: { params: Map<string, string>; raw: string }, what: "login" | "consent"): Promise<never> {
  const { request } = await validateAuthorizeRequest(deps, input);
  throw new AuthorizeRequestError(verifierInvalid(what), targetOf(request));
}

function errorResponse(deps: AuthorizeDeps, cx: Cx, err: unknown): Response {
  if (err instanceof AuthorizeRequestError) {
    cx.log.debug(`request ${cx.requestId}: authorization error ${err.error.code}: ${err.error.description}${err.error.hint ? ` ${err.error.hint}` : ""}`);
    return err.target ? authorizationErrorResponse(err.target, err.error, deps.config, err.headers) : errorPageRedirect(deps, err.error, err.headers);
  }
  const oauth = toOAuthError(err);
  if (oauth.status >= 500) cx.log.error(`request ${cx.requestId}: authorization failed`, err);
  return errorPageRedirect(deps, oauth);
}

/** Once the redirect URI is valid, even an unexpected failure is reported to the client (as server_error). */
async function withTarget<T>(cx: Cx, target: ResponseTarget, headers: Headers | undefined, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof AuthorizeRequestError || err instanceof OAuthError) throw err instanceof OAuthError ? new AuthorizeRequestError(err, target, headers) : err;
    cx.log.error(`request ${cx.requestId}: authorization failed`, err);
    throw new AuthorizeRequestError(toOAuthError(err), target, headers);
  }
}

/** GET and POST /oauth2/auth. */
export function oauth2Authorize(deps: Deps): Handler {
  return async (req, cx) => {
    const now = deps.clock.now();
    try {
      const input = await readAuthorizeParams(req);
      const cookies = readCookies(req);
      const consentVerifier = input.params.get("consent_verifier");
      if (consentVerifier) {
        return (await redeemConsent(deps, cx, consentVerifier, cookies, now)) ?? (await spentVerifier(deps, input, "consent"));
      }
      const loginVerifier = input.params.get("login_verifier");
      if (loginVerifier) {
        return (await redeemLoginVerifier(deps, loginVerifier, cookies, now)) ?? (await spentVerifier(deps, input, "login"));
      }
      const { request, client } = await validateAuthorizeRequest(deps, input);
      return await withTarget(cx, targetOf(request), undefined, () => startLogin(deps, request, client, cookies, now));
    } catch (err) {
      return errorResponse(deps, cx, err);
    }
  };
}

export function authorizeRoutes(deps: Deps): RouteTable {
  return { "/oauth2/auth": { GET: oauth2Authorize(deps), POST: oauth2Authorize(deps) } };
}
