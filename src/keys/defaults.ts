/**
 * @module Documented defaults of the keys domain: how first-start keys are generated,
 * how long JWKS responses may be cached, how long a signing key stays in memory.
 */
import type { Config } from "../config/schema.ts";

/** How the sets created on first start are generated. */
export interface FirstStartKeySpec {
  alg: string;
  /** RSA modulus size (RS*, PS* only). */
  bits: number;
}

/**
 * RS256 because every OIDC relying party must accept it (OIDC Core §15.1); 2048 bits
 * because that is RFC 7518 §3.3's minimum and generates in ~40 ms, where Hydra's 4096
 * takes ~250 ms per key and gains nothing a 2048-bit key lacks before 2030 (NIST SP 800-57).
 */
export const defaultFirstStartKeySpec: FirstStartKeySpec = { alg: "RS256", bits: 2048 };

/**
 * The first-start algorithm and size. Gatehouse-only config keys
 * `keys.first_start.algorithm` and `keys.first_start.rsa_bits` (env KEYS_FIRST_START_ALGORITHM,
 * KEYS_FIRST_START_RSA_BITS) are proposed for config/schema.ts; until they exist there the
 * schema drops them and the defaults above apply. This is the one place that reads them.
 */
export function firstStartKeySpec(config: Config): FirstStartKeySpec {
  const keys = (config as Config & { keys?: { first_start?: { algorithm?: unknown; rsa_bits?: unknown } } }).keys;
  const alg = keys?.first_start?.algorithm;
  const bits = keys?.first_start?.rsa_bits;
  return {
    alg: typeof alg === "string" && alg !== "" ? alg : defaultFirstStartKeySpec.alg,
    bits: typeof bits === "number" ? bits : defaultFirstStartKeySpec.bits,
  };
}

/**
 * Cache-Control max-age of /.well-known/jwks.json. Short, because a key created now
 * signs at once: a verifier whose cached JWKS lacks the new kid must refetch soon
 * (jose's createRemoteJWKSet refetches on an unknown kid after a 30 s cooldown).
 */
export const jwksMaxAgeSeconds = 60;

/**
 * How long a process keeps a set's signing key without re-reading the database. Changes
 * made through this process's admin API drop it at once; this bounds how long a key
 * created through another instance goes unused here.
 */
export const signingKeyCacheMs = 30_000;
