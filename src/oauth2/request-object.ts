/**
 * @module Request objects (OIDC Core §6, RFC 9101): `request` (by value) and `request_uri`
 * (by reference), signed with the client's registered keys (jwks or jwks_uri) or unsigned
 * (`none`) as Hydra allows. Their claims replace the query's parameters; `scope` keeps the
 * query's values too (fosite).
 */
import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, UnsecuredJWT, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { remoteJwks } from "../clients/remote-jwks.ts";
import type { StoredClient } from "../clients/types.ts";
import type { Mode } from "../config/load.ts";
import type { Deps } from "../deps.ts";
import { authorizationEndpointUrl } from "../discovery/openid-configuration.ts";
import { invalidRequest, OAuthError } from "../errors.ts";
import { outboundPolicy, OutboundRefusedError } from "../lib/outbound.ts";
import { fetchRemoteDocument, RemoteDocumentError } from "./remote-document.ts";

/** What we verify request objects with (fosite: RS*, PS*, ES*), plus the unsigned `none`. */
export const requestObjectSigningAlgs = ["none", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"] as const;
const signedAlgs = requestObjectSigningAlgs.filter((a) => a !== "none");

/** OIDC Core §3.1.2.6 error codes. */
const invalidRequestObject = (hint: string, debug?: string) =>
  new OAuthError("invalid_request_object", 400, "The request parameter contains an invalid Request Object.", { hint, debug });
const invalidRequestUri = (hint: string, debug?: string) =>
  new OAuthError("invalid_request_uri", 400, "The request_uri in the Authorization Request returns an error or contains invalid data.", {
    hint,
    debug,
  });

/** OIDC Core §6.2: "The entire Request URI MUST NOT exceed 512 ASCII characters." */
const maxRequestUriLength = 512;

type RequestDeps = Pick<Deps, "config" | "clock"> & { mode: Pick<Mode, "dev" | "forceHttp"> };

/** A claim as an authorization request parameter: strings as they are, lists space-joined, the rest as JSON. */
function asParam(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value.join(" ");
  return JSON.stringify(value);
}

function withoutFragment(uri: string): string {
  const i = uri.indexOf("#");
  return i < 0 ? uri : uri.slice(0, i);
}

async function fetchRequestUri(deps: RequestDeps, client: StoredClient, location: string): Promise<string> {
  if (location.length > maxRequestUriLength) throw invalidRequestUri(`The request_uri must not be longer than ${maxRequestUriLength} characters.`);
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    throw invalidRequestUri("The request_uri is not an absolute URL.");
  }
  // Plain http only where the server itself runs without TLS (development and tests).
  const httpAllowed = deps.mode.dev || deps.mode.forceHttp;
  if (url.protocol !== "https:" && !(httpAllowed && url.protocol === "http:")) {
    throw invalidRequestUri("The request_uri must be an https URL.");
  }
  // fosite: a client that registers request_uris may use only those (compared without the fragment, OIDC Core §6.2).
  if (client.requestUris.length > 0 && !client.requestUris.some((r) => withoutFragment(r) === withoutFragment(location))) {
    throw invalidRequestUri(`Request URI '${location}' is not whitelisted by the OAuth 2.0 Client.`);
  }
  try {
    return (await fetchRemoteDocument(outboundPolicy(deps.config), withoutFragment(location), "application/oauth-authz-req+jwt, application/jwt")).trim();
  } catch (err) {
    if (err instanceof RemoteDocumentError && err.refused) {
      throw invalidRequestUri("The request_uri points to a loopback, private or otherwise non-public address, which this server does not fetch.", err.message);
    }
    if (err instanceof RemoteDocumentError) throw invalidRequestUri("Unable to fetch OpenID Connect request parameters from 'request_uri'.", err.message);
    throw err;
  }
}

function clientKeys(deps: RequestDeps, client: StoredClient): JWTVerifyGetKey {
  if (client.jwks) return createLocalJWKSet(client.jwks as Parameters<typeof createLocalJWKSet>[0]);
  if (client.jwksUri) return remoteJwks(deps, client.jwksUri);
  throw invalidRequest(undefined, {
    hint: "OpenID Connect 'request' or 'request_uri' context was given, but the OAuth 2.0 Client does not have any JSON Web Keys registered.",
  });
}

