/**
 * @module GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0 §3, RFC 8414):
 * one builder, run once at start-up; the handler serves the pre-serialised text.
 * URLs come from urls.self.issuer / urls.self.public, never from the request's Host.
 */
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { firstStartKeySpec } from "../keys/defaults.ts";
import { currentPublishedKeys, type PublishedKeys } from "../keys/published.ts";
import { grantHandlers } from "../oauth2/grants/index.ts";
import { codeChallengeMethods } from "../oauth2/pkce.ts";
import { requestObjectSigningAlgs } from "../oauth2/request-object.ts";
import { responseModes } from "../oauth2/response-modes.ts";
import { jsonHeaders, preserialized, type Handler } from "../server/http.ts";

/**
 * What the server can do right now; every *_supported list is built from this, so the
 * document never advertises what is not implemented. An empty list is stated, not omitted,
 * because an omitted field has a non-empty default (RFC 8414 §2: grant_types_supported
 * defaults to ["authorization_code","implicit"], token_endpoint_auth_methods_supported
 * to ["client_secret_basic"]; OIDC Discovery: request_uri_parameter_supported to true).
 *
 * Later issues extend it where they implement the feature (Hydra v1's values, hydra-v1 §1.1.1):
 * - token endpoint grants: listed from oauth2/grants/index.ts (see advertisedGrantTypes).
 * - authorize endpoint (oauth2/authorize.ts): done (response types and modes, PKCE methods,
 *   request objects, "implicit").
 * - userinfo (oauth2/userinfo.ts): done (none, and RS256 while the ID-token key is RS256).
 * - logout (flows/logout.ts): done (RP-initiated, front- and back-channel, sid in both).
 */
export interface Capabilities {
  grantTypes: string[];
  responseTypes: string[];
  responseModes: string[];
  tokenEndpointAuthMethods: string[];
  idTokenSigningAlgs: string[];
  userinfoSigningAlgs: string[];
  requestObjectSigningAlgs: string[];
  codeChallengeMethods: string[];
  requestParameter: boolean;
  requestUriParameter: boolean;
  requireRequestUriRegistration: boolean;
  claimsParameter: boolean;
  backchannelLogout: boolean;
  backchannelLogoutSession: boolean;
  frontchannelLogout: boolean;
  frontchannelLogoutSession: boolean;
}

/**
 * Grant types Hydra v1 advertises (hydra-v1 §1.1.1); jwt-bearer is served but, as in Hydra,
 * not listed. A token-endpoint grant is listed once its module is in oauth2/grants/index.ts.
 */
const advertisedGrantTypes: readonly string[] = ["authorization_code", "implicit", "client_credentials", "refresh_token"];

/**
 * What is implemented so far: discovery, JWKS, the token endpoint (clients/auth.ts,
 * oauth2/grants/), revocation, userinfo. `idTokenAlg` is the algorithm of the key ID tokens
 * are signed with (keys/signing.ts), when known; else the first-start algorithm.
 */
export function currentCapabilities(config: Config, idTokenAlg: string = firstStartKeySpec(config).alg): Capabilities {
  return {
    // In Hydra's order. "implicit" is served by the authorization endpoint (oauth2/authorize.ts).
    grantTypes: advertisedGrantTypes.filter((t) => t === "implicit" || grantHandlers.some((g) => g.grantType === t)),
    // Every combination oauth2/authorize.ts issues, in Hydra's order.
    responseTypes: ["code", "code id_token", "id_token", "token id_token", "token", "token id_token code", "code token"],
    responseModes: [...responseModes],
    // Hydra's list and order; every one is accepted by clients/auth.ts.
    tokenEndpointAuthMethods: ["client_secret_post", "client_secret_basic", "private_key_jwt", "none"],
    // What ID tokens are signed with (REQUIRED field, OIDC Discovery §3): the newest key of
    // hydra.openid.id-token when the document is built (see discoverOpenIDConfiguration).
    idTokenSigningAlgs: [idTokenAlg],
    // Signed userinfo uses the ID-token key, and clients can only ask for RS256 (Hydra's
    // userinfo_signed_response_alg is none or RS256): advertised only when that key is RS256.
    userinfoSigningAlgs: idTokenAlg === "RS256" ? ["none", "RS256"] : ["none"],
    requestObjectSigningAlgs: [...requestObjectSigningAlgs],
    // S256 only: plain is refused (oauth2/pkce.ts), so it is not listed (Hydra lists it anyway).
    codeChallengeMethods: [...codeChallengeMethods],
    requestParameter: true,
    requestUriParameter: true,
    // Only clients that register request_uris are held to them (fosite), so registration is not required.
    requireRequestUriRegistration: false,
    claimsParameter: false,
    // flows/logout.ts: logout tokens always carry sid (flows/back-channel.ts); front-channel
    // URIs get iss and sid when the client asks (flows/front-channel.ts).
    backchannelLogout: true,
    backchannelLogoutSession: true,
    frontchannelLogout: true,
    frontchannelLogoutSession: true,
  };
}

/** `base` ends with "/" (config/load.ts forces it), so a path under the issuer keeps the issuer's path. */
function under(base: string, path: string): string {
  return new URL(path, base).toString();
}

