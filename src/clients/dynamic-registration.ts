/**
 * @module Dynamic client registration on the public listener (Hydra v1 client/handler.go):
 * POST /oauth2/register (RFC 7591, OpenID Connect Dynamic Client Registration 1.0) and
 * GET/PUT/DELETE /oauth2/register/{id} (RFC 7592 client configuration endpoint), also
 * answered at /connect/register, the path the Hydra 1.11 SDK's PublicApi calls. Mounted only
 * when oidc.dynamic_client_registration.enabled (server/public-routes.ts).
 *
 * The registrant may be anyone on the network, so it gets less than the admin API gives:
 *  - the server picks client_id (a UUIDv4) and the secret; choosing a secret is 403 (Hydra);
 *  - `metadata` and the per-client token lifespans are the administrator's: sending them is
 *    400 invalid_client_metadata, reads do not show `metadata`, updates keep both as stored;
 *  - the client is managed afterwards only with the registration access token issued with it,
 *    an opaque HMAC token (oauth2.token_prefix.registration_access_token) stored only as its
 *    signature, compared in constant time, and replaced on every PUT (RFC 7592 §2.2) by a
 *    compare-and-swap, so one token serves one update. Clients created by the admin API have
 *    no such token and cannot be managed here.
 * Body validation is the admin API's (clients/schemas.ts), sector_identifier_uri included.
 */
import type { BunRequest } from "bun";
import type { Config } from "../config/schema.ts";
import type { Deps } from "../deps.ts";
import { conflict, OAuthError } from "../errors.ts";
import { constantTimeEqual } from "../lib/crypto.ts";
import { generateOpaqueToken, opaqueTokenSignature, type OpaqueToken } from "../oauth2/opaque-token.ts";
import { json, noStore, readJson, type Handler, type RouteTable } from "../server/http.ts";
import { deleteClientAndDependents, planSecret } from "./lifecycle.ts";
import { clientInputSchema, clientMetadataError, isPlainObject, parseClientInput, type ClientInput, type ClientInputSchema } from "./schemas.ts";
import { forgetClientSecret, verifyClientSecret } from "./secrets.ts";
import { checkOutboundUrls } from "./outbound-urls.ts";
import { checkSectorIdentifier } from "./sector-identifier.ts";
import { getClientRegistration, insertClient, updateClient } from "./store.ts";
import { emptyLifespans, lifespanFields, roundToSecond, toWire, type Lifespans, type OAuth2Client, type StoredClient } from "./types.ts";

/** Hydra's DynClientsHandlerPath; registration_client_uri points here. */
export const registrationPath = "/oauth2/register";
/** Where @ory/hydra-client 1.11 PublicApi.dynamicClientRegistration* send their requests. */
export const sdkRegistrationPath = "/connect/register";

/** Hydra's wording (ValidDynamicAuth): one answer for an unknown client and for a wrong token. */
const unauthorizedDescription = "The requested OAuth 2.0 client does not exist or you provided incorrect credentials.";

/**
 * 401 as Hydra's herodot ErrUnauthorized, with the RFC 6750 §3 challenge: no error code when
 * the request carried no token, invalid_token when it carried one that is not right.
 */
function unauthorized(tokenPresented: boolean): OAuthError {
  return new OAuthError("The request could not be authorized", 401, unauthorizedDescription, {
    headers: { "WWW-Authenticate": tokenPresented ? 'Bearer error="invalid_token"' : "Bearer" },
  });
}

/** Hydra answers a chosen secret with herodot's ErrForbidden (client/handler.go CreateClient). */
function secretForbidden(): OAuthError {
  return new OAuthError("The requested action was forbidden", 403, "It is not allowed to choose your own OAuth2 Client secret.");
}

/** <urls.self.public>oauth2/register/<id>: urls.self.public ends with "/" (config/load.ts), so its path is kept. */
export function registrationClientUri(config: Pick<Config, "urls">, clientId: string): string {
  return new URL(`oauth2/register/${encodeURIComponent(clientId)}`, config.urls.self.public).toString();
}

