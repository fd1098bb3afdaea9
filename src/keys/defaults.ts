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

/** The first-start algorithm and size (keys.first_start.*, Gatehouse-only keys). */
export function firstStartKeySpec(config: Config): FirstStartKeySpec {
  return { alg: config.keys.first_start.algorithm, bits: config.keys.first_start.rsa_bits };
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

/**
 * How old this process's published keys (jwks.json bytes, discovery's signing algorithm) may
 * get before a request checks the key table for changes made elsewhere (keys/published.ts).
 * One small query per second per process; far below jwksMaxAgeSeconds, which relying parties
 * cache anyway.
 */
export const publishedKeysCheckMs = 1_000;