async function verifyRequestObject(deps: RequestDeps, client: StoredClient, jwt: string): Promise<JWTPayload> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(jwt).alg;
  } catch {
    throw invalidRequestObject("The request object is not a JWT.");
  }
  if (!alg) throw invalidRequestObject("The request object has no 'alg' header.");
  if (client.requestObjectSigningAlg && client.requestObjectSigningAlg !== alg) {
    throw invalidRequestObject(
      `The request object uses signing algorithm '${alg}', but the requested OAuth 2.0 Client enforces signing algorithm '${client.requestObjectSigningAlg}'.`,
    );
  }
  const currentDate = deps.clock.now();
  try {
    if (alg === "none") return UnsecuredJWT.decode(jwt, { currentDate }).payload;
    if (!(signedAlgs as readonly string[]).includes(alg)) throw invalidRequestObject(`This request object uses unsupported signing algorithm '${alg}'.`);
    const { payload } = await jwtVerify(jwt, clientKeys(deps, client), { algorithms: [alg], currentDate, clockTolerance: 5 });
    return payload;
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    if (err instanceof joseErrors.JWTExpired) throw invalidRequestObject("The request object has expired.");
    if (err instanceof joseErrors.JWTClaimValidationFailed) throw invalidRequestObject(`The request object's '${err.claim}' claim is invalid.`, err.message);
    if (err instanceof OutboundRefusedError && err.kind === "forbidden") {
      throw invalidRequestObject("The OAuth 2.0 Client's jwks_uri points to a loopback, private or otherwise non-public address, which this server does not fetch.", err.message);
    }
    if (err instanceof joseErrors.JOSEError) throw invalidRequestObject("Unable to verify the request object's signature.", err.message);
    // Anything else out of jwtVerify comes from fetching the jwks_uri (a refused or unknown
    // host, a refused connection): the client's problem, not a 500 (as clients/auth.ts does).
    if (client.jwksUri && !client.jwks) {
      throw invalidRequestObject("The JSON Web Key Set at the OAuth 2.0 Client's jwks_uri could not be fetched or read.", (err as Error).message);
    }
    throw err;
  }
}

/**
 * The authorization request's parameters after applying its request object, if it has one;
 * `params` unchanged otherwise. Every parameter of the result is a single string.
 */
export async function applyRequestObject(deps: RequestDeps, client: StoredClient, params: Map<string, string>): Promise<Map<string, string>> {
  const byValue = params.get("request");
  const byReference = params.get("request_uri");
  if (!byValue && !byReference) return params;
  if (byValue && byReference) {
    throw invalidRequest(undefined, { hint: "OpenID Connect parameters 'request' and 'request_uri' were both given, but you can use at most one." });
  }
  const jwt = byValue ?? (await fetchRequestUri(deps, client, byReference!));
  const claims = await verifyRequestObject(deps, client, jwt);

  // OIDC Core §6.1: client_id and response_type, when present, must equal the request's own.
  if (claims.client_id !== undefined && claims.client_id !== client.clientId) {
    throw invalidRequestObject("The request object's 'client_id' does not match the request's client_id.");
  }
  const outerTypes = (params.get("response_type") ?? "").split(" ").filter(Boolean).sort().join(" ");
  if (claims.response_type !== undefined && asParam(claims.response_type).split(" ").filter(Boolean).sort().join(" ") !== outerTypes) {
    throw invalidRequestObject("The request object's 'response_type' does not match the request's response_type.");
  }
  // RFC 9101 §10.2: a signed object is the client's statement, meant for us.
  if (claims.iss !== undefined && claims.iss !== client.clientId) throw invalidRequestObject("The request object's 'iss' must be the client_id.");
  if (claims.aud !== undefined) {
    const issuer = deps.config.urls.self.issuer;
    const accepted = new Set([issuer, issuer.replace(/\/$/, ""), authorizationEndpointUrl(deps.config)]);
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.some((a) => accepted.has(a))) throw invalidRequestObject("The request object's 'aud' must name this authorization server (its issuer).");
  }

  const merged = new Map(params);
  merged.delete("request");
  merged.delete("request_uri");
  for (const [name, value] of Object.entries(claims)) {
    if (name === "request" || name === "request_uri" || value === null || value === undefined) continue;
    merged.set(name, asParam(value));
  }
  // fosite: the query's scope values stay (so `openid` is never lost).
  const scope = new Set((merged.get("scope") ?? "").split(" ").filter(Boolean));
  for (const s of (params.get("scope") ?? "").split(" ").filter(Boolean)) scope.add(s);
  if (scope.size > 0) merged.set("scope", [...scope].join(" "));
  return merged;
}
