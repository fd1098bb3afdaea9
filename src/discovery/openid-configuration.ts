/**
 * @module GET /.well-known/openid-configuration (OpenID Connect Discovery 1.0 §3, RFC 8414):
 * one builder, run once at start-up; the handler serves the pre-serialised text.
 * URLs come from urls.self.issuer / urls.self.public, never from the request's Host.
 */
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { firstStartKeySpec } from "../keys/defaults.ts";
import { preserialized, type Handler } from "../server/http.ts";

/**
 * What the server can do right now; every *_supported list is built from this, so the
 * document never advertises what is not implemented. An empty list is stated, not omitted,
 * because an omitted field has a non-empty default (RFC 8414 §2: grant_types_supported
 * defaults to ["authorization_code","implicit"], token_endpoint_auth_methods_supported
 * to ["client_secret_basic"]; OIDC Discovery: request_uri_parameter_supported to true).
 *
 * Later issues extend it where they implement the feature (Hydra v1's values, hydra-v1 §1.1.1):
 * - token endpoint (oauth2/token.ts, grants/*): grantTypes (authorization_code,
 *   client_credentials, refresh_token), tokenEndpointAuthMethods (client_secret_post,
 *   client_secret_basic, private_key_jwt, none).
 * - authorize endpoint (oauth2/authorize.ts): responseTypes, responseModes (query, fragment),
 *   codeChallengeMethods (S256 only; Hydra lists plain but rejects it), requestParameter,
 *   requestUriParameter, requireRequestUriRegistration, requestObjectSigningAlgs, and
 *   "implicit" in grantTypes with the implicit response types.
 * - userinfo (oauth2/userinfo.ts): userinfoSigningAlgs (none, RS256).
 * - logout (flows/logout.ts): front/backchannel logout flags.
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

/** Only discovery and JWKS exist so far. */
export function currentCapabilities(config: Config): Capabilities {
  return {
    grantTypes: [],
    responseTypes: [],
    responseModes: [],
    tokenEndpointAuthMethods: [],
    // The algorithm of the ID-token key generated on first start (REQUIRED field, OIDC
    // Discovery §3). The issue that signs ID tokens must keep this equal to what it signs with.
    idTokenSigningAlgs: [firstStartKeySpec(config).alg],
    userinfoSigningAlgs: [],
    requestObjectSigningAlgs: [],
    codeChallengeMethods: [],
    requestParameter: false,
    requestUriParameter: false,
    requireRequestUriRegistration: false,
    claimsParameter: false,
    backchannelLogout: false,
    backchannelLogoutSession: false,
    frontchannelLogout: false,
    frontchannelLogoutSession: false,
  };
}

/** `base` ends with "/" (config/load.ts forces it), so a path under the issuer keeps the issuer's path. */
function under(base: string, path: string): string {
  return new URL(path, base).toString();
}

/** Hydra v1's WellKnownHandler document, field for field and in its order. */
export function buildOpenIdConfiguration(config: Config, can: Capabilities = currentCapabilities(config)) {
  const issuer = config.urls.self.issuer;
  const publicUrl = config.urls.self.public;
  const discovery = config.webfinger.oidc_discovery;
  return {
    issuer,
    authorization_endpoint: discovery.auth_url || under(publicUrl, "oauth2/auth"),
    ...(discovery.client_registration_url ? { registration_endpoint: discovery.client_registration_url } : {}),
    token_endpoint: discovery.token_url || under(publicUrl, "oauth2/token"),
    jwks_uri: discovery.jwks_url || under(issuer, ".well-known/jwks.json"),
    subject_types_supported: [...config.oidc.subject_identifiers.supported_types],
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
 * Config is immutable while serving, so the document is serialised once, when the
 * route table is built at start-up. It may be cached by clients for five minutes.
 */
export function discoverOpenIDConfiguration(deps: Deps): Handler {
  const body = JSON.stringify(buildOpenIdConfiguration(deps.config));
  return () => preserialized(body, 200, { "Cache-Control": "public, max-age=300" });
}
