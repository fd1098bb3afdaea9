/**
 * @module Where the browser is sent: the operator's login, consent, logout and error apps
 * (urls.login, urls.consent, urls.logout, urls.error, urls.post_logout_redirect), else
 * Gatehouse's fallback pages, as Hydra.
 */
import type { Config } from "../config/schema.ts";

export const fallbackPaths = {
  login: "/oauth2/fallbacks/login",
  consent: "/oauth2/fallbacks/consent",
  logout: "/oauth2/fallbacks/logout",
  postLogout: "/oauth2/fallbacks/logout/callback",
  error: "/oauth2/fallbacks/error",
} as const;

type UrlConfig = Pick<Config, "urls">;

/** A fallback path under urls.self.public (which ends with "/", so its own path is kept). */
function fallback(config: UrlConfig, path: string): string {
  return new URL(path.slice(1), config.urls.self.public).toString();
}

export function loginUrl(config: UrlConfig): string {
  return config.urls.login || fallback(config, fallbackPaths.login);
}

export function consentUrl(config: UrlConfig): string {
  return config.urls.consent || fallback(config, fallbackPaths.consent);
}

export function errorUrl(config: UrlConfig): string {
  return config.urls.error || fallback(config, fallbackPaths.error);
}

export function logoutUrl(config: UrlConfig): string {
  return config.urls.logout || fallback(config, fallbackPaths.logout);
}

/** Where a logout ends when the client named no post_logout_redirect_uri (Hydra LogoutRedirectURL). */
export function postLogoutRedirectUrl(config: UrlConfig): string {
  return config.urls.post_logout_redirect || fallback(config, fallbackPaths.postLogout);
}

/** OIDC RP-Initiated Logout's end_session_endpoint (Hydra: /oauth2/sessions/logout). */
export const endSessionPath = "/oauth2/sessions/logout";

/** The end-session endpoint under urls.self.public, where logout verifiers are redeemed. */
export function endSessionUrl(config: UrlConfig): string {
  return fallback(config, endSessionPath);
}

/** `base` with one query parameter set (Hydra urlx.SetQuery). */
export function withQuery(base: string, name: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(name, value);
  return url.toString();
}
