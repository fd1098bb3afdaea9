/**
 * @module The only place errors become responses. OAuthError keeps its status;
 * anything else is a logged 500 server_error with the stack only in the log.
 * Body as fosite writes it (hydra-v1 §0.1): hint folded into the description
 * unless oauth2.include_legacy_error_fields; debug only if expose_internal_errors.
 */
import type { Config } from "../config/schema.ts";
import { OAuthError, serverError, temporarilyUnavailable } from "../errors.ts";
import type { Logger } from "../lib/log.ts";
import { isDatabaseUnavailable } from "../storage/db.ts";

/** Seconds a client should wait after a 503 from a database outage (a restart takes a few). */
export const unavailableRetryAfterSeconds = 2;

/**
 * Any error as an OAuthError. A database that is down or restarting is a 503
 * temporarily_unavailable with Retry-After (RFC 6749 §4.1.2.1, RFC 9110 §10.2.3), not a 500:
 * the request may succeed as is once the database is back.
 */
export function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (isDatabaseUnavailable(err)) {
    return temporarilyUnavailable(undefined, {
      hint: "The database is not reachable; retry later.",
      cause: err,
      headers: { "Retry-After": String(unavailableRetryAfterSeconds) },
    });
  }
  return serverError(undefined, { cause: err });
}

/** The innermost message of a cause chain (drizzle wraps the driver's error in "Failed query: …"). */
function rootMessage(err: unknown): string {
  let e = err;
  for (let depth = 0; depth < 8 && e instanceof Error && e.cause instanceof Error; depth++) e = e.cause;
  return e instanceof Error ? `${(e as { code?: unknown }).code ?? e.name}: ${e.message}` : String(e);
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
    // A database outage fails every request at once: one line each, the driver's reason, no stack.
    if (oauthError.status === 503 && isDatabaseUnavailable(err instanceof OAuthError ? err.cause : err)) log.warn(`request ${requestId} failed: ${summary} (${rootMessage(err)})`);
    else if (!(err instanceof OAuthError)) log.error(`request ${requestId} failed`, err);
    else if (err.cause !== undefined) log.error(`request ${requestId} failed: ${summary}`, err.cause);
    else log.error(`request ${requestId} failed: ${summary}`);
  } else {
    log.debug(`request ${requestId}: ${oauthError.code}: ${oauthError.description}${oauthError.hint ? ` ${oauthError.hint}` : ""}`);
  }
  const headers: Record<string, string> = { "Content-Type": "application/json; charset=utf-8", ...oauthError.headers };
  return new Response(JSON.stringify(errorBody(oauthError, config.oauth2)), { status: oauthError.status, headers });
}
