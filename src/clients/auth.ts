/**
 * @module Client authentication at the token and revocation endpoints (RFC 6749 §2.3, OIDC
 * Core §9, fosite client_authentication.go): client_secret_basic, client_secret_post,
 * private_key_jwt and none. The method presented must be the client's registered one.
 * One client read per request; secrets go through the verification cache (secrets.ts), and
 * an unknown id costs the same hash work as a wrong secret.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { Deps } from "../deps.ts";
import { tokenEndpointUrl } from "../discovery/openid-configuration.ts";
import { invalidClient, invalidRequest, OAuthError, type OAuthErrorOptions } from "../errors.ts";
import { OutboundRefusedError } from "../lib/outbound.ts";
import { claimJti } from "../oauth2/jti.ts";
import { param } from "../oauth2/form.ts";
import { remoteJwks } from "./remote-jwks.ts";
import { verifyClientSecret } from "./secrets.ts";
import { getClientGrouped } from "./store.ts";
import { effectiveTokenEndpointAuthSigningAlg, type StoredClient, type TokenEndpointAuthMethod } from "./types.ts";

/** RFC 7523 §2.2. */
export const jwtBearerAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** Form parameters client authentication reads; the token pipeline keeps them. */
export const clientAuthParams: ReadonlySet<string> = new Set(["client_id", "client_secret", "client_assertion_type", "client_assertion"]);

/** Seconds of clock skew tolerated on a client assertion's exp/nbf/iat. */
export const assertionClockToleranceSeconds = 5;

/** Client ids are looked up, so absurd ones (too long, or with a NUL that PostgreSQL text refuses) never reach the database. */
const maxClientIdLength = 1024;
function unusableClientId(id: string): boolean {
  return id.length > maxClientIdLength || id.includes("\0");
}

export interface AuthenticatedClient {
  client: StoredClient;
  method: TokenEndpointAuthMethod;
}

type Presented =
  | { method: "client_secret_basic" | "client_secret_post"; clientId: string; secret: string }
  | { method: "private_key_jwt"; assertion: string; formClientId: string | undefined }
  | { method: "none"; clientId: string };