/**
 * The token endpoint's URL as published (webfinger.oidc_discovery.token_url, else
 * <public>/oauth2/token): what a client assertion's or a jwt-bearer grant's `aud` names.
 */
export function tokenEndpointUrl(config: Pick<Config, "urls" | "webfinger">): string {
  return config.webfinger.oidc_discovery.token_url || under(config.urls.self.public, "oauth2/token");
}

/**
 * The authorization endpoint's URL as published (webfinger.oidc_discovery.auth_url, else
 * <public>/oauth2/auth): the base of a login request's request_url (Hydra OAuth2AuthURL).
 */
export function authorizationEndpointUrl(config: Pick<Config, "urls" | "webfinger">): string {
  return config.webfinger.oidc_discovery.auth_url || under(config.urls.self.public, "oauth2/auth");
}

/**
 * webfinger.oidc_discovery.client_registration_url when set (Hydra publishes it as is, e.g. a
 * registration service elsewhere); else <public>/oauth2/register when dynamic registration is
 * enabled (clients/dynamic-registration.ts); else none (omitted from the document).
 */
export function registrationEndpointUrl(config: Pick<Config, "urls" | "webfinger" | "oidc">): string | undefined {
  if (config.webfinger.oidc_discovery.client_registration_url) return config.webfinger.oidc_discovery.client_registration_url;
  return config.oidc.dynamic_client_registration.enabled ? under(config.urls.self.public, "oauth2/register") : undefined;
}

/**
 * oidc.subject_identifiers.supported_types, without pairwise when access tokens are JWTs:
 * their `sub` would give the user away across clients (Hydra SubjectTypesSupported).
 */
export function subjectTypesSupported(config: Pick<Config, "oidc" | "strategies">): string[] {
  const types = config.oidc.subject_identifiers.supported_types;
  return config.strategies.access_token === "jwt" ? types.filter((t) => t !== "pairwise") : [...types];
}

/** Hydra v1's WellKnownHandler document, field for field and in its order. */
export function buildOpenIdConfiguration(config: Config, can: Capabilities = currentCapabilities(config)) {
  const issuer = config.urls.self.issuer;
  const publicUrl = config.urls.self.public;
  const discovery = config.webfinger.oidc_discovery;
  return {
    issuer,
    authorization_endpoint: authorizationEndpointUrl(config),
    ...(registrationEndpointUrl(config) ? { registration_endpoint: registrationEndpointUrl(config) } : {}),
    token_endpoint: tokenEndpointUrl(config),
    jwks_uri: discovery.jwks_url || under(issuer, ".well-known/jwks.json"),
    subject_types_supported: subjectTypesSupported(config),
    response_types_supported: can.responseTypes,
    claims_supported: [...new Set(["sub", ...discovery.supported_claims])],
    grant_types_supported: can.grantTypes,
    response_modes_supported: can.responseModes,
    userinfo_endpoint: discovery.userinfo_url || under(publicUrl, "userinfo"),
    scopes_supported: [...new Set(["offline_access", "offline", "openid", ...discovery.supported_scope])],
    token_endpoint_auth_methods_supported: can.tokenEndpointAuthMethods,
    id_token_signing_alg_values_supported: can.idTokenSigningAlgs,
    userinfo_signing_alg_values_supported: can.userinfoSigningAlgs,
    request_parameter_supported: can.requestParameter,
    request_uri_parameter_supported: can.requestUriParameter,
    require_request_uri_registration: can.requireRequestUriRegistration,
    claims_parameter_supported: can.claimsParameter,
    revocation_endpoint: under(issuer, "oauth2/revoke"),
    backchannel_logout_supported: can.backchannelLogout,
    backchannel_logout_session_supported: can.backchannelLogoutSession,
    frontchannel_logout_supported: can.frontchannelLogout,
    frontchannel_logout_session_supported: can.frontchannelLogoutSession,
    end_session_endpoint: under(issuer, "oauth2/sessions/logout"),
    request_object_signing_alg_values_supported: can.requestObjectSigningAlgs,
    code_challenge_methods_supported: can.codeChallengeMethods,
  };
}

/**
 * Config is immutable while serving, so the document changes only with the ID-token signing
 * algorithm, which follows the newest key of hydra.openid.id-token (keys/published.ts: at once
 * after a change through this process, within publishedKeysCheckMs after one elsewhere). The
 * text is serialised once per algorithm seen and served as is. Clients may cache it for five minutes.
 */
export function discoverOpenIDConfiguration(deps: Deps): Handler {
  const headers = jsonHeaders({ "Cache-Control": "public, max-age=300" });
  let built: { alg: string | undefined; text: string } | undefined;
  const respond = ({ idTokenAlg }: PublishedKeys) => {
    // Unreadable keys (idTokenAlg undefined) are reported by /health/ready; the document then falls back to the configured algorithm.
    if (!built || built.alg !== idTokenAlg) {
      built = { alg: idTokenAlg, text: JSON.stringify(buildOpenIdConfiguration(deps.config, currentCapabilities(deps.config, idTokenAlg))) };
    }
    return preserialized(built.text, 200, headers);
  };
  return () => {
    const published = currentPublishedKeys(deps);
    return published instanceof Promise ? published.then(respond) : respond(published);
  };
}
