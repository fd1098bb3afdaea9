/**
 * @module Opaque tokens: `<prefix><random>.<signature>`. The signature is an HMAC of
 * the random part under secrets.system[0] and is the only part stored, so a
 * database dump yields no usable token (as Hydra's HMAC strategy). The prefix
 * (e.g. `gth_at_`) lets secret scanners recognise a leaked Gatehouse token.
 */
import { randomBytes } from "node:crypto";
import { constantTimeEqual, hmac, hmacSigner } from "../lib/crypto.ts";

/** The HMAC purpose differs per kind, so a token of one kind never verifies as another. */
export type TokenKind = "access_token" | "refresh_token" | "authorize_code" | "registration_access_token";

export interface OpaqueToken {
  token: string;
  /** What the store keys on. */
  signature: string;
}

const purpose = (kind: TokenKind) => `opaque:${kind}`;

type Signer = (data: string) => string;

/**
 * The HMAC of each listed secret for `kind`, keyed once per frozen secret list (config.secrets.system):
 * every token issued or presented is signed, and setting up the key was half of that work.
 */
const signerCache = new WeakMap<readonly string[], Map<TokenKind, Signer[]>>();

function signers(secrets: readonly string[], kind: TokenKind): Signer[] {
  let byKind = signerCache.get(secrets);
  if (!byKind) {
    if (!Object.isFrozen(secrets)) return secrets.map((secret) => (data: string) => hmac(secret, purpose(kind), data));
    signerCache.set(secrets, (byKind = new Map()));
  }
  let list = byKind.get(kind);
  if (!list) byKind.set(kind, (list = secrets.map((secret) => hmacSigner(secret, purpose(kind)))));
  return list;
}

export function generateOpaqueToken(secrets: readonly string[], kind: TokenKind, prefix: string): OpaqueToken {
  const key = randomBytes(32).toString("base64url");
  const signature = signers(secrets, kind)[0]!(key);
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
  for (const sign of signers(secrets, kind)) {
    const expected = sign(key);
    if (constantTimeEqual(expected, presented)) return expected;
  }
  return undefined;
}
