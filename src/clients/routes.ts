/**
 * @module Admin API for OAuth 2.0 clients (Hydra v1 client/handler.go): /clients and
 * /clients/{id} (+ /lifespans). Handlers are named after Hydra's operationIds.
 */
import type { BunRequest } from "bun";
import type { Deps } from "../deps.ts";
import { badRequest, conflict, notFound } from "../errors.ts";
import { json, readJson, type Handler, type RouteTable } from "../server/http.ts";
import { paginationHeaders, parsePage } from "../server/pagination.ts";
import type { Db } from "../storage/db.ts";
import { applyPatch, JsonPatchError, readPatch, type PatchOperation } from "./json-patch.ts";
import { clientInputSchema, parseClientInput, parseLifespans, type ClientInput, type ClientInputSchema } from "./schemas.ts";
import { deleteClientAndDependents, planSecret } from "./lifecycle.ts";
import { forgetClientSecret } from "./secrets.ts";
import { checkOutboundUrls } from "./outbound-urls.ts";
import { checkSectorIdentifier } from "./sector-identifier.ts";
import { getClient, insertClient, listClients, updateClient } from "./store.ts";
import { roundToSecond, toWire, type OAuth2Client, type StoredClient } from "./types.ts";

export const clientsPath = "/clients";

function idParam(req: BunRequest): string {
  return (req.params as Record<string, string>).id ?? "";
}

async function mustGetClient(db: Db, id: string): Promise<StoredClient> {
  const client = await getClient(db, id);
  if (!client) throw notFound();
  return client;
}

function now(deps: Deps): Date {
  return roundToSecond(deps.clock.now());
}

export function createOAuth2Client(deps: Deps, schema: ClientInputSchema = clientInputSchema(deps.config, deps.mode)): Handler {
  return async (req) => {
    const input = parseClientInput(schema, await readJson(req));
    const at = now(deps);
    const client: OAuth2Client = { ...input.fields, clientId: input.fields.clientId || crypto.randomUUID(), createdAt: at, updatedAt: at };
    await checkSectorIdentifier(deps, client);
    await checkOutboundUrls(deps, client);
    const { change, plaintext } = await planSecret(deps, input, false);
    const created = await insertClient(deps.db, client, change.kind === "set" ? change.hash : null);
    if (!created) throw conflict();
    return json(toWire(client, { clientSecret: plaintext }), 201, { Location: `${clientsPath}/${encodeURIComponent(client.clientId)}` });
  };
}

export function listOAuth2Clients(deps: Deps): Handler {
  return async (req) => {
    const url = new URL(req.url);
    const { limit, offset } = parsePage(url.searchParams, 100, 500);
    const { clients, total } = await listClients(deps.db, {
      limit,
      offset,
      clientName: url.searchParams.get("client_name") ?? "",
      owner: url.searchParams.get("owner") ?? "",
    });
    return json(
      clients.map((c) => toWire(c)),
      200,
      paginationHeaders(url, total, limit, offset),
    );
  };
}

export function getOAuth2Client(deps: Deps): Handler {
  return async (req) => json(toWire(await mustGetClient(deps.db, idParam(req))));
}

/** Writes a full replacement of a stored client; shared by PUT and PATCH. */
async function replaceClient(deps: Deps, stored: StoredClient, input: ClientInput): Promise<Response> {
  await checkSectorIdentifier(deps, input.fields, stored);
  await checkOutboundUrls(deps, input.fields, stored);
  const { change, plaintext } = await planSecret(deps, input, stored.secretHash !== null);
  const client: OAuth2Client = { ...input.fields, clientId: stored.clientId, createdAt: stored.createdAt, updatedAt: now(deps) };
  const updated = await updateClient(deps.db, client, change);
  forgetClientSecret(deps, stored.clientId);
  if (!updated) throw notFound();
  return json(toWire(client, { clientSecret: plaintext }));
}

export function updateOAuth2Client(deps: Deps, schema: ClientInputSchema = clientInputSchema(deps.config, deps.mode)): Handler {
  return async (req) => {
    const body = await readJson(req);
    const stored = await mustGetClient(deps.db, idParam(req));
    // The id comes from the path (Hydra ignores the body's client_id).
    const input = parseClientInput(schema, body);
    return replaceClient(deps, stored, input);
  };
}

/** True when an operation would write /client_id (reading it with test or copy is fine). */
function writesClientId(op: PatchOperation): boolean {
  const touches = (p: string | undefined) => p !== undefined && (p === "" || p === "/client_id" || p.startsWith("/client_id/"));
  switch (op.op) {
    case "test":
      return false;
    case "move":
      return touches(op.path) || touches(op.from);
    default:
      return touches(op.path);
  }
}

export function patchOAuth2Client(deps: Deps, schema: ClientInputSchema = clientInputSchema(deps.config, deps.mode)): Handler {
  return async (req) => {
    const body = await readJson(req);
    const stored = await mustGetClient(deps.db, idParam(req));
    let patched: unknown;
    try {
      const operations = readPatch(body);
      if (operations.some(writesClientId)) throw badRequest(undefined, { hint: "Field client_id is immutable and cannot be patched." });
      // The patch sees the client as GET shows it: without the secret (Hydra exposes the hash here).
      patched = applyPatch(toWire(stored), operations);
    } catch (err) {
      if (err instanceof JsonPatchError) throw badRequest(undefined, { hint: `Invalid JSON Patch: ${err.message}.` });
      throw err;
    }
    const input = parseClientInput(schema, patched);
    return replaceClient(deps, stored, input);
  };
}

export function updateOAuth2ClientLifespans(deps: Deps): Handler {
  return async (req) => {
    const body = await readJson(req);
    const stored = await mustGetClient(deps.db, idParam(req));
    const lifespans = parseLifespans(body);
    const { secretHash: _hash, ...rest } = stored;
    const client: OAuth2Client = { ...rest, lifespans, updatedAt: now(deps) };
    const updated = await updateClient(deps.db, client, { kind: "keep" });
    if (!updated) throw notFound();
    return json(toWire(updated));
  };
}


export function deleteOAuth2Client(deps: Deps): Handler {
  return async (req) => {
    const id = idParam(req);
    const deleted = await deps.db.transaction((tx) => deleteClientAndDependents(tx, id));
    forgetClientSecret(deps, id);
    if (!deleted) throw notFound();
    return new Response(null, { status: 204 });
  };
}

export function clientRoutes(deps: Deps): RouteTable {
  // One schema for the server's configuration, built once.
  const schema = clientInputSchema(deps.config, deps.mode);
  return {
    [clientsPath]: { GET: listOAuth2Clients(deps), POST: createOAuth2Client(deps, schema) },
    [`${clientsPath}/:id`]: {
      GET: getOAuth2Client(deps),
      PUT: updateOAuth2Client(deps, schema),
      PATCH: patchOAuth2Client(deps, schema),
      DELETE: deleteOAuth2Client(deps),
    },
    [`${clientsPath}/:id/lifespans`]: { PUT: updateOAuth2ClientLifespans(deps) },
  };
}
