/**
 * @module The cookies of the browser flow (Hydra §2.1): the login session cookie
 * `oauth2_authentication_session` and one CSRF cookie per flow step. Unlike Hydra, each
 * flow gets its own CSRF cookie (the name ends with a short hash of its challenge), so flows
 * in several tabs do not overwrite each other (Hydra issues #3019, #3757). Values are signed
 * with secrets.cookie (secrets.system when none is set); attributes come from the issuer
 * (Secure for https, Path = its path) and serve.cookies.same_site_mode.
 */
import type { Config } from "../config/schema.ts";
import { constantTimeEqual, hmac } from "../lib/crypto.ts";

type CookieConfig = Pick<Config, "secrets" | "urls" | "serve">;

export interface CookieAttributes {
  secure: boolean;
  sameSite: "Strict" | "Lax" | "None";
  path: string;
}

export function cookieAttributes(config: CookieConfig): CookieAttributes {
  const issuer = new URL(config.urls.self.issuer);
  const secure = issuer.protocol === "https:";
  const mode = config.serve.cookies.same_site_mode;
  // Browsers drop SameSite=None without Secure; Hydra falls back to Lax over plain http.
  return { secure, sameSite: mode === "None" && !secure ? "Lax" : mode, path: issuer.pathname || "/" };
}

/** Hydra CookieName: `_insecure` marks cookies set over plain http. */
function baseName(config: CookieConfig, name: string): string {
  return cookieAttributes(config).secure ? name : `${name}_insecure`;
}

export function sessionCookieName(config: CookieConfig): string {
  return baseName(config, "oauth2_authentication_session");
}

/** Per-flow CSRF cookie names: a prefix of the challenge's HMAC (base64url, cookie-name safe). */
export function loginCsrfCookieName(config: CookieConfig, challengeSignature: string): string {
  return `${baseName(config, "oauth2_authentication_csrf")}_${challengeSignature.slice(0, 12)}`;
}

export function consentCsrfCookieName(config: CookieConfig, challengeSignature: string): string {
  return `${baseName(config, "oauth2_consent_csrf")}_${challengeSignature.slice(0, 12)}`;
}

const purpose = "cookie";

function signingSecrets(config: CookieConfig): readonly string[] {
  return config.secrets.cookie.length > 0 ? config.secrets.cookie : config.secrets.system;
}

export function signCookieValue(config: CookieConfig, value: string): string {
  return `${value}.${hmac(signingSecrets(config)[0]!, purpose, value)}`;
}

/** The value of a signed cookie, or undefined when no listed secret signed it. */
export function verifyCookieValue(config: CookieConfig, signed: string | undefined): string | undefined {
  if (!signed || signed.length > 1024) return undefined;
  const dot = signed.lastIndexOf(".");
  if (dot <= 0) return undefined;
  const value = signed.slice(0, dot);
  const mac = signed.slice(dot + 1);
  for (const secret of signingSecrets(config)) {
    if (constantTimeEqual(hmac(secret, purpose, value), mac)) return value;
  }
  return undefined;
}

/** The request's cookies by name (RFC 6265 §5.4); the first of a repeated name wins. */
export function readCookies(req: Request): Map<string, string> {
  const out = new Map<string, string>();
  const header = req.headers.get("cookie");
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

/**
 * A Set-Cookie header value. `maxAgeSeconds` undefined = session cookie; 0 deletes it.
 * Values we write are base64url/hex plus ".", so they need no quoting.
 */
export function setCookie(config: CookieConfig, name: string, value: string, maxAgeSeconds?: number): string {
  const attrs = cookieAttributes(config);
  const parts = [`${name}=${value}`, `Path=${attrs.path}`, "HttpOnly", `SameSite=${attrs.sameSite}`];
  if (attrs.secure) parts.push("Secure");
  if (maxAgeSeconds !== undefined) {
    parts.push(`Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`);
    if (maxAgeSeconds <= 0) parts.push("Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  }
  return parts.join("; ");
}

export function deleteCookie(config: CookieConfig, name: string): string {
  return setCookie(config, name, "", 0);
}
