/**
 * @module The one error type. Handlers throw it; only server/render-error.ts writes it.
 * Shape follows fosite's RFC6749Error (error, description, hint, debug, status).
 */

export interface OAuthErrorOptions {
  hint?: string;
  debug?: string;
  cause?: unknown;
  headers?: Record<string, string>;
}

export class OAuthError extends Error {
  readonly hint?: string;
  readonly debug?: string;
  readonly headers?: Record<string, string>;

  constructor(
    /** RFC 6749 `error` code, or Hydra's herodot message on admin endpoints. */
    readonly code: string,
    readonly status: number,
    readonly description: string,
    options: OAuthErrorOptions = {},
  ) {
    super(options.hint ? `${description} ${options.hint}` : description, { cause: options.cause });
    this.name = "OAuthError";
    this.hint = options.hint;
    this.debug = options.debug;
    this.headers = options.headers;
  }

  /** A copy with a hint, never a mutation of a shared error. */
  withHint(hint: string): OAuthError {
    return new OAuthError(this.code, this.status, this.description, { ...this.options(), hint });
  }

  withDebug(debug: string): OAuthError {
    return new OAuthError(this.code, this.status, this.description, { ...this.options(), debug });
  }

  private options(): OAuthErrorOptions {
    return { hint: this.hint, debug: this.debug, cause: this.cause, headers: this.headers };
  }
}

const make =
  (code: string, status: number, defaultDescription: string) =>
  (description: string = defaultDescription, options?: OAuthErrorOptions) =>
    new OAuthError(code, status, description, options);

// RFC 6749 §5.2 and fosite's descriptions.
export const invalidRequest = make(
  "invalid_request",
  400,
  "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
);
export const invalidClient = make("invalid_client", 401, "Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).");
export const invalidGrant = make("invalid_grant", 400, "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.");
export const unauthorizedClient = make("unauthorized_client", 400, "The client is not authorized to request a token using this method.");
export const unsupportedGrantType = make("unsupported_grant_type", 400, "The authorization grant type is not supported by the authorization server.");
export const invalidScope = make("invalid_scope", 400, "The requested scope is invalid, unknown, or malformed.");
export const accessDenied = make("access_denied", 403, "The resource owner or authorization server denied the request.");
export const serverError = make("server_error", 500, "The authorization server encountered an unexpected condition that prevented it from fulfilling the request.");
export const temporarilyUnavailable = make("temporarily_unavailable", 503, "The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.");
export const invalidClientMetadata = make("invalid_client_metadata", 400, "The value of one of the Client Metadata fields is invalid and the server has rejected this request.");

// Hydra's herodot errors on the admin API (x/errors.go, sqlcon).
export const notFound = make("Not Found", 404, "Unable to locate the requested resource");
export const conflict = make("Conflict", 409, "Unable to insert or update resource because a resource with that value exists already");
export const badRequest = make("Bad Request", 400, "The request was malformed or contained invalid parameters");
export const methodNotAllowed = make("Method Not Allowed", 405, "The request method is not supported for this resource");
export const payloadTooLarge = make("Request Entity Too Large", 413, "The request body is larger than allowed");
