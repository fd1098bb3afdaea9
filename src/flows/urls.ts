/**
 * @module Where the browser is sent: the operator's login, consent and error apps
 * (urls.login, urls.consent, urls.error), else Gatehouse's fallback pages, as Hydra.
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

/** `base` with one query parameter set (Hydra urlx.SetQuery). */
export function withQuery(base: string, name: string, value: string): string {
  const url = new URL(base);
  url.searchParams.set(name, value);
  return url.toString();
}
