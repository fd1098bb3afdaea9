/**
 * @module Reads and validates an authorization request (RFC 6749 §4.1.1/§4.2.1, OIDC Core
 * §3.1.2.1/§3.2.2.1/§3.3.2.1, fosite NewAuthorizeRequest). Until the client and its redirect
 * URI are known, an error must never be sent to a redirect URI: it carries no target and
 * goes to the error page. After that every error carries the target to redirect to.
 */
import { compactVerify, createLocalJWKSet } from "jose";
import { getClient } from "../clients/store.ts";
import { effectiveGrantTypes, effectiveResponseTypes, isPublicClient, type StoredClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { authorizationEndpointUrl } from "../discovery/openid-configuration.ts";
import { invalidClient, invalidRequest, invalidScope, OAuthError, unauthorizedClient } from "../errors.ts";
import { checkPairwiseClient } from "../flows/pairwise.ts";
import { publishedKeys } from "../keys/store.ts";
import { idTokenSet } from "../keys/types.ts";
import { readForm } from "./form.ts";
import { checkCodeChallenge, type Pkce } from "./pkce.ts";
import { isStrictlySecureRedirectUri, resolveRedirectUri } from "./redirect-uri.ts";
import { applyRequestObject } from "./request-object.ts";
import { carriesTokens, defaultResponseMode, isResponseMode, type ResponseMode, type ResponseTarget } from "./response-modes.ts";
import { audienceAllowed, firstDisallowedScope, parseScope } from "./scopes.ts";

/** What the login app sees as `oidc_context` (Hydra OpenIDConnectContext; empty fields omitted). */
export interface OidcContext {
  acr_values?: string[];
  display?: string;
  id_token_hint_claims?: Record<string, unknown>;
  login_hint?: string;
  ui_locales?: string[];
}

/** A validated authorization request, as kept with its flow (JSON). */
export interface StoredAuthorizeRequest {
  clientId: string;
  /** As requested, order kept (the set is what matters). */
  responseTypes: string[];
  responseMode: ResponseMode;
  redirectUri: string;
  /** RFC 6749 §4.1.3: if the request named redirect_uri, the token request must repeat it. */
  redirectUriGiven: boolean;
  state: string;
  scope: string[];
  audience: string[];
  /** "" when none was sent. */
  nonce: string;
  pkce: Pkce | null;
  prompt: string[];
  /** Seconds; null when not sent. */
  maxAge: number | null;
  /** `sub` of a verified id_token_hint. */
  idTokenHintSubject: string | null;
  oidcContext: OidcContext;
  claimsLocales: string[];
  /** The authorization URL as the client sent it (Hydra's request_url). */
  requestUrl: string;
}

/** An error and, once known, where to send it. */
export class AuthorizeRequestError extends Error {
  override name = "AuthorizeRequestError";
  constructor(
    readonly error: OAuthError,
    readonly target: ResponseTarget | undefined,
    /** Headers the response must carry anyway (Set-Cookie clearing a spent CSRF cookie or a revoked session). */
    readonly headers?: Headers,
  ) {
    super(error.message, { cause: error });
  }
}

export const supportedResponseTypes = ["code", "token", "id_token"] as const;
const promptValues = new Set(["none", "login", "consent", "select_account"]);
/** fosite's MinParameterEntropy. */
const minEntropy = 8;

/** The request's parameters: the query for GET; for POST the form body and the query (fosite r.Form). */
export async function readAuthorizeParams(req: Request): Promise<{ params: Map<string, string>; raw: string }> {
  const url = new URL(req.url);
  const pairs: [string, string][] = [...url.searchParams];
  let raw = url.search.slice(1);
  if (req.method === "POST") {
    const form = await readForm(req, { allowEmpty: true });
    pairs.unshift(...form);
    raw = [form.toString(), raw].filter(Boolean).join("&");
  }
  const params = new Map<string, string>();
  const seen = new Set<string>();
  for (const [k, v] of pairs) {
    // RFC 6749 §3.1: parameters MUST NOT be included more than once.
    if (seen.has(k)) throw invalidRequest(undefined, { hint: `The parameter '${k.slice(0, 64)}' must not be included more than once.` });
    seen.add(k);
    // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    if (v !== "") params.set(k, v);
  }
  return { params, raw };
}

/** Space-delimited values, as sent. */
function words(value: string | undefined): string[] {
  return (value ?? "").split(" ").filter(Boolean);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** The response mode errors use before the request is fully validated. */
function provisionalMode(params: Map<string, string>): ResponseMode {
  const requested = params.get("response_mode");
  if (requested && isResponseMode(requested)) return requested;
  const types = words(params.get("response_type")).filter((t) => (supportedResponseTypes as readonly string[]).includes(t));
  return defaultResponseMode(types);
}

type ValidateDeps = Pick<Deps, "config" | "db" | "clock" | "mode">;

/** Verifies an id_token_hint with the ID-token keys; an expired one is fine (OIDC Core §3.1.2.1). */
async function idTokenHintClaims(deps: ValidateDeps, hint: string): Promise<Record<string, unknown>> {
  const keys = await publishedKeys(deps.db, [idTokenSet]);
  try {
    const { payload } = await compactVerify(hint, createLocalJWKSet({ keys }));
    const claims = JSON.parse(new TextDecoder().decode(payload)) as unknown;
    if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw new Error("payload is not a JSON object");
    return claims as Record<string, unknown>;
  } catch (err) {
    throw invalidRequest(undefined, {
      hint: "Failed to validate OpenID Connect request as decoding id token from id_token_hint parameter failed.",
      debug: (err as Error).message,
    });
  }
}

/**
 * Validates the request. Throws AuthorizeRequestError: with a target once the client and
 * redirect URI are valid, without one before.
 */
export async function validateAuthorizeRequest(
  deps: ValidateDeps,
  input: { params: Map<string, string>; raw: string },
): Promise<{ request: StoredAuthorizeRequest; client: StoredClient }> {
  const outer = input.params;
  const fail = (error: OAuthError, target?: ResponseTarget): never => {
    throw new AuthorizeRequestError(error, target);
  };

  const clientId = outer.get("client_id");
  if (!clientId) fail(invalidRequest(undefined, { hint: "The request is missing the 'client_id' parameter." }));
  const client = clientId!.length <= 1024 ? await getClient(deps.db, clientId!) : undefined;
  if (!client) return fail(invalidClient(undefined, { hint: "The requested OAuth 2.0 Client does not exist." }));
  const registered = client.redirectUris ?? [];

  // A request object can change redirect_uri; its own errors go to the query's redirect URI, if valid (fosite).
  let provisional: ResponseTarget | undefined;
  try {
    provisional = { redirectUri: resolveRedirectUri(outer.get("redirect_uri"), registered, deps.mode), responseMode: provisionalMode(outer), state: outer.get("state") };
  } catch {
    provisional = undefined;
  }
  let params: Map<string, string>;
  try {
    params = await applyRequestObject(deps, client, outer);
  } catch (err) {
    if (err instanceof OAuthError) return fail(err, provisional);
    throw err;
  }

  let redirectUri: string;
  try {
    redirectUri = resolveRedirectUri(params.get("redirect_uri"), registered, deps.mode);
  } catch (err) {
    if (err instanceof OAuthError) return fail(err);
    throw err;
  }

  const state = params.get("state");
  const responseTypes = words(params.get("response_type"));
  const known = responseTypes.every((t) => (supportedResponseTypes as readonly string[]).includes(t)) && new Set(responseTypes).size === responseTypes.length;
  const requestedMode = params.get("response_mode");
  const target: ResponseTarget = {
    redirectUri,
    responseMode: requestedMode && isResponseMode(requestedMode) ? requestedMode : defaultResponseMode(known ? responseTypes : []),
    state,
  };
  const refuse = (error: OAuthError): never => fail(error, target);

  try {
    if (requestedMode && !isResponseMode(requestedMode)) {
      // Where the mode is unknown, the error goes in the default mode of the response type.
      throw new OAuthError("unsupported_response_mode", 400, "The authorization server does not support obtaining a response using this response mode.", {
        hint: `Request with unsupported response_mode '${requestedMode.slice(0, 64)}'.`,
      });
    }
    if (responseTypes.length === 0) throw invalidRequest(undefined, { hint: "The request is missing the 'response_type' parameter." });
    if (!known) {
      throw new OAuthError("unsupported_response_type", 400, "The authorization server does not support obtaining a token using this method.", {
        hint: `The response_type '${params.get("response_type")!.slice(0, 64)}' is not supported.`,
      });
    }
    // RFC 6749 §3.1.1: order does not matter; the client must have registered this combination.
    if (!effectiveResponseTypes(client).some((t) => sameSet(words(t), responseTypes))) {
      throw unauthorizedClient(undefined, { hint: `The client is not allowed to request response_type '${responseTypes.join(" ")}'.` });
    }
    const grants = effectiveGrantTypes(client);
    const wantsCode = responseTypes.includes("code");
    if (wantsCode && !grants.includes("authorization_code")) {
      throw unauthorizedClient(undefined, { hint: "The requested OAuth 2.0 Client does not have the 'authorization_code' grant." });
    }
    // fosite: the implicit grant covers `token`, and `id_token` without a code.
    if ((responseTypes.includes("token") || !wantsCode) && !grants.includes("implicit")) {
      throw unauthorizedClient(undefined, { hint: "The requested OAuth 2.0 Client does not have the 'implicit' grant." });
    }
    if (target.responseMode === "query" && carriesTokens(responseTypes)) {
      throw invalidRequest(undefined, {
        hint: `Insecure response_mode 'query' for the response_type '${responseTypes.join(" ")}': tokens must not be sent in the query.`,
      });
    }

    const scope = parseScope(params.get("scope"));
    if (scope === undefined) throw invalidScope(undefined, { hint: "The scope parameter is malformed (RFC 6749 §3.3)." });
    const disallowed = firstDisallowedScope(deps.config.strategies.scope, parseScope(client.scope) ?? [], scope);
    if (disallowed !== undefined) throw invalidScope(undefined, { hint: `The OAuth 2.0 Client is not allowed to request scope '${disallowed}'.` });
    const openid = scope.includes("openid");
    if (responseTypes.includes("id_token") && !openid) {
      throw invalidRequest(undefined, { hint: "An ID token can only be requested with the 'openid' scope." });
    }

    const audience = [...new Set(words(params.get("audience")))];
    const badAudience = audience.find((a) => !audienceAllowed(client.audience, a));
    if (badAudience !== undefined) {
      throw invalidRequest(undefined, { hint: `Requested audience '${badAudience}' has not been whitelisted by the OAuth 2.0 Client.` });
    }

    // rfc6819 §4.4.1.8: a guessable state does not protect the redirect (fosite requires 8 characters).
    if (!state || state.length < minEntropy) {
      throw new OAuthError("invalid_state", 400, "The state is missing or does not have enough characters and is therefore considered too weak.", {
        hint: `Request parameter 'state' must be at least be ${minEntropy} characters long to ensure sufficient entropy.`,
      });
    }

    const nonce = params.get("nonce") ?? "";
    if (responseTypes.includes("id_token") && !nonce) {
      throw invalidRequest(undefined, { hint: "Parameter 'nonce' must be set when using the OpenID Connect Implicit or Hybrid flow." });
    }
    if (nonce && nonce.length < minEntropy) {
      throw invalidRequest(undefined, { hint: `Parameter 'nonce' is set but does not satisfy the minimum entropy of ${minEntropy} characters.` });
    }

    const pkce = checkCodeChallenge(deps.config, {
      challenge: params.get("code_challenge"),
      method: params.get("code_challenge_method"),
      wantsCode,
      publicClient: isPublicClient(client),
    });

    const prompt = words(params.get("prompt"));
    const unknownPrompt = prompt.find((p) => !promptValues.has(p));
    if (unknownPrompt !== undefined) throw invalidRequest(undefined, { hint: `Used unknown value '${unknownPrompt.slice(0, 64)}' for prompt parameter.` });
    if (prompt.includes("none") && prompt.length > 1) {
      throw invalidRequest(undefined, { hint: "Parameter 'prompt' was set to 'none', but contains other values as well which is not allowed." });
    }
    // RFC 6819 §4.2.3 (fosite ValidatePrompt): no silent authorization for a public client without a secure redirect.
    if (prompt.includes("none") && isPublicClient(client) && !isStrictlySecureRedirectUri(redirectUri)) {
      throw new OAuthError("consent_required", 400, "The Authorization Server requires End-User consent.", {
        hint: "OAuth 2.0 Client is marked public and redirect uri is not considered secure (https missing), but 'prompt=none' was requested.",
      });
    }

    const maxAgeText = params.get("max_age");
    if (maxAgeText !== undefined && !/^\d{1,10}$/.test(maxAgeText)) {
      throw invalidRequest(undefined, { hint: "Parameter 'max_age' must be a non-negative number of seconds." });
    }

    const oidcContext: OidcContext = {};
    const acr = words(params.get("acr_values"));
    if (acr.length > 0) oidcContext.acr_values = acr;
    const display = params.get("display");
    if (display) oidcContext.display = display;
    let idTokenHintSubject: string | null = null;
    const hint = params.get("id_token_hint");
    if (hint) {
      const claims = await idTokenHintClaims(deps, hint);
      if (typeof claims.sub !== "string" || claims.sub === "") {
        throw invalidRequest(undefined, { hint: "Failed to validate OpenID Connect request because provided id token from id_token_hint does not have a subject." });
      }
      idTokenHintSubject = claims.sub;
      oidcContext.id_token_hint_claims = claims;
    }
    const loginHint = params.get("login_hint");
    if (loginHint) oidcContext.login_hint = loginHint;
    const uiLocales = words(params.get("ui_locales"));
    if (uiLocales.length > 0) oidcContext.ui_locales = uiLocales;

    await checkPairwiseClient(deps, client);

    const base = authorizationEndpointUrl(deps.config);
    return {
      client,
      request: {
        clientId: client.clientId,
        responseTypes,
        responseMode: target.responseMode,
        redirectUri,
        redirectUriGiven: params.has("redirect_uri"),
        state: state!,
        scope,
        audience,
        nonce,
        pkce: pkce ?? null,
        prompt,
        maxAge: maxAgeText === undefined ? null : Number(maxAgeText),
        idTokenHintSubject,
        oidcContext,
        claimsLocales: words(params.get("claims_locales")),
        requestUrl: input.raw ? `${base}?${input.raw}` : base,
      },
    };
  } catch (err) {
    if (err instanceof AuthorizeRequestError) throw err;
    if (err instanceof OAuthError) return refuse(err);
    throw err;
  }
}

/** Where errors about a stored request go. */
export function targetOf(request: Pick<StoredAuthorizeRequest, "redirectUri" | "responseMode" | "state">): ResponseTarget {
  return { redirectUri: request.redirectUri, responseMode: request.responseMode, state: request.state };
}
