/**
 * @module Validation of OAuth2Client bodies (valibot), once, at the edge: Hydra v1's
 * client/validator.go rules plus the stricter checks Gatehouse adds (known grant,
 * response and auth-method values, RFC 6749 §3.3 scopes, absolute URIs).
 * Problems become 400 invalid_client_metadata (invalid_redirect_uri for redirect_uris)
 * with a hint that names the field.
 */
import * as v from "valibot";
import type { Mode } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { badRequest, invalidClientMetadata, OAuthError } from "../errors.ts";
import { isLocalhost } from "../oauth2/redirect-uri.ts";
import { canonicalLifespan } from "./lifespans.ts";
import { containsNul } from "../server/http.ts";
import {
  authSigningAlgs,
  grantTypes,
  lifespanFields,
  responseTypeSets,
  tokenEndpointAuthMethods,
  userinfoSignedResponseAlgs,
  type JsonWebKeySet,
  type Lifespans,
  type OAuth2Client,
  type TokenEndpointAuthMethod,
} from "./types.ts";

/** fosite/Hydra wording (client/error.go), so bodies match Hydra's byte for byte. */
const clientMetadataDescription =
  "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.";
const redirectUriDescription = "The value of one or more redirect_uris is invalid.";

export function clientMetadataError(hint: string): OAuthError {
  return invalidClientMetadata(clientMetadataDescription, { hint });
}

/** RFC 7591 §3.2.2 invalid_redirect_uri, as Hydra's ErrInvalidRedirectURI. */
export function redirectUriError(hint: string): OAuthError {
  return new OAuthError("invalid_redirect_uri", 400, redirectUriDescription, { hint });
}

/** Hydra's minimum (client/validator.go), counted in bytes as Go's len(). */
export const minSecretBytes = 6;

/** What a create/update body says, before the server adds id, timestamps and the secret hash. */
export type ClientFields = Omit<OAuth2Client, "createdAt" | "updatedAt">;

export interface ClientInput {
  /** clientId is "" when the body did not set one. */
  fields: ClientFields;
  /** The plaintext secret the caller chose, if any ("" counts as none, as in Hydra). */
  clientSecret: string | undefined;
}

// ---- value checks -------------------------------------------------------------

const controlOrSpace = /[\s\u0000-\u001f\u007f]/;

/** An absolute URI with a scheme; whitespace is refused because redirect URIs are compared verbatim later. */
function isAbsoluteUri(value: string): boolean {
  return !controlOrSpace.test(value) && /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(value) && URL.canParse(value);
}

function isHttpUrl(value: string): boolean {
  return isAbsoluteUri(value) && /^https?:$/.test(new URL(value).protocol);
}

// RFC 6749 §3.3: scope = scope-token *( SP scope-token ); scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const scopePattern = /^[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*$/;

/**
 * Where a sector_identifier_uri may point (its document is fetched: clients/sector-identifier.ts).
 * https only; with --dev or --dangerous-force-http also plain http to a loopback host
 * (localhost, *.localhost, 127.0.0.0/8, [::1]), for local setups and tests without a certificate.
 */
