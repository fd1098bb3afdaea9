/**
 * @module Which redirect URI an authorization request may use: exact string match against
 * the client's registered list (RFC 6749 §3.1.2.3, OAuth 2.0 Security BCP §4.1.3), the
 * RFC 8252 §7.3 loopback exception (any port for http://127.0.0.1 / http://[::1]), and
 * fosite's rule that plain http is only for localhost unless listed in
 * --dangerous-allow-insecure-redirect-urls.
 */
import type { Mode } from "../config/load.ts";
import { invalidRequest } from "../errors.ts";

function parse(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

/** 127.0.0.0/8 or ::1, written as WHATWG URL hostnames are ("[::1]"). */
function isLoopbackIp(hostname: string): boolean {
  if (hostname === "[::1]") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(hostname);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** fosite IsLocalhost: localhost, *.localhost, or a loopback address. */
export function isLocalhost(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || isLoopbackIp(host);
}

/** fosite IsRedirectURISecure: anything but http, or http to localhost. */
export function isSecureRedirectUri(uri: string, mode: Pick<Mode, "insecureRedirectUrls">): boolean {
  const url = parse(uri);
  if (!url) return false;
  if (url.protocol !== "http:" || isLocalhost(url)) return true;
  return mode.insecureRedirectUrls.includes(uri);
}

/** fosite IsRedirectURISecureStrict: https, or http to localhost (public clients skipping consent). */
export function isStrictlySecureRedirectUri(uri: string): boolean {
  const url = parse(uri);
  return url !== undefined && (url.protocol === "https:" || (url.protocol === "http:" && isLocalhost(url)));
}

/** RFC 8252 §7.3: a loopback IP redirect matches a registered one whatever the port. */
function matchesAsLoopback(requested: URL, registered: string): boolean {
  const reg = parse(registered);
  return (
    reg !== undefined &&
    requested.protocol === "http:" &&
    reg.protocol === "http:" &&
    isLoopbackIp(requested.hostname) &&
    reg.hostname === requested.hostname &&
    reg.pathname === requested.pathname &&
    reg.search === requested.search &&
    requested.username === "" &&
    requested.password === "" &&
    !requested.href.includes("#")
  );
}

const mismatch = () =>
  invalidRequest(undefined, { hint: "The 'redirect_uri' parameter does not match any of the OAuth 2.0 Client's pre-registered redirect urls." });

/**
 * The redirect URI to answer at: the requested one if registered, or the only registered one
 * when none was requested. Throws invalid_request otherwise (never redirectable).
 */
export function resolveRedirectUri(requested: string | undefined, registered: readonly string[], mode: Pick<Mode, "insecureRedirectUrls">): string {
  let chosen: string | undefined;
  if (requested === undefined) {
    if (registered.length !== 1) {
      throw invalidRequest(undefined, {
        hint:
          registered.length === 0
            ? "The OAuth 2.0 Client has no registered redirect URIs."
            : "The 'redirect_uri' parameter is required because the OAuth 2.0 Client registered more than one redirect URI.",
      });
    }
    chosen = registered[0];
  } else {
    const url = parse(requested);
    if (!url) throw mismatch();
    chosen = registered.includes(requested) ? requested : registered.some((r) => matchesAsLoopback(url, r)) ? requested : undefined;
  }
  if (chosen === undefined) throw mismatch();
  // RFC 6749 §3.1.2: absolute, no fragment.
  const url = parse(chosen);
  if (!url || chosen.includes("#")) {
    throw invalidRequest(undefined, { hint: `The redirect URI contains an illegal character (for example #) or is otherwise invalid.` });
  }
  if (!isSecureRedirectUri(chosen, mode)) {
    throw invalidRequest(undefined, {
      hint: "Redirect URL is using an insecure protocol, http is only allowed for hosts with suffix 'localhost', for example: http://myapp.localhost/.",
    });
  }
  return chosen;
}
