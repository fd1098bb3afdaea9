/**
 * @module POST /oauth2/introspect (admin listener, no client authentication, as Hydra v1):
 * RFC 7662 for opaque and JWT access tokens and for refresh tokens. Anything not active —
 * unknown, expired, revoked, malformed, or lacking a `scope` the caller asked for — is
 * 200 {"active":false}; only a body that is not a form with a token is a 400.
 */
import type { Deps } from "../deps.ts";
import { invalidRequest } from "../errors.ts";
import { jsonHeaders, preserialized, type Handler } from "../server/http.ts";
import { param, readForm } from "./form.ts";
import { parseScope, scopeAllowed } from "./scopes.ts";
import { decodeSession, findToken, type FoundToken } from "./tokens.ts";

// Every answer is a 200 that must not be cached; headers built once (server/http.ts preserialized).
const answerHeaders = jsonHeaders({ "Cache-Control": "no-store", Pragma: "no-cache" });
const answer = (body: string) => preserialized(body, 200, answerHeaders);
const inactive = JSON.stringify({ active: false });

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** Whether a stored token may still be used at `now`. */
export function isActive(found: FoundToken, now: Date): boolean {
  if (found.use === "refresh_token" && !found.record.active) return false;
  const { expiresAt } = found.record;
  return expiresAt === undefined || expiresAt.getTime() > now.getTime();
}

/**
 * Hydra v1's active body, in its field order (hydra-v1 §1.2): nbf = iat = the grant's
 * requested_at; `exp` left out only for a refresh token that never expires. Built field by
 * field (no conditional spreads): one object per introspection, not four.
 */
export function introspectionBody(deps: Pick<Deps, "config">, found: FoundToken) {
  const { record } = found;
  const session = decodeSession(deps.config, record.session);
  const issuedAt = seconds(record.requestedAt);
  const body: Record<string, unknown> = {
    active: true,
    scope: record.grantedScope.join(" "),
    client_id: record.clientId,
    sub: record.subject,
  };
  if (record.expiresAt) body.exp = seconds(record.expiresAt);
  body.iat = issuedAt;
  body.nbf = issuedAt;
  body.aud = record.grantedAudience;
  body.iss = deps.config.urls.self.issuer;
  body.token_type = "Bearer";
  body.token_use = found.use;
  body.ext = session.ext;
  if (session.username) body.username = session.username;
  // HOOK(pairwise): set when the client saw a pairwise subject other than `sub`.
  if (session.obfuscatedSubject && session.obfuscatedSubject !== record.subject) body.obfuscated_subject = session.obfuscatedSubject;
  return body;
}

/** Hydra's operationId `introspectOAuth2Token`. */
export function introspectOAuth2Token(deps: Deps): Handler {
  return async (req) => {
    const form = await readForm(req);
    const token = param(form, "token");
    if (token === undefined) throw invalidRequest(undefined, { hint: "The 'token' parameter is missing." });
    // RFC 7662 §2.1: token_type_hint is optional and only a hint; kinds are told apart anyway.
    const wanted = parseScope(param(form, "scope"));
    const now = deps.clock.now();
    if (wanted === undefined) return answer(inactive);
    const found = await findToken(deps, token, { verifyJwt: true });
    if (!found || !isActive(found, now)) return answer(inactive);
    const strategy = deps.config.strategies.scope;
    if (!wanted.every((s) => scopeAllowed(strategy, found.record.grantedScope, s))) return answer(inactive);
    return answer(JSON.stringify(introspectionBody(deps, found)));
  };
}
