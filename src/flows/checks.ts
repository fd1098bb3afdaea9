/**
 * @module Checks shared by the login and consent steps of the browser flow: CSRF cookie
 * against the stored signature, expiry, and the errors Hydra answers with.
 */
import type { Config } from "../config/schema.ts";
import { OAuthError } from "../errors.ts";
import { flowSignatures } from "./challenge.ts";
import { verifyCookieValue } from "./cookies.ts";

type CheckDeps = { config: Pick<Config, "secrets" | "urls" | "serve"> };

/** The CSRF value of this flow step's cookie, compared with the stored signature. */
export function csrfMatches(deps: CheckDeps, kind: "login_csrf" | "consent_csrf", cookieValue: string | undefined, stored: string | undefined): boolean {
  const value = verifyCookieValue(deps.config, cookieValue);
  return value !== undefined && stored !== undefined && flowSignatures(deps.config, kind, value).includes(stored);
}

export const csrfMismatch = () =>
  new OAuthError("request_forbidden", 403, "The request is not allowed.", {
    hint: "The CSRF value from the token does not match the CSRF value from the data store.",
  });

export const requestExpired = (what: "login" | "consent") =>
  new OAuthError("request_unauthorized", 401, "The request could not be authorized.", {
    hint: what === "login" ? "The login request has expired. Please try again." : "The consent request has expired, please try again.",
  });

export const verifierInvalid = (what: "login" | "consent") =>
  new OAuthError("access_denied", 403, "The resource owner or authorization server denied the request.", {
    hint: `The ${what} verifier has already been used, has not been granted, or is invalid.`,
  });

