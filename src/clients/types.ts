/**
 * @module The OAuth 2.0 client model (Hydra v1 `client/client.go`): its fields, the
 * values they may take, and the one function that writes a client as Hydra's JSON.
 */

/** Methods a client may use at the token endpoint (fosite; `client_secret_jwt` is not supported). */
export const tokenEndpointAuthMethods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"] as const;
export type TokenEndpointAuthMethod = (typeof tokenEndpointAuthMethods)[number];

/** Grant types Hydra v1 serves (driver/registry_base.go compose factories); no password grant. */
export const grantTypes = [
  "authorization_code",
  "implicit",
  "refresh_token",
  "client_credentials",
  "urn:ietf:params:oauth:grant-type:jwt-bearer",
] as const;

/**
 * Response types the authorization endpoint serves, as sets: order inside one entry is free.
 * Hydra's discovery list plus `code token` (OIDC Core §3.3, which fosite's hybrid handler serves too).
 */
export const responseTypeSets: readonly (readonly string[])[] = [
  ["code"],
  ["code", "id_token"],
  ["id_token"],
  ["id_token", "token"],
  ["token"],
  ["code", "id_token", "token"],
  ["code", "token"],
];

/** Hydra's supportedAuthTokenSigningAlgs for private_key_jwt (client/validator.go). */
export const authSigningAlgs = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"] as const;

export const userinfoSignedResponseAlgs = ["none", "RS256"] as const;

/** Per-client token lifespans (Hydra 1.11 `UpdateOAuth2ClientLifespans`), in Hydra's field order. */
export const lifespanFields = [
  "authorization_code_grant_access_token_lifespan",
  "authorization_code_grant_id_token_lifespan",
  "authorization_code_grant_refresh_token_lifespan",
  "client_credentials_grant_access_token_lifespan",
  "implicit_grant_access_token_lifespan",
  "implicit_grant_id_token_lifespan",
  "jwt_bearer_grant_access_token_lifespan",
  "password_grant_access_token_lifespan",
  "password_grant_refresh_token_lifespan",
  "refresh_token_grant_id_token_lifespan",
  "refresh_token_grant_access_token_lifespan",
  "refresh_token_grant_refresh_token_lifespan",
] as const;
export type LifespanField = (typeof lifespanFields)[number];
/** Each value is a Go duration string in canonical form ("1h0m0s"), or null = use the `ttl.*` config. */
export type Lifespans = Record<LifespanField, string | null>;

export interface JsonWebKeySet {
  keys: Record<string, unknown>[];
}

/**
 * A client as Gatehouse works with it. List fields typed `string[] | null` keep Hydra's
 * distinction on the wire: null when the caller left them out of a create/update body,
 * [] once read back from the database (see store.ts).
 */
export interface OAuth2Client {
  clientId: string;
  clientName: string;
  redirectUris: string[] | null;
  /** null or [] means ["authorization_code"] (OIDC Registration §2); see effectiveGrantTypes. */
  grantTypes: string[] | null;
  /** null or [] means ["code"]; see effectiveResponseTypes. */
  responseTypes: string[] | null;
  /** Space-separated scope tokens (RFC 6749 §3.3). */
  scope: string;
  audience: string[];
  owner: string;
  policyUri: string;
  allowedCorsOrigins: string[];
  tosUri: string;
  clientUri: string;
  logoUri: string;
  contacts: string[] | null;
  subjectType: string;
  sectorIdentifierUri: string;
  jwksUri: string;
  /** undefined = none registered (written as `{}` like Hydra's empty key set). */
  jwks: JsonWebKeySet | undefined;
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  tokenEndpointAuthSigningAlg: string;
  requestUris: string[];
  requestObjectSigningAlg: string;
  userinfoSignedResponseAlg: string;
  createdAt: Date;
  updatedAt: Date;
  frontchannelLogoutUri: string;
  frontchannelLogoutSessionRequired: boolean;
  postLogoutRedirectUris: string[];
  backchannelLogoutUri: string;
  backchannelLogoutSessionRequired: boolean;
  metadata: Record<string, unknown>;
  lifespans: Lifespans;
}

/** A client with what only the server may see. */
export interface StoredClient extends OAuth2Client {
  /** Bun.password hash of the secret; null for clients without one (public, private_key_jwt). */
  secretHash: string | null;
}

export function isPublicClient(client: Pick<OAuth2Client, "tokenEndpointAuthMethod">): boolean {
  return client.tokenEndpointAuthMethod === "none";
}

