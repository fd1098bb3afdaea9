/**
 * @module The only place errors become responses. OAuthError keeps its status;
 * anything else is a logged 500 server_error with the stack only in the log.
 * Body as fosite writes it (hydra-v1 §0.1): hint folded into the description
 * unless oauth2.include_legacy_error_fields; debug only if expose_internal_errors.
 */
import type { Config } from "../config/schema.ts";
import { OAuthError, serverError } from "../errors.ts";
import type { Logger } from "../lib/log.ts";

export function toOAuthError(err: unknown): OAuthError {
  return err instanceof OAuthError ? err : serverError(undefined, { cause: err });
}

export function errorBody(err: OAuthError, oauth2: Pick<Config["oauth2"], "include_legacy_error_fields" | "expose_internal_errors">) {
  const clean = (s: string) => s.replace(/"/g, "'");
  const debug = oauth2.expose_internal_errors ? err.debug : undefined;
  if (oauth2.include_legacy_error_fields) {
    return {
      error: err.code,
      error_description: clean(err.description),
      ...(err.hint ? { error_hint: clean(err.hint) } : {}),
      status_code: err.status,
      ...(debug ? { error_debug: clean(debug) } : {}),
    };
  }
  return {
    error: err.code,
    error_description: clean([err.description, err.hint, debug].filter(Boolean).join(" ")),
  };
}

export function renderError(err: unknown, config: Pick<Config, "oauth2">, log: Logger, requestId: string): Response {
  const oauthError = toOAuthError(err);
  if (oauthError.status >= 500) {
    const summary = `${oauthError.code}: ${oauthError.description}${oauthError.hint ? ` ${oauthError.hint}` : ""}`;
    // A stack only where there is a failure to trace: an unexpected error, or an OAuthError's cause.
    // A deliberate 5xx (the TLS guard's 502, a 503) is one line, so clients cannot flood the log with stacks.
    if (!(err instanceof OAuthError)) log.error(`request ${requestId} failed`, err);
    else if (err.cause !== undefined) log.error(`request ${requestId} failed: ${summary}`, err.cause);
    else log.error(`request ${requestId} failed: ${summary}`);
  } else {
    log.debug(`request ${requestId}: ${oauthError.code}: ${oauthError.description}${oauthError.hint ? ` ${oauthError.hint}` : ""}`);
  }
  const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8", ...oauthError.headers };
  return new Response(JSON.stringify(errorBody(oauthError, config.oauth2)), { status: oauthError.status, headers });
}