/** The RFC 6749 §5.2 401 challenge; realm is the issuer, the protection space of our endpoints. */
function basicChallenge(deps: Pick<Deps, "config">): Record<string, string> {
  return { "WWW-Authenticate": `Basic realm="${deps.config.urls.self.issuer}"` };
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding. */
function formDecode(text: string): string | undefined {
  // Most ids and secrets need no decoding (generated secrets use neither character).
  if (!text.includes("%") && !text.includes("+")) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

/** Reads the credentials the request carries, refusing more than one method (RFC 6749 §2.3). */
function presentedCredentials(deps: Pick<Deps, "config">, headers: Headers, form: URLSearchParams): Presented {
  const formId = param(form, "client_id");
  const formSecret = param(form, "client_secret");
  const assertionType = param(form, "client_assertion_type");
  const assertion = param(form, "client_assertion");
  const authorization = headers.get("authorization");
  const basic = authorization && /^basic\s/i.test(authorization) ? authorization.slice(6).trim() : undefined;

  const methods = [basic !== undefined, formSecret !== undefined, assertionType !== undefined || assertion !== undefined].filter(Boolean).length;
  if (methods > 1) {
    throw invalidRequest(undefined, { hint: "The client MUST NOT use more than one authentication method in each request." });
  }

  if (basic !== undefined) {
    const fail = (hint: string) => invalidClient(undefined, { hint, headers: basicChallenge(deps) });
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(basic)) throw fail("The HTTP Basic credentials are not valid base64.");
    const decoded = Buffer.from(basic, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw fail("The HTTP Basic credentials must be client_id:client_secret.");
    const clientId = formDecode(decoded.slice(0, colon));
    const secret = formDecode(decoded.slice(colon + 1));
    if (clientId === undefined || secret === undefined) {
      throw fail("The client id and secret in the HTTP authorization header could not be decoded from 'application/x-www-form-urlencoded'.");
    }
    if (formId !== undefined && formId !== clientId) {
      throw invalidRequest(undefined, { hint: "The client_id in the body does not match the client id of the HTTP Basic credentials." });
    }
    return { method: "client_secret_basic", clientId, secret };
  }
  if (assertionType !== undefined || assertion !== undefined) {
    if (assertionType !== jwtBearerAssertionType) {
      throw invalidRequest(undefined, { hint: `Unknown client_assertion_type '${assertionType ?? ""}'; expected '${jwtBearerAssertionType}'.` });
    }
    if (assertion === undefined) {
      throw invalidRequest(undefined, { hint: `The client_assertion request parameter must be set when using client_assertion_type of '${jwtBearerAssertionType}'.` });
    }
    return { method: "private_key_jwt", assertion, formClientId: formId };
  }
  if (formId === undefined) {
    throw invalidRequest(undefined, { hint: "Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body." });
  }
  if (formSecret !== undefined) return { method: "client_secret_post", clientId: formId, secret: formSecret };
  return { method: "none", clientId: formId };
}

function methodMismatch(client: StoredClient, presented: TokenEndpointAuthMethod, options: OAuthErrorOptions = {}) {
  const registered = client.tokenEndpointAuthMethod;
  return invalidClient(undefined, {
    ...options,
    hint: `The OAuth 2.0 Client supports client authentication method '${registered}', but method '${presented}' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept '${presented}'.`,
  });
}

/**
 * Authenticates the client of a token or revocation request, or throws invalid_client (401,
 * with a Basic challenge when Basic was tried) or invalid_request (malformed, or several
 * methods at once). Unknown client and wrong secret give the same body and the same hash work.
 */
export async function authenticateClient(deps: Deps, headers: Headers, form: URLSearchParams, now: Date): Promise<AuthenticatedClient> {
  const presented = presentedCredentials(deps, headers, form);
  if (presented.method === "private_key_jwt") return authenticatePrivateKeyJwt(deps, presented.assertion, presented.formClientId, now);

  const challenge = presented.method === "client_secret_basic" ? { headers: basicChallenge(deps) } : {};
  const client = unusableClientId(presented.clientId) ? undefined : await getClientGrouped(deps.db, presented.clientId);

  if (presented.method === "none") {
    if (!client) throw invalidClient();
    if (client.tokenEndpointAuthMethod !== "none") throw methodMismatch(client, "none");
    return { client, method: "none" };
  }
  if (client && client.tokenEndpointAuthMethod !== presented.method) throw methodMismatch(client, presented.method, challenge);
  // An unknown client is verified against the dummy hash: same time as a wrong secret.
  const ok = await verifyClientSecret(deps, client ?? { clientId: presented.clientId, secretHash: null }, presented.secret);
  if (!client || !ok) throw invalidClient(undefined, challenge);
  return { client, method: presented.method };
}

/** The audiences a client assertion may name: the token endpoint, or the issuer (RFC 7523 §3, OIDC Core §9). */
function acceptedAudiences(deps: Pick<Deps, "config">): string[] {
  const issuer = deps.config.urls.self.issuer;
  return [...new Set([tokenEndpointUrl(deps.config), issuer, issuer.replace(/\/+$/, "")])];
}

/** private_key_jwt (RFC 7523 §2.2, §3): iss = sub = client_id, aud, exp, single-use jti, the registered alg. */
async function authenticatePrivateKeyJwt(deps: Deps, assertion: string, formClientId: string | undefined, now: Date): Promise<AuthenticatedClient> {
  let alg: string | undefined;
  let claimedId: unknown;
  try {
    alg = decodeProtectedHeader(assertion).alg;
    const claims = decodeJwt(assertion);
    claimedId = formClientId ?? claims.sub;
    if (claims.iss !== claims.sub) {
      throw invalidClient(undefined, { hint: "Claims 'iss' and 'sub' of the 'client_assertion' must both be the client_id of the OAuth 2.0 Client." });
    }
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw invalidClient(undefined, { hint: "Unable to decode the 'client_assertion' value as a JSON Web Token.", debug: (err as Error).message });
  }
  if (typeof claimedId !== "string" || claimedId === "") {
    throw invalidClient(undefined, { hint: "The claim 'sub' from the client_assertion JSON Web Token is undefined." });
  }
  const client = unusableClientId(claimedId) ? undefined : await getClientGrouped(deps.db, claimedId);
  if (!client) throw invalidClient();
  if (client.tokenEndpointAuthMethod !== "private_key_jwt") throw methodMismatch(client, "private_key_jwt");
  const expectedAlg = effectiveTokenEndpointAuthSigningAlg(client);
  if (alg !== expectedAlg) {
    throw invalidClient(undefined, {
      hint: `The 'client_assertion' uses signing algorithm '${alg ?? ""}', but the requested OAuth 2.0 Client enforces signing algorithm '${expectedAlg}'.`,
    });
  }
  let keys: JWTVerifyGetKey;
  if (client.jwks) keys = createLocalJWKSet(client.jwks as Parameters<typeof createLocalJWKSet>[0]);
  else if (client.jwksUri) keys = remoteJwks(deps, client.jwksUri);
  else throw invalidClient(undefined, { hint: "The OAuth 2.0 Client has no JSON Web Keys set registered, but they are needed to complete the request." });

  let exp: number;
  let jti: string;
  try {
    const { payload } = await jwtVerify(assertion, keys, {
      algorithms: [expectedAlg],
      issuer: client.clientId,
      subject: client.clientId,
      audience: acceptedAudiences(deps),
      requiredClaims: ["exp", "jti"],
      currentDate: now,
      clockTolerance: assertionClockToleranceSeconds,
    });
    exp = payload.exp!;
    if (typeof payload.jti !== "string" || payload.jti === "") {
      throw new joseErrors.JWTClaimValidationFailed('"jti" claim must be a non-empty string', payload, "jti", "check_failed");
    }
    jti = payload.jti;
  } catch (err) {
    throw invalidClient(undefined, { hint: assertionFailureHint(deps, err), debug: (err as Error).message });
  }
  // After the signature check, so that nobody can burn another client's jti values.
  const claimed = await claimJti(deps.db, client.clientId, jti, new Date(exp * 1000), now);
  if (!claimed) throw invalidClient(undefined, { hint: "Claim 'jti' from 'client_assertion' MUST only be used once." });
  return { client, method: "private_key_jwt" };
}

function assertionFailureHint(deps: Pick<Deps, "config">, err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "The 'client_assertion' has expired.";
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "aud":
        return `Claim 'aud' from 'client_assertion' must match the authorization server's token endpoint '${tokenEndpointUrl(deps.config)}' or its issuer.`;
      case "exp":
        return "Claim 'exp' from 'client_assertion' must be set.";
      case "jti":
        return "Claim 'jti' from 'client_assertion' must be set but is not.";
      default:
        return `Claim '${err.claim}' from 'client_assertion' is not valid: ${err.reason}.`;
    }
  }
  if (err instanceof OutboundRefusedError && err.kind === "forbidden") {
    return "The OAuth 2.0 Client's jwks_uri points to a loopback, private or otherwise non-public address, which this server does not fetch.";
  }
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError)) {
    return "The JSON Web Key Set at the OAuth 2.0 Client's jwks_uri could not be fetched or read.";
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "No key of the OAuth 2.0 Client's JSON Web Key Set matches the 'client_assertion'.";
  return "Unable to verify the integrity of the 'client_assertion' value.";
}