function issueRegistrationToken(config: Config): OpaqueToken {
  return generateOpaqueToken(config.secrets.system, "registration_access_token", config.oauth2.token_prefix.registration_access_token);
}

/** A JSON value that counts as sent: Go decodes null and "" into the zero value, which Hydra treats as absent. */
const isSet = (value: unknown) => value !== undefined && value !== null && value !== "";

/**
 * The Bearer credential of RFC 6750 §2.1: undefined when there is no Authorization header,
 * "" when there is one that is not a well-formed Bearer token (still a presented credential).
 */
function bearerToken(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  if (header === null) return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  return match?.[1] ?? "";
}

interface Registration {
  client: StoredClient;
  /** The signature of the presented token, as stored. */
  signature: string;
  token: string;
}

/** RFC 7592 §2: the registration access token must be this client's current one. */
async function authenticateRegistration(deps: Deps, req: BunRequest): Promise<Registration> {
  const token = bearerToken(req);
  if (token === undefined) throw unauthorized(false);
  const { secrets, oauth2 } = deps.config;
  // A token we did not sign is refused before any database work.
  const signature = opaqueTokenSignature(secrets.system, "registration_access_token", oauth2.token_prefix.registration_access_token, token);
  if (!signature) throw unauthorized(true);
  const found = await getClientRegistration(deps.db, (req.params as Record<string, string>).id ?? "");
  // Unknown client, admin-created client (no token) and another client's token all get the same 401.
  if (!found?.registrationTokenSignature || !constantTimeEqual(found.registrationTokenSignature, signature)) throw unauthorized(true);
  return { client: found.client, signature, token };
}

/**
 * Parses a registration body with the admin API's schema, after the DCR-only rules, in
 * Hydra's order (ValidateDynamicRegistration checks metadata before Validate). Lifespans
 * may only be sent as they already are (`current`): a PUT may echo what GET showed.
 */
function parseRegistration(schema: ClientInputSchema, body: unknown, current: Lifespans): ClientInput {
  if (isPlainObject(body) && isSet(body.metadata)) {
    throw clientMetadataError("Field metadata cannot be set for dynamic client registration; it is reserved for the administrator.");
  }
  const input = parseClientInput(schema, body);
  const sent = body as Record<string, unknown>;
  const changed = lifespanFields.find((f) => isSet(sent[f]) && input.fields.lifespans[f] !== current[f]);
  if (changed) {
    throw clientMetadataError(`Field ${changed} cannot be set for dynamic client registration; token lifespans are set by the administrator.`);
  }
  return input;
}

function withoutSecret(body: unknown): unknown {
  if (!isPlainObject(body)) return body;
  const { client_secret: _secret, ...rest } = body;
  return rest;
}

export function dynamicClientRegistrationCreateOAuth2Client(deps: Deps, schema: ClientInputSchema = clientInputSchema(deps.config, deps.mode)): Handler {
  return async (req) => {
    const body = await readJson(req);
    if (isPlainObject(body) && isSet(body.client_secret)) throw secretForbidden();
    const input = parseRegistration(schema, body, emptyLifespans());
    const at = roundToSecond(deps.clock.now());
    // RFC 7591 §3.2.1: the server issues client_id; anything the body said is ignored (Hydra).
    const client: OAuth2Client = { ...input.fields, clientId: crypto.randomUUID(), metadata: {}, lifespans: emptyLifespans(), createdAt: at, updatedAt: at };
    await checkSectorIdentifier(deps, client);
    await checkOutboundUrls(deps, client);
    const { change, plaintext } = await planSecret(deps, { ...input, clientSecret: undefined }, false);
    const registration = issueRegistrationToken(deps.config);
    const created = await insertClient(deps.db, client, change.kind === "set" ? change.hash : null, registration.signature);
    if (!created) throw conflict();
    const clientUri = registrationClientUri(deps.config, client.clientId);
    // client_secret (when the auth method uses one) and client_secret_expires_at: 0 come from toWire.
    const body201 = toWire(client, { clientSecret: plaintext, registration: { accessToken: registration.token, clientUri } });
    return noStore(json(body201, 201, { Location: clientUri }));
  };
}

