/**
 * @module CSRF protection of the example app's own forms (OWASP "signed double-submit
 * cookie"): the browser holds a random value in an HttpOnly, SameSite=Strict cookie, and each
 * form carries an HMAC of that value and the form's challenge. A forged POST from another
 * site has neither the cookie nor a token that matches it, and a token of one challenge does
 * not answer another. The HMAC key is random per process: a form older than a restart is
 * refused, and reloading the page fixes that.
 */
import { constantTimeEqual, hmac, randomString } from "../lib/crypto.ts";

export const csrfCookieName = "gatehouse_example_csrf";
export const csrfField = "csrf_token";

export interface Csrf {
  /** The token for a form about `challenge`, and the Set-Cookie header when the browser had no cookie. */
  issue(req: Request, challenge: string): { token: string; setCookie?: string };
  /** Whether the submitted token belongs to this browser's cookie and this challenge. */
  verify(req: Request, submitted: string, challenge: string): boolean;
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const valuePattern = /^[A-Za-z0-9._~-]{32,64}$/;

/** `path` scopes the cookie to the app; `secure` when the public URL is https. */
export function createCsrf(options: { path: string; secure: boolean }): Csrf {
  const key = randomString(43);
  const tokenOf = (value: string, challenge: string) => hmac(key, "example-app-csrf", `${value}\n${challenge}`);
  const attributes = `Path=${options.path}; HttpOnly; SameSite=Strict${options.secure ? "; Secure" : ""}`;
  return {
    issue(req, challenge) {
      const current = cookieOf(req, csrfCookieName);
      if (current && valuePattern.test(current)) return { token: tokenOf(current, challenge) };
      const value = randomString(43);
      return { token: tokenOf(value, challenge), setCookie: `${csrfCookieName}=${value}; ${attributes}` };
    },
    verify(req, submitted, challenge) {
      const current = cookieOf(req, csrfCookieName);
      if (!current || !valuePattern.test(current) || !submitted) return false;
      return constantTimeEqual(submitted, tokenOf(current, challenge));
    },
  };
}