export function sectorIdentifierUriAllowed(uri: string, mode?: Pick<Mode, "dev" | "forceHttp">): boolean {
  if (!isAbsoluteUri(uri)) return false;
  const url = new URL(uri);
  if (url.protocol === "https:") return true;
  return url.protocol === "http:" && mode !== undefined && (mode.dev || mode.forceHttp) && isLocalhost(url);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Quotes a value for a hint; the renderer turns the quotes into ' as fosite does. */
const quote = (value: unknown) => `"${String(value)}"`;

// ---- field schemas --------------------------------------------------------------

/** A string field; JSON null reads as "", as Go's decoder does. */
const text = () => v.nullish(v.string(), "");
const flag = () => v.nullish(v.boolean(), false);
/** A list that stays null when absent (Hydra echoes null), [] when sent empty. */
const nullableList = () => v.nullish(v.array(v.string()), null);
const list = () => v.nullish(v.array(v.string()), () => [] as string[]);

const optionalUri = (field: string, check: (s: string) => boolean = isAbsoluteUri, what = "an absolute URI") =>
  v.pipe(
    text(),
    v.check((s) => s === "" || check(s), (issue) => `Field ${field} must be ${what}, got ${quote(issue.input)}.`),
  );

const uriList = (field: string) =>
  v.pipe(
    list(),
    v.check(
      (items) => items.every(isAbsoluteUri),
      (issue) => `Field ${field} must contain absolute URIs only, got ${quote((issue.input as string[]).find((s) => !isAbsoluteUri(s)))}.`,
    ),
  );

const lifespan = (field: string) =>
  v.pipe(
    v.nullish(v.string(), null),
    v.check(
      (s) => s === null || canonicalLifespan(s) !== undefined,
      (issue) => `Field ${field} must be a positive duration such as "1h", "30m" or "1h30m0s", or null, got ${quote(issue.input)}.`,
    ),
    v.transform((s) => (s === null ? null : canonicalLifespan(s)!)),
  );

const lifespanEntries = Object.fromEntries(lifespanFields.map((f) => [f, lifespan(f)])) as {
  [K in (typeof lifespanFields)[number]]: ReturnType<typeof lifespan>;
};

function checkCorsOrigin(origin: string): string | undefined {
  if (controlOrSpace.test(origin) || !URL.canParse(origin)) return `Origin URL ${quote(origin)} from allowed_cors_origins could not be parsed.`;
  const u = new URL(origin);
  if (u.protocol !== "https:" && u.protocol !== "http:") return `Origin URL ${quote(origin)} from allowed_cors_origins must use https:// or http:// as HTTP scheme.`;
  if (u.username || u.password) return `Origin URL ${quote(origin)} from allowed_cors_origins has HTTP user and/or password set which is not allowed.`;
  const path = origin.replace(/^[a-z]+:\/\/[^/?#]*/i, "").replace(/\/+$/, "");
  if (path !== "") return `Origin URL ${quote(origin)} from allowed_cors_origins must have an empty path, query, and fragment but one of the parts is not empty.`;
  return undefined;
}

function checkResponseType(entry: string): boolean {
  const parts = entry.split(" ");
  if (parts.some((p) => p === "") || new Set(parts).size !== parts.length) return false;
  return responseTypeSets.some((set) => set.length === parts.length && set.every((p) => parts.includes(p)));
}

const jwksSchema = v.pipe(
  v.nullish(v.looseObject({ keys: v.optional(v.array(v.looseObject({ kty: v.string() }))) }), null),
  // `{}` (Hydra writes it for "no keys") and an empty key set both mean none registered.
  v.transform((set): JsonWebKeySet | undefined =>
    set?.keys && set.keys.length > 0 ? { keys: set.keys as Record<string, unknown>[] } : undefined,
  ),
);

// ---- the client schema ------------------------------------------------------------

export type ClientConfig = Pick<Config, "oidc">;

/**
 * Builds the body schema for one configuration (supported subject types, default scope) and
 * serving mode (`mode` only widens sector_identifier_uri to loopback http; see
 * sectorIdentifierUriAllowed). Built once per server; entries are in Hydra's field order so
 * the first problem reported is the one Hydra would report.
 */
export function clientInputSchema(config: ClientConfig, mode?: Pick<Mode, "dev" | "forceHttp">) {
  const supportedSubjectTypes = config.oidc.subject_identifiers.supported_types;
  const defaultScope = config.oidc.dynamic_client_registration.default_scope.join(" ");

  const entries = {
    client_id: v.pipe(
      text(),
      v.check((s) => s.length <= 255, "Field client_id must be at most 255 characters long."),
      v.check((s) => !/[\u0000-\u001f\u007f/]/.test(s), (issue) => `Field client_id must not contain control characters or "/", got ${quote(issue.input)}.`),
    ),
    client_name: text(),
    client_secret: v.pipe(
      text(),
      v.check(
        (s) => s === "" || Buffer.byteLength(s, "utf8") >= minSecretBytes,
        `Field client_secret must contain a secret that is at least ${minSecretBytes} characters long.`,
      ),
    ),
    redirect_uris: v.pipe(
      nullableList(),
      v.check(
        (items) => (items ?? []).every((s) => isAbsoluteUri(s)),
        (issue) => `Unable to parse redirect URL: ${(issue.input as string[]).find((s) => !isAbsoluteUri(s))} (redirect URIs must be absolute).`,
      ),
      v.check((items) => (items ?? []).every((s) => !s.includes("#")), "Redirect URIs must not contain fragments (#)."),
    ),
    grant_types: v.pipe(
      nullableList(),
      v.check(
        (items) => (items ?? []).every((g) => (grantTypes as readonly string[]).includes(g)),
        (issue) =>
          `Field grant_types contains the unsupported grant type ${quote((issue.input as string[]).find((g) => !(grantTypes as readonly string[]).includes(g)))}; supported are ${grantTypes.join(", ")}.`,
      ),
    ),
    response_types: v.pipe(
      nullableList(),
      v.check(
        (items) => (items ?? []).every(checkResponseType),
        (issue) =>
          `Field response_types contains the unsupported response type ${quote((issue.input as string[]).find((r) => !checkResponseType(r)))}; supported are ${responseTypeSets.map((s) => s.join(" ")).join(", ")}.`,
      ),
    ),
    scope: v.pipe(
      text(),
      v.check(
        (s) => s === "" || scopePattern.test(s),
        (issue) => `Field scope must be scope tokens separated by single spaces (RFC 6749 Section 3.3), got ${quote(issue.input)}.`,
      ),
    ),
    audience: v.pipe(
      list(),
      v.check((items) => items.every((a) => a !== "" && !controlOrSpace.test(a)), "Field audience must not contain empty values or values with whitespace."),
    ),
    owner: text(),
    policy_uri: optionalUri("policy_uri"),
    allowed_cors_origins: v.pipe(
      list(),
      v.rawCheck(({ dataset, addIssue }) => {
        if (!dataset.typed) return;
        for (const origin of dataset.value) {
          const problem = checkCorsOrigin(origin);
          if (problem) return addIssue({ message: problem });
        }
      }),
      // Hydra stores the origin without trailing slashes.
      v.transform((items) => items.map((o) => o.replace(/\/+$/, ""))),
    ),
    tos_uri: optionalUri("tos_uri"),
    client_uri: optionalUri("client_uri"),
    logo_uri: optionalUri("logo_uri"),
    contacts: nullableList(),
    subject_type: v.pipe(
      text(),
      v.check(
        (s) => s === "" || supportedSubjectTypes.includes(s),
        (issue) => `Subject type ${issue.input} is not supported by server, only [${supportedSubjectTypes.join(" ")}] are allowed.`,
      ),
    ),
    sector_identifier_uri: optionalUri("sector_identifier_uri", (s) => sectorIdentifierUriAllowed(s, mode), "an HTTPS URL"),
    jwks_uri: optionalUri("jwks_uri", isHttpUrl, "an http(s) URL"),
    jwks: jwksSchema,
    token_endpoint_auth_method: v.pipe(
      text(),
      v.check(
        (s) => s === "" || (tokenEndpointAuthMethods as readonly string[]).includes(s),
        (issue) => `Field token_endpoint_auth_method must be one of ${tokenEndpointAuthMethods.join(", ")}, got ${quote(issue.input)}.`,
      ),
      v.transform((s) => (s || "client_secret_basic") as TokenEndpointAuthMethod),
    ),
    token_endpoint_auth_signing_alg: text(),
    request_uris: uriList("request_uris"),
    request_object_signing_alg: text(),
    userinfo_signed_response_alg: v.pipe(
      text(),
      v.check(
        (s) => s === "" || (userinfoSignedResponseAlgs as readonly string[]).includes(s),
        "Field userinfo_signed_response_alg can either be 'none' or 'RS256'.",
      ),
    ),
    frontchannel_logout_uri: optionalUri("frontchannel_logout_uri"),
    frontchannel_logout_session_required: flag(),
    post_logout_redirect_uris: uriList("post_logout_redirect_uris"),
    backchannel_logout_uri: optionalUri("backchannel_logout_uri"),
    backchannel_logout_session_required: flag(),
    metadata: v.nullish(
      v.custom<Record<string, unknown>>(isPlainObject, "Field metadata must be a JSON object."),
      () => ({}),
    ),
    ...lifespanEntries,
  };

  return v.pipe(
    v.object(entries),
    // Rules across fields, in Hydra's order (client/validator.go Validate).
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      const c = dataset.value;
      const problem = crossFieldProblem(c, supportedSubjectTypes);
      if (problem) addIssue({ message: problem });
    }),
    v.transform((c): ClientInput => {
      const lifespans = Object.fromEntries(lifespanFields.map((f) => [f, c[f]])) as Lifespans;
      return {
        clientSecret: c.client_secret || undefined,
        fields: {
          clientId: c.client_id,
          clientName: c.client_name,
          redirectUris: c.redirect_uris,
          grantTypes: c.grant_types,
          responseTypes: c.response_types,
          // Hydra applies the DCR default scope to every client created with none.
          scope: c.scope || defaultScope,
          audience: c.audience,
          owner: c.owner,
          policyUri: c.policy_uri,
          allowedCorsOrigins: c.allowed_cors_origins,
          tosUri: c.tos_uri,
          clientUri: c.client_uri,
          logoUri: c.logo_uri,
          contacts: c.contacts,
          subjectType: c.subject_type || (supportedSubjectTypes.includes("public") ? "public" : (supportedSubjectTypes[0] ?? "public")),
          sectorIdentifierUri: c.sector_identifier_uri,
          jwksUri: c.jwks_uri,
          jwks: c.jwks,
          tokenEndpointAuthMethod: c.token_endpoint_auth_method,
          tokenEndpointAuthSigningAlg: c.token_endpoint_auth_signing_alg,
          requestUris: c.request_uris,
          requestObjectSigningAlg: c.request_object_signing_alg,
          userinfoSignedResponseAlg: c.userinfo_signed_response_alg || "none",
          frontchannelLogoutUri: c.frontchannel_logout_uri,
          frontchannelLogoutSessionRequired: c.frontchannel_logout_session_required,
          postLogoutRedirectUris: c.post_logout_redirect_uris,
          backchannelLogoutUri: c.backchannel_logout_uri,
          backchannelLogoutSessionRequired: c.backchannel_logout_session_required,
          metadata: c.metadata,
          lifespans,
        },
      };
    }),
  );
}

interface CrossFieldView {
  client_secret: string;
  redirect_uris: string[] | null;
  subject_type: string;
  sector_identifier_uri: string;
  jwks_uri: string;
  jwks: JsonWebKeySet | undefined;
  token_endpoint_auth_method: TokenEndpointAuthMethod;
  token_endpoint_auth_signing_alg: string;
  post_logout_redirect_uris: string[];
}

function crossFieldProblem(c: CrossFieldView, supportedSubjectTypes: readonly string[]): string | undefined {
  const method = c.token_endpoint_auth_method;
  if (method === "private_key_jwt") {
    if (!c.jwks_uri && !c.jwks) return "When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set.";
    if (c.token_endpoint_auth_signing_alg && !(authSigningAlgs as readonly string[]).includes(c.token_endpoint_auth_signing_alg)) {
      return `Field token_endpoint_auth_signing_alg: only ${authSigningAlgs.join(", ")} are supported as algorithms for private key authentication.`;
    }
  }
  if (c.jwks_uri && c.jwks) return "Fields jwks and jwks_uri can not both be set, you must choose one.";
  // A public client proves nothing at the token endpoint; a secret would only suggest otherwise.
  if (method === "none" && c.client_secret) return "Field client_secret must not be set when token_endpoint_auth_method is 'none' (a public client has no secret).";

  const redirects = (c.redirect_uris ?? []).map((r) => new URL(r));
  const subjectType = c.subject_type || (supportedSubjectTypes.includes("public") ? "public" : supportedSubjectTypes[0]);
  // OIDC Core §8.1: without a sector_identifier_uri the sector is the redirect host, so there must be one.
  if (subjectType === "pairwise" && !c.sector_identifier_uri && new Set(redirects.map((u) => u.hostname)).size > 1) {
    return "Field sector_identifier_uri is required for subject_type 'pairwise' when redirect_uris use more than one host.";
  }
  for (const l of c.post_logout_redirect_uris) {
    const u = new URL(l);
    if (!redirects.some((r) => r.hostname === u.hostname && r.port === u.port && r.protocol === u.protocol)) {
      return `post_logout_redirect_uri ${quote(l)} must match the domain, port, scheme of at least one of the registered redirect URIs but did not.`;
    }
  }
  return undefined;
}

export type ClientInputSchema = ReturnType<typeof clientInputSchema>;

function pathOf(issue: v.BaseIssue<unknown>): string {
  let out = "";
  for (const item of issue.path ?? []) {
    const key = (item as { key: unknown }).key;
    out += typeof key === "number" ? `[${key}]` : out === "" ? String(key) : `.${String(key)}`;
  }
  return out;
}

/** Type errors get a hint naming the field; our own checks already name it. */
function hintOf(issue: v.BaseIssue<unknown>): string {
  if (issue.kind === "schema" && issue.type !== "custom") {
    const path = pathOf(issue);
    if (issue.received === "undefined") return `Field ${path} is required.`;
    return `Field ${path} must be of type ${issue.expected}, got ${issue.received}.`;
  }
  return issue.message;
}

/** valibot's object() takes arrays too; a body must be a JSON object. */
function requireObject(body: unknown, what: string): asserts body is Record<string, unknown> {
  if (!isPlainObject(body)) throw badRequest(undefined, { hint: `The request body must be a JSON object holding ${what}.` });
}

/** Most values one list field (redirect URIs, contacts, audience…) or the scope may hold. */
export const maxListItems = 100;

/** Bounds every list before validation: each item is checked and later matched per request. */
function checkListSizes(body: Record<string, unknown>) {
  for (const [key, value] of Object.entries(body)) {
    if (key === "metadata" || !Array.isArray(value) || value.length <= maxListItems) continue;
    const message = `Field ${key} must hold at most ${maxListItems} values, got ${value.length}.`;
    throw key === "redirect_uris" ? redirectUriError(message) : clientMetadataError(message);
  }
  if (typeof body.scope === "string" && body.scope.split(" ").length > maxListItems) {
    throw clientMetadataError(`Field scope must hold at most ${maxListItems} scope tokens.`);
  }
}

/** PostgreSQL text and jsonb cannot hold NUL: such a value is bad metadata, not a 500 from the store. */
function checkNoNul(body: Record<string, unknown>) {
  for (const [key, value] of Object.entries(body)) {
    if (key.includes("\0") || containsNul(value)) {
      const message = `Field ${key.replace(/\0/g, "\\0")} must not contain NUL characters.`;
      throw key === "redirect_uris" ? redirectUriError(message) : clientMetadataError(message);
    }
  }
}

/** Parses a client body or throws the 400 Hydra would send. */
export function parseClientInput(schema: ClientInputSchema, body: unknown): ClientInput {
  requireObject(body, "an OAuth2Client");
  checkListSizes(body);
  checkNoNul(body);
  const result = v.safeParse(schema, body, { abortPipeEarly: true });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const field = (issue.path?.[0] as { key?: unknown } | undefined)?.key;
  if (field === "redirect_uris" && issue.kind !== "schema") throw redirectUriError(issue.message);
  throw clientMetadataError(hintOf(issue));
}

const lifespansSchema = v.object(lifespanEntries);

/** Body of PUT /clients/{id}/lifespans: every field replaced, absent ones become null. */
export function parseLifespans(body: unknown): Lifespans {
  requireObject(body, "the client's lifespans");
  const result = v.safeParse(lifespansSchema, body, { abortPipeEarly: true });
  if (!result.success) throw clientMetadataError(hintOf(result.issues[0]));
  return Object.fromEntries(lifespanFields.map((f) => [f, result.output[f]])) as Lifespans;
}
