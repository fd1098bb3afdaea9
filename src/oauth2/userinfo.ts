/**
 * @module GET and POST /userinfo (public listener; OIDC Core §5.3, RFC 6750; Hydra v1
 * UserinfoHandler): the claims of the grant behind a bearer access token, as Hydra returns
 * them — the session's ID-token claims without nonce, at_hash, c_hash, exp, sid and jti,
 * `sub` as the client sees it (pairwise or forced), `aud` including the client id — as JSON,
 * or as a JWT signed with the ID-token key when the client registered
 * userinfo_signed_response_alg RS256 (OIDC Core §5.3.2).
 *
 * The token comes in the Authorization header (RFC 6750 §2.1) or, on POST, as the
 * `access_token` form field (§2.2). Unlike fosite, never from the query (§2.3): URLs end up in
 * logs and Referer headers, RFC 6750 §2.3 and RFC 9700 §2 advise against it, and a client
 * sending it there is told so (400 invalid_request) rather than ignored.
 */
import { randomUUID } from "node:crypto";
import type { Deps } from "../deps.ts";
import { OAuthError, serverError } from "../errors.ts";
import { signJwt } from "../keys/jws.ts";
import { signingKey } from "../keys/signing.ts";
import { idTokenSet } from "../keys/types.ts";
import { json, noStore, type Handler } from "../server/http.ts";
import { param, readForm } from "./form.ts";
import { isActive } from "./introspect.ts";
import { decodeSession, findTokenWithClient } from "./tokens.ts";

/** Claims of the stored ID-token session that userinfo never returns (Hydra). */
const droppedClaims = ["nonce", "at_hash", "c_hash", "exp", "sid", "jti"] as const;

/** RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash). */
function headerSafe(text: string): string {
  return text.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "?");
}

/** RFC 6750 §3.1 error with its WWW-Authenticate challenge; rendered by server/render-error.ts. */
function bearerError(code: "invalid_token" | "invalid_request", hint: string): OAuthError {
  const status = code === "invalid_token" ? 401 : 400;
  const description =
    code === "invalid_token"
      ? "The access token provided is expired, revoked, malformed, or invalid for other reasons."
      : "The request is missing a required parameter, includes an unsupported parameter or parameter value, repeats the same parameter, uses more than one method for including an access token, or is otherwise malformed.";
  return new OAuthError(code, status, description, {
    hint,
    headers: { "WWW-Authenticate": `Bearer error="${code}", error_description="${headerSafe(hint)}"` },
  });
}

/**
 * RFC 6750 §3.1: a request without any token gets the bare challenge, no error code in it; the
 * body still says what is missing.
 */
function noToken(): OAuthError {
  return new OAuthError("invalid_token", 401, "The request carries no access token.", {
    hint: "Send it as 'Authorization: Bearer <token>' (or, with POST, as the form field 'access_token').",
    headers: { "WWW-Authenticate": "Bearer" },
  });
}

/** The presented bearer token (RFC 6750 §2.1, §2.2), or undefined when there is none. */
async function presentedToken(req: Request): Promise<string | undefined> {
  if (new URL(req.url).searchParams.has("access_token")) {
    throw bearerError("invalid_request", "Access tokens are not accepted in the URI query (RFC 6750 §2.3); use the Authorization header.");
  }
  const authorization = req.headers.get("authorization");
  const header = authorization && /^bearer\s+/i.test(authorization) ? authorization.replace(/^bearer\s+/i, "").trim() : undefined;
  let body: string | undefined;
  const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (req.method === "POST" && type === "application/x-www-form-urlencoded") {
    let form: URLSearchParams;
    try {
      form = await readForm(req, { allowEmpty: true });
    } catch (err) {
      throw bearerError("invalid_request", err instanceof OAuthError && err.hint ? err.hint : "The request body could not be read.");
    }
    body = param(form, "access_token");
  }
  if (header !== undefined && body !== undefined) {
    throw bearerError("invalid_request", "The access token must be sent by one method only: the Authorization header or the form body (RFC 6750 §2).");
  }
  return header || body || undefined;
}

/** Hydra: `aud` is the session's audience with the client id added; a lone client id when there is none. */
function audienceWith(aud: unknown, clientId: string): string[] {
  const list = Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : typeof aud === "string" ? [aud] : [];
  return list.includes(clientId) ? list : [...list, clientId];
}

/** Hydra's operationId `userinfo`. */
export function userinfo(deps: Deps): Handler {
  return async (req) => {
    const token = await presentedToken(req);
    if (!token) throw noToken();
    // The token and its client in one round trip.
    const both = await findTokenWithClient(deps, token);
    if (!both) throw bearerError("invalid_token", "The access token is malformed or not known to this server.");
    const { found, client } = both;
    if (found.use !== "access_token") throw bearerError("invalid_token", "Only access tokens are allowed in the authorization header.");
    if (!isActive(found, deps.clock.now())) throw bearerError("invalid_token", "The access token expired or was revoked.");
    const { record } = found;
    if (!client) throw bearerError("invalid_token", "The OAuth 2.0 Client of this access token no longer exists.");

    const session = decodeSession(deps.config, record.session);
    const claims: Record<string, unknown> = { ...(session.idToken ?? {}) };
    for (const name of droppedClaims) delete claims[name];
    // A token without a user session (client_credentials, jwt-bearer) still says whose it is.
    claims.sub = typeof claims.sub === "string" ? claims.sub : (session.obfuscatedSubject ?? record.subject);
    claims.iss = deps.config.urls.self.issuer;
    claims.aud = audienceWith(claims.aud, client.clientId);

    if (client.userinfoSignedResponseAlg === "RS256") {
      const key = await signingKey(deps, idTokenSet);
      if (key.alg !== "RS256") {
        throw serverError(undefined, {
          debug: `client ${client.clientId} wants RS256-signed userinfo, but the newest key of ${idTokenSet} is ${key.alg}; add an RS256 key to that set or change the client`,
        });
      }
      const jwt = await signJwt(key, "JWT", { ...claims, jti: randomUUID(), iat: Math.floor(deps.clock.now().getTime() / 1000) });
      return noStore(new Response(jwt, { status: 200, headers: { "Content-Type": "application/jwt" } }));
    }
    return noStore(json(claims));
  };
}
