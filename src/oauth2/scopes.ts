/**
 * @module Scope and audience rules: parsing (RFC 6749 §3.3), Hydra's scope
 * strategies (`strategies.scope`) and audience matching.
 */
import type { Config } from "../config/schema.ts";

export type ScopeStrategyName = Config["strategies"]["scope"];

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function isScopeToken(s: string): boolean {
  return scopeToken.test(s);
}

/** Splits a scope string on spaces, dropping empties and duplicates; undefined if a token is malformed. */
export function parseScope(text: string | null | undefined): string[] | undefined {
  if (!text) return [];
  const tokens = [...new Set(text.split(" ").filter(Boolean))];
  return tokens.every(isScopeToken) ? tokens : undefined;
}

export function joinScope(scopes: readonly string[]): string {
  return scopes.join(" ");
}

/** `wildcard`: `foo.*` grants `foo.bar` and `foo.bar.baz`, and `foo` grants `foo` only (fosite WildcardScopeStrategy). */
function wildcardMatch(allowed: string, needle: string): boolean {
  if (allowed === needle) return true;
  if (!allowed.includes("*")) return false;
  const a = allowed.split(".");
  const n = needle.split(".");
  if (n.length < a.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === "*") {
      // A trailing * covers the rest; an inner * covers exactly one segment.
      if (i === a.length - 1) return n.length > i;
      continue;
    }
    if (a[i] !== n[i]) return false;
  }
  return n.length === a.length;
}

/** Hydra's deprecated hierarchical strategy: `foo` grants `foo.bar`. */
function hierarchicMatch(allowed: string, needle: string): boolean {
  return needle === allowed || needle.startsWith(`${allowed}.`);
}

export function scopeAllowed(strategy: ScopeStrategyName, allowed: readonly string[], needle: string): boolean {
  switch (strategy) {
    case "exact":
      return allowed.includes(needle);
    case "DEPRECATED_HIERARCHICAL_SCOPE_STRATEGY":
      return allowed.some((a) => hierarchicMatch(a, needle));
    default:
      return allowed.some((a) => wildcardMatch(a, needle));
  }
}

/** The first requested scope the client may not have, or undefined when all are allowed. */
export function firstDisallowedScope(strategy: ScopeStrategyName, allowed: readonly string[], requested: readonly string[]): string | undefined {
  return requested.find((s) => !scopeAllowed(strategy, allowed, s));
}

/**
 * A requested audience is allowed when it equals a client audience or extends it
 * as a URL path (Hydra: `https://api.example.com` allows `https://api.example.com/v1`).
 */
export function audienceAllowed(allowed: readonly string[], needle: string): boolean {
  return allowed.some((a) => {
    if (a === needle) return true;
    const base = a.endsWith("/") ? a : `${a}/`;
    try {
      const au = new URL(a);
      const nu = new URL(needle);
      return au.origin === nu.origin && needle.startsWith(base);
    } catch {
      return false;
    }
  });
}

export function firstDisallowedAudience(allowed: readonly string[], requested: readonly string[]): string | undefined {
  return requested.find((a) => !audienceAllowed(allowed, a));
}
