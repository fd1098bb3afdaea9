/**
 * @module Opaque tokens: `<prefix><random>.<signature>`. The signature is an HMAC of
 * the random part under secrets.system[0] and is the only part stored, so a
 * database dump yields no usable token (as Hydra's HMAC strategy). The prefix
 * (e.g. `gth_at_`) lets secret scanners recognise a leaked Gatehouse token.
 */
import { randomBytes } from "node:crypto";
import { constantTimeEqual, hmac } from "../lib/crypto.ts";

/** The HMAC purpose differs per kind, so a token of one kind never verifies as another. */
export type TokenKind = "access_token" | "refresh_token" | "authorize_code" | "registration_access_token";

export interface OpaqueToken {
  token: string;
  /** What the store keys on. */
  signature: string;
}

const purpose = (kind: TokenKind) => `opaque:${kind}`;

export function generateOpaqueToken(secrets: readonly string[], kind: TokenKind, prefix: string): OpaqueToken {
  const key = randomBytes(32).toString("base64url");
  const signature = hmac(secrets[0]!, purpose(kind), key);
  return { token: `${prefix}${key}.${signature}`, signature };
}

/**
 * The signature to look up, if the token is well-formed and was signed by one of
 * our secrets (rotation: any listed secret). Anything else is undefined, cheaply,
 * before any database work.
 */
export function opaqueTokenSignature(secrets: readonly string[], kind: TokenKind, prefix: string, token: string): string | undefined {
  if (token.length > 512 || !token.startsWith(prefix)) return undefined;
  const body = token.slice(prefix.length);
  const dot = body.indexOf(".");
  if (dot <= 0 || dot !== body.lastIndexOf(".")) return undefined;
  const key = body.slice(0, dot);
  const presented = body.slice(dot + 1);
  for (const secret of secrets) {
    const expected = hmac(secret, purpose(kind), key);
    if (constantTimeEqual(expected, presented)) return expected;
  }
  return undefined;
}