/** Whether the client authenticates at the token endpoint with a shared secret. */
export function usesClientSecret(method: TokenEndpointAuthMethod): boolean {
  return method === "client_secret_basic" || method === "client_secret_post";
}

export function effectiveGrantTypes(client: Pick<OAuth2Client, "grantTypes">): string[] {
  return client.grantTypes && client.grantTypes.length > 0 ? client.grantTypes : ["authorization_code"];
}

export function effectiveResponseTypes(client: Pick<OAuth2Client, "responseTypes">): string[] {
  return client.responseTypes && client.responseTypes.length > 0 ? client.responseTypes : ["code"];
}

export function effectiveTokenEndpointAuthSigningAlg(client: Pick<OAuth2Client, "tokenEndpointAuthSigningAlg">): string {
  return client.tokenEndpointAuthSigningAlg || "RS256";
}

export function emptyLifespans(): Lifespans {
  return Object.fromEntries(lifespanFields.map((f) => [f, null])) as Lifespans;
}

/** RFC 3339 in UTC to the second, as Hydra writes a rounded time.Time ("2022-08-25T10:00:00Z"). */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Hydra rounds created_at/updated_at to the second (time.Now().UTC().Round(time.Second)). */
export function roundToSecond(date: Date): Date {
  return new Date(Math.round(date.getTime() / 1000) * 1000);
}

export interface WireOptions {
  /** The plaintext secret, only in the response that set it; never for public clients. */
  clientSecret?: string;
  /** DCR responses (RFC 7591 §3.2.1, RFC 7592 §3): the registration access token and where to use it. */
  registration?: { accessToken: string; clientUri: string };
  /** DCR reads: `metadata` is the admin's, not shown to the registrant (Hydra GetDynamicRegistration). */
  omitMetadata?: boolean;
}

/**
 * The client as Hydra v1 serialises it: fields in `client/client.go` order, `omitempty`
 * fields left out when empty, `client_secret` only when given here. The output-only
 * registration_* fields are written only for dynamic registration (clients/dynamic-registration.ts);
 * the admin API does not issue registration tokens (Hydra 1.11 does).
 */
export function toWire(client: OAuth2Client, options: WireOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {
    client_id: client.clientId,
    client_name: client.clientName,
  };
  if (options.clientSecret && !isPublicClient(client)) out.client_secret = options.clientSecret;
  Object.assign(out, {
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
    response_types: client.responseTypes,
    scope: client.scope,
    audience: client.audience,
    owner: client.owner,
    policy_uri: client.policyUri,
    allowed_cors_origins: client.allowedCorsOrigins,
    tos_uri: client.tosUri,
    client_uri: client.clientUri,
    logo_uri: client.logoUri,
    contacts: client.contacts,
    // Hydra forces 0: secrets do not expire.
    client_secret_expires_at: 0,
    subject_type: client.subjectType,
  });
  const omitEmpty = (key: string, value: string | boolean | string[]) => {
    if (Array.isArray(value) ? value.length > 0 : value) out[key] = value;
  };
  omitEmpty("sector_identifier_uri", client.sectorIdentifierUri);
  omitEmpty("jwks_uri", client.jwksUri);
  out.jwks = client.jwks ?? {};
  omitEmpty("token_endpoint_auth_method", client.tokenEndpointAuthMethod);
  omitEmpty("token_endpoint_auth_signing_alg", client.tokenEndpointAuthSigningAlg);
  omitEmpty("request_uris", client.requestUris);
  omitEmpty("request_object_signing_alg", client.requestObjectSigningAlg);
  omitEmpty("userinfo_signed_response_alg", client.userinfoSignedResponseAlg);
  out.created_at = rfc3339(client.createdAt);
  out.updated_at = rfc3339(client.updatedAt);
  omitEmpty("frontchannel_logout_uri", client.frontchannelLogoutUri);
  omitEmpty("frontchannel_logout_session_required", client.frontchannelLogoutSessionRequired);
  omitEmpty("post_logout_redirect_uris", client.postLogoutRedirectUris);
  omitEmpty("backchannel_logout_uri", client.backchannelLogoutUri);
  omitEmpty("backchannel_logout_session_required", client.backchannelLogoutSessionRequired);
  if (!options.omitMetadata) out.metadata = client.metadata;
  if (options.registration) {
    out.registration_access_token = options.registration.accessToken;
    out.registration_client_uri = options.registration.clientUri;
  }
  for (const field of lifespanFields) out[field] = client.lifespans[field];
  return out;
}
