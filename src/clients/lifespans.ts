/**
 * @module Per-client token lifespans: Go duration strings as Hydra reads and writes
 * them (time.ParseDuration / Duration.String), and the effective lifespan lookup.
 */
import type { LifespanField, OAuth2Client } from "./types.ts";

const unitNs: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n, // µ (micro sign), as Go accepts
  "\u03bcs": 1_000n, // μ (Greek mu)
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const maxNs = (1n << 63n) - 1n; // Go's time.Duration is an int64

/**
 * Parses a Go duration ("1h", "1h30m", "1.5s", "300ms") into nanoseconds; undefined when
 * malformed. Signs are refused: a lifespan is never negative.
 */
export function parseGoDuration(text: string): bigint | undefined {
  if (text === "0") return 0n;
  const part = /^(\d*)(?:\.(\d*))?([a-zµμ]+)/;
  let rest = text;
  let total = 0n;
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) return undefined;
    const [whole, intText = "", fracText = "", unitText = ""] = m;
    if (intText === "" && fracText === "") return undefined;
    const unit = unitNs[unitText];
    if (unit === undefined) return undefined;
    total += BigInt(intText || "0") * unit;
    if (fracText) total += (BigInt(fracText) * unit) / 10n ** BigInt(fracText.length);
    if (total > maxNs) return undefined;
    rest = rest.slice(whole.length);
  }
  return text.length > 0 ? total : undefined;
}

/** Go's Duration.String(): "1h0m0s", "1m30s", "1.5s", "300ms", "0s". */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  const negative = ns < 0n;
  let u = negative ? -ns : ns;
  const sign = negative ? "-" : "";
  const fraction = (value: bigint, digits: number) => {
    const scale = 10n ** BigInt(digits);
    const whole = value / scale;
    const frac = (value % scale).toString().padStart(digits, "0").replace(/0+$/, "");
    return frac ? `${whole}.${frac}` : `${whole}`;
  };
  if (u < 1_000_000_000n) {
    if (u < 1_000n) return `${sign}${u}ns`;
    if (u < 1_000_000n) return `${sign}${fraction(u, 3)}\u00b5s`;
    return `${sign}${fraction(u, 6)}ms`;
  }
  const hours = u / 3_600_000_000_000n;
  u -= hours * 3_600_000_000_000n;
  const minutes = u / 60_000_000_000n;
  u -= minutes * 60_000_000_000n;
  const seconds = `${fraction(u, 9)}s`;
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0n) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

/** A lifespan as written on the wire ("1h" → "1h0m0s"), or undefined when it is not a positive Go duration. */
export function canonicalLifespan(text: string): string | undefined {
  const ns = parseGoDuration(text);
  return ns !== undefined && ns > 0n ? formatGoDuration(ns) : undefined;
}

export type LifespanGrant = "authorization_code" | "client_credentials" | "implicit" | "jwt_bearer" | "password" | "refresh_token";
export type LifespanToken = "access_token" | "id_token" | "refresh_token";

/**
 * The client's own lifespan for a grant and token type in milliseconds, else the
 * fallback (the `ttl.*` config) — Hydra's Client.GetEffectiveLifespan.
 */
export function effectiveLifespanMs(
  client: Pick<OAuth2Client, "lifespans">,
  grant: LifespanGrant,
  token: LifespanToken,
  fallbackMs: number,
): number {
  // Combinations Hydra has no field for (e.g. client_credentials + id_token) fall back.
  const value = client.lifespans[`${grant}_grant_${token}_lifespan` as LifespanField];
  if (!value) return fallbackMs;
  const ns = parseGoDuration(value);
  return ns === undefined ? fallbackMs : Number(ns / 1_000_000n);
}
