/**
 * @module Admin API of JSON Web Key sets (Hydra v1 jwk/handler.go): /keys/{set} and
 * /keys/{set}/{kid}. Responses include private and symmetric material, as Hydra's do:
 * the admin listener must never be exposed.
 */
import type { BunRequest } from "bun";
import type { Deps } from "../deps.ts";
import { badRequest, notFound, serverError } from "../errors.ts";
import { json, readJson, type Handler, type RouteTable } from "../server/http.ts";
import { generateKeys, validateJwk } from "./keystore.ts";
import { GenerateBody, JwkSetBody, parseBody, toGenerateRequest } from "./schemas.ts";
import { keySetsChanged } from "./published.ts";
import { deleteKey, deleteKeySet, getKey, insertKeys, listKeys, replaceKey, replaceKeySet, UndecryptableKeysError } from "./store.ts";
import type { Jwk } from "./types.ts";

const maxSetIdLength = 255;

/** PostgreSQL text cannot hold NUL (a query with one fails), and no stored id has control characters. */
const controlChars = /[\x00-\x1f\x7f]/;

function setIdOf(req: BunRequest): string {
  const setId = (req.params as Record<string, string>).set ?? "";
  if (setId === "" || setId.length > maxSetIdLength) throw badRequest(`The key set id must be 1 to ${maxSetIdLength} characters.`);
  if (controlChars.test(setId)) throw badRequest("The key set id must not contain control characters.");
  return setId;
}

function kidOf(req: BunRequest): string {
  const kid = (req.params as Record<string, string>).kid ?? "";
  if (controlChars.test(kid)) throw badRequest("The key id must not contain control characters.");
  return kid;
}

/** Store errors an operator must act on become a 500 that says what to do. */
async function opening<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof UndecryptableKeysError) {
      throw serverError(undefined, { hint: `${err.message}. See /health/ready and "gatehouse keys rotate-secret".`, cause: err });
    }
    throw err;
  }
}

function secretsOf(deps: Deps) {
  return deps.config.secrets.system;
}

/** POST /keys/{set}: generates a key (pair) and adds it to the set; 201 with private material. */
export function createJsonWebKeySet(deps: Deps): Handler {
  return async (req) => {
    const setId = setIdOf(req);
    const request = toGenerateRequest(parseBody(GenerateBody, await readJson(req)));
    const keys = await generateKeys(request);
    await insertKeys(deps.db, secretsOf(deps), setId, keys, deps.clock.now());
    keySetsChanged(deps, setId);
    return json({ keys }, 201, { Location: `/keys/${encodeURIComponent(setId)}` });
  };
}

/** GET /keys/{set}: the whole set, newest first; 404 when it has no keys. */
export function getJsonWebKeySet(deps: Deps): Handler {
  return async (req) => {
    const setId = setIdOf(req);
    const keys = await opening(listKeys(deps.db, secretsOf(deps), setId));
    if (keys.length === 0) throw notFound();
    return json({ keys: keys.map((k) => k.jwk) });
  };
}

/** PUT /keys/{set}: the set becomes exactly the given JWK Set (one transaction); echoes it. */
export function updateJsonWebKeySet(deps: Deps): Handler {
  return async (req) => {
    const setId = setIdOf(req);
    const body = parseBody(JwkSetBody, await readJson(req));
    const keys: Jwk[] = [];
    const kids = new Set<string>();
    for (const raw of body.keys) {
      const jwk = await validateJwk(raw);
      if (kids.has(jwk.kid)) throw badRequest(`The JWK Set has two keys with kid "${jwk.kid}"; kids must be unique within a set.`);
      kids.add(jwk.kid);
      keys.push(jwk);
    }
    await replaceKeySet(deps.db, secretsOf(deps), setId, keys, deps.clock.now());
    keySetsChanged(deps, setId);
    return json({ keys });
  };
}

/** DELETE /keys/{set}: 204, also when the set did not exist (Hydra). */
export function deleteJsonWebKeySet(deps: Deps): Handler {
  return async (req) => {
    const setId = setIdOf(req);
    await deleteKeySet(deps.db, setId);
    keySetsChanged(deps, setId);
    return new Response(null, { status: 204 });
  };
}

/** GET /keys/{set}/{kid}: {"keys":[key]}; 404 when absent. */
export function getJsonWebKey(deps: Deps): Handler {
  return async (req) => {
    const key = await opening(getKey(deps.db, secretsOf(deps), setIdOf(req), kidOf(req)));
    if (!key) throw notFound();
    return json({ keys: [key.jwk] });
  };
}

/**
 * PUT /keys/{set}/{kid}: adds or replaces one key. As in Hydra the body's kid wins;
 * the path kid is used only when the body has none. 200 with the key.
 */
export function updateJsonWebKey(deps: Deps): Handler {
  return async (req) => {
    const setId = setIdOf(req);
    const jwk = await validateJwk(await readJson(req), kidOf(req));
    await replaceKey(deps.db, secretsOf(deps), setId, jwk, deps.clock.now());
    keySetsChanged(deps, setId);
    return json(jwk);
  };
}

/** DELETE /keys/{set}/{kid}: 204, also when the key did not exist (Hydra). */
export function deleteJsonWebKey(deps: Deps): Handler {
  return async (req) => {
    const setId = setIdOf(req);
    await deleteKey(deps.db, setId, kidOf(req));
    keySetsChanged(deps, setId);
    return new Response(null, { status: 204 });
  };
}

export function keyRoutes(deps: Deps): RouteTable {
  return {
    "/keys/:set": {
      POST: createJsonWebKeySet(deps),
      GET: getJsonWebKeySet(deps),
      PUT: updateJsonWebKeySet(deps),
      DELETE: deleteJsonWebKeySet(deps),
    },
    "/keys/:set/:kid": {
      GET: getJsonWebKey(deps),
      PUT: updateJsonWebKey(deps),
      DELETE: deleteJsonWebKey(deps),
    },
  };
}
