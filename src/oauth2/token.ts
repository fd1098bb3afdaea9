/**
 * @module POST /oauth2/token (public listener): ONE pipeline for every grant (STYLE
 * convention 6, RFC 6749 §3.2): read the form → require grant_type → authenticate the
 * client → find the grant (unsupported_grant_type) → check the client may use it
 * (unauthorized_client) → parse scope and audience → drop undeclared parameters → run the
 * grant → answer with Cache-Control: no-store. Grants live in oauth2/grants/.
 */
import { authenticateClient, clientAuthParams } from "../clients/auth.ts";
import { effectiveGrantTypes, isPublicClient } from "../clients/types.ts";
import type { Deps } from "../deps.ts";
import { invalidGrant, invalidRequest, invalidScope, OAuthError, unauthorizedClient, unsupportedGrantType } from "../errors.ts";
import { json, noStore, type Handler } from "../server/http.ts";
import { toOAuthError } from "../server/render-error.ts";
import { param, readForm } from "./form.ts";
import { findGrant } from "./grants/index.ts";
import type { GrantHandler } from "./grants/types.ts";
import { parseScope } from "./scopes.ts";

/** Parameters the pipeline itself reads; a grant's own come from its `params`. */
const pipelineParams: ReadonlySet<string> = new Set(["grant_type", "scope", "audience", ...clientAuthParams]);

/** RFC 6749 §5.1 and §5.2: neither tokens nor errors may be cached. */
const noCacheHeaders = { "Cache-Control": "no-store", Pragma: "no-cache" };

/** Control characters would end up in JSON columns (PostgreSQL refuses \u0000) and in JWTs. */
const controlChars = /[\x00-\x1f\x7f]/;

/**
 * fosite GetAudiences: one `audience` parameter is split on spaces; repeated parameters
 * (RFC 8693 §2.1) are taken one value each.
 */
export function parseAudience(form: URLSearchParams): string[] {
  const values = form.getAll("audience");
  const list = values.length === 1 ? values[0]!.split(" ") : values;
  const out = [...new Set(list.filter(Boolean))];
  if (out.some((a) => controlChars.test(a))) throw invalidRequest(undefined, { hint: "The 'audience' parameter contains control characters." });
  return out;
}

/** The form a grant sees: what the pipeline reads plus what the grant declared. */
function declaredOnly(form: URLSearchParams, grant: GrantHandler): URLSearchParams {
  const kept = new URLSearchParams();
  for (const [k, v] of form) if (pipelineParams.has(k) || grant.params.has(k)) kept.append(k, v);
  return kept;
}

function withNoCache(err: unknown): OAuthError {
  const e = toOAuthError(err);
  return new OAuthError(e.code, e.status, e.description, {
    hint: e.hint,
    debug: e.debug,
    cause: err instanceof OAuthError ? e.cause : err,
    headers: { ...e.headers, ...noCacheHeaders },
  });
}

/** Hydra's operationId `oauth2Token`. */
export function oauth2Token(deps: Deps): Handler {
  return async (req, cx) => {
    try {
      const now = deps.clock.now();
      const form = await readForm(req);
      const grantType = param(form, "grant_type");
      if (grantType === undefined) throw invalidRequest(undefined, { hint: "Request parameter 'grant_type' is missing." });

      const { client } = await authenticateClient(deps, req.headers, form, now);

      const grant = findGrant(grantType);
      if (!grant) throw unsupportedGrantType(undefined, { hint: `The grant type '${grantType.slice(0, 128)}' is not supported by this server.` });
      if (!effectiveGrantTypes(client).includes(grant.grantType)) {
        throw unauthorizedClient(undefined, { hint: `The OAuth 2.0 Client is not allowed to use authorization grant '${grant.grantType}'.` });
      }
      if (isPublicClient(client) && !grant.allowsPublicClient) {
        // fosite's code and wording for a public client on a confidential-only grant.
        throw invalidGrant(undefined, {
          hint: `The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant '${grant.grantType}'.`,
        });
      }

      const requestedScope = parseScope(param(form, "scope"));
      if (requestedScope === undefined) {
        throw invalidScope(undefined, { hint: "The 'scope' parameter must be space-separated scope tokens (RFC 6749 §3.3)." });
      }
      const requestedAudience = parseAudience(form);

      const body = await grant.handle({ form: declaredOnly(form, grant), client, requestedScope, requestedAudience, now }, cx);
      return noStore(json(body));
    } catch (err) {
      throw withNoCache(err);
    }
  };
}