export function dynamicClientRegistrationGetOAuth2Client(deps: Deps): Handler {
  return async (req) => {
    const { client, token } = await authenticateRegistration(deps, req);
    // RFC 7592 §3 wants the token in the response; the caller just presented it, and we keep no copy.
    const registration = { accessToken: token, clientUri: registrationClientUri(deps.config, client.clientId) };
    return noStore(json(toWire(client, { omitMetadata: true, registration })));
  };
}

export function dynamicClientRegistrationUpdateOAuth2Client(deps: Deps, schema: ClientInputSchema = clientInputSchema(deps.config, deps.mode)): Handler {
  return async (req) => {
    // Credentials first (Hydra): an unauthenticated caller learns nothing from body errors.
    const auth = await authenticateRegistration(deps, req);
    const stored = auth.client;
    const body = await readJson(req);
    if (isPlainObject(body)) {
      // RFC 7592 §2.2: a client_secret in the body must be the current one; it can never set a new one (Hydra: 403).
      const secret = body.client_secret;
      if (isSet(secret) && !(typeof secret === "string" && (await verifyClientSecret(deps, stored, secret)))) throw secretForbidden();
      // RFC 7592 §2.2: the body's client_id, if any, is this client's.
      if (isSet(body.client_id) && body.client_id !== stored.clientId) {
        throw clientMetadataError(`Field client_id must be the id of the client being updated, '${stored.clientId}'.`);
      }
    }
    const input = parseRegistration(schema, withoutSecret(body), stored.lifespans);
    const client: OAuth2Client = {
      ...input.fields,
      clientId: stored.clientId,
      metadata: stored.metadata,
      lifespans: stored.lifespans,
      createdAt: stored.createdAt,
      updatedAt: roundToSecond(deps.clock.now()),
    };
    await checkSectorIdentifier(deps, client, stored);
    await checkOutboundUrls(deps, client, stored);
    const { change, plaintext } = await planSecret(deps, { ...input, clientSecret: undefined }, stored.secretHash !== null);
    const next = issueRegistrationToken(deps.config);
    const updated = await updateClient(deps.db, client, change, { expected: auth.signature, next: next.signature });
    forgetClientSecret(deps, stored.clientId);
    // Deleted meanwhile, or another update with the same token won the rotation.
    if (!updated) throw unauthorized(true);
    const registration = { accessToken: next.token, clientUri: registrationClientUri(deps.config, client.clientId) };
    return noStore(json(toWire(client, { clientSecret: plaintext, omitMetadata: true, registration })));
  };
}

export function dynamicClientRegistrationDeleteOAuth2Client(deps: Deps): Handler {
  return async (req) => {
    const { client } = await authenticateRegistration(deps, req);
    const deleted = await deps.db.transaction((tx) => deleteClientAndDependents(tx, client.clientId));
    forgetClientSecret(deps, client.clientId);
    if (!deleted) throw unauthorized(true);
    return new Response(null, { status: 204 });
  };
}

/** The DCR paths, under Hydra's /oauth2/register and the SDK's /connect/register alike. */
export function dynamicClientRegistrationRoutes(deps: Deps): RouteTable {
  const schema = clientInputSchema(deps.config, deps.mode);
  const create = dynamicClientRegistrationCreateOAuth2Client(deps, schema);
  const manage = {
    GET: dynamicClientRegistrationGetOAuth2Client(deps),
    PUT: dynamicClientRegistrationUpdateOAuth2Client(deps, schema),
    DELETE: dynamicClientRegistrationDeleteOAuth2Client(deps),
  };
  return {
    [registrationPath]: { POST: create },
    [`${registrationPath}/:id`]: manage,
    [sdkRegistrationPath]: { POST: create },
    [`${sdkRegistrationPath}/:id`]: manage,
  };
}
