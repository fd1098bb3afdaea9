/**
 * @module When a login session row expires (and the janitor may delete it). A remembered
 * login lives as its cookie does: remember_for seconds, or with remember_for 0 as long as the
 * browser session (no expiry: the server cannot see the browser close). A login that was not
 * remembered has a row only so that the `sid` of its ID tokens can be logged out (front- and
 * back-channel); it is kept as long as the tokens of that login can live unrenewed — the
 * longest of ttl.access_token, ttl.id_token and ttl.refresh_token (720 h when refresh tokens
 * never expire) — and then expires, where before it was kept for ever.
 */
import type { Config } from "../config/schema.ts";

/** Used for ttl.refresh_token -1 (never): Hydra's default refresh token lifetime. */
const neverExpiringRefreshStandIn = 720 * 3_600_000;

/** How long the row of a login that was not remembered is kept, in milliseconds. */
export function unrememberedLoginSessionLifetimeMs(config: Pick<Config, "ttl">): number {
  const refresh = config.ttl.refresh_token < 0 ? neverExpiringRefreshStandIn : config.ttl.refresh_token;
  return Math.max(config.ttl.access_token, config.ttl.id_token, refresh);
}

export function loginSessionExpiry(config: Pick<Config, "ttl">, login: { remember: boolean; rememberFor: number }, authenticatedAt: Date): Date | undefined {
  if (login.remember) return login.rememberFor > 0 ? new Date(authenticatedAt.getTime() + login.rememberFor * 1000) : undefined;
  return new Date(authenticatedAt.getTime() + unrememberedLoginSessionLifetimeMs(config));
}
