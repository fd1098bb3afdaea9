/**
 * @module Admin API of RFC 7523 trust relationships (Hydra v1 oauth2/trust/handler.go):
 * /trust/grants/jwt-bearer/issuers and …/{id}. Handlers are named after Hydra's operationIds.
 */
import type { BunRequest } from "bun";
import type { Deps } from "../deps.ts";
import { notFound } from "../errors.ts";
import { forgetSigningKey } from "../keys/signing.ts";
import { accessTokenSet, idTokenSet } from "../keys/types.ts";
import { json, readJson, type Handler, type RouteTable } from "../server/http.ts";
import { paginationHeaders, parsePage } from "../server/pagination.ts";
import { parseTrustRequest } from "./schemas.ts";
import { deleteTrustedIssuer, getTrustedIssuer, insertTrustedIssuer, listTrustedIssuers } from "./store.ts";
import { roundToSecond, toWire, trustKeySet, trustPath, type TrustedIssuer } from "./types.ts";

/** Hydra's TLS set (serve creates it); reserved like the signing sets. */
const tlsSet = "hydra.https-tls";

/** Sets an issuer must not be named after: adding its key there would let it sign or be published as ours. */
export function reservedSets(deps: Deps): ReadonlySet<string> {
  return new Set([idTokenSet, accessTokenSet, tlsSet, ...deps.config.webfinger.jwks.broadcast_keys]);
}

function idParam(req: BunRequest): string {
  return (req.params as Record<string, string>).id ?? "";
}

/** POST: 201 with the stored relationship and a Location header. */
export function trustJwtGrantIssuer(deps: Deps): Handler {
  const reserved = reservedSets(deps);
  return async (req) => {
    const now = deps.clock.now();
    const input = await parseTrustRequest(await readJson(req), { now, reservedSets: reserved });
    const trusted: TrustedIssuer = {
      id: crypto.randomUUID(),
      issuer: input.issuer,
      subject: input.subject,
      allowAnySubject: input.allowAnySubject,
      scope: input.scope,
      keySet: trustKeySet(input.issuer),
      keyId: input.jwk.kid,
      createdAt: roundToSecond(now),
      expiresAt: roundToSecond(input.expiresAt),
    };
    await insertTrustedIssuer(deps.db, deps.config.secrets.system, trusted, input.jwk);
    forgetSigningKey(deps, trusted.keySet);
    return json(toWire(trusted), 201, { Location: `${trustPath}/${trusted.id}` });
  };
}

/** GET: one page (limit/offset as /clients), optionally of one issuer. */
export function listTrustedJwtGrantIssuers(deps: Deps): Handler {
  return async (req) => {
    const url = new URL(req.url);
    const { limit, offset } = parsePage(url.searchParams, 100, 500);
    const { items, total } = await listTrustedIssuers(deps.db, { limit, offset, issuer: url.searchParams.get("issuer") ?? "" });
    return json(items.map(toWire), 200, paginationHeaders(url, total, limit, offset));
  };
}

export function getTrustedJwtGrantIssuer(deps: Deps): Handler {
  return async (req) => {
    const trusted = await getTrustedIssuer(deps.db, idParam(req));
    if (!trusted) throw notFound();
    return json(toWire(trusted));
  };
}

/** DELETE: 204; the key goes with the last relationship that uses it. 404 when absent (Hydra). */
export function deleteTrustedJwtGrantIssuer(deps: Deps): Handler {
  return async (req) => {
    const deleted = await deleteTrustedIssuer(deps.db, idParam(req));
    if (!deleted) throw notFound();
    forgetSigningKey(deps, deleted.keySet);
    return new Response(null, { status: 204 });
  };
}

export function trustRoutes(deps: Deps): RouteTable {
  return {
    [trustPath]: { POST: trustJwtGrantIssuer(deps), GET: listTrustedJwtGrantIssuers(deps) },
    [`${trustPath}/:id`]: { GET: getTrustedJwtGrantIssuer(deps), DELETE: deleteTrustedJwtGrantIssuer(deps) },
  };
}
