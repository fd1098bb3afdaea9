/**
 * @module signJwt: the one way Gatehouse signs a JWT (ID tokens, JWT access tokens, signed
 * userinfo, logout tokens). RS256/384/512 go through OpenSSL (openssl-rsa.ts) when the signing
 * key has a signer; everything else, and any OpenSSL failure, through jose's SignJWT.
 */
import { SignJWT, type JWTPayload } from "jose";
import type { SigningKey } from "./signing.ts";

/**
 * A compact JWS (RFC 7515 §7.1) of `payload` with the protected header {alg, kid, typ},
 * byte for byte what jose's `new SignJWT(payload).setProtectedHeader({alg, kid, typ})` makes.
 */
export async function signJwt(key: SigningKey, typ: string, payload: JWTPayload): Promise<string> {
  if (key.rsa) {
    const jws = signWithOpenSsl(key, typ, payload);
    if (jws !== undefined) return jws;
  }
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ }).sign(key.key);
}

function signWithOpenSsl(key: SigningKey, typ: string, payload: JWTPayload): string | undefined {
  // The check jose makes before it serialises: JSON would turn these into null.
  for (const claim of ["iat", "nbf", "exp"] as const) {
    const value = payload[claim];
    if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError(`"${claim}" claim must be a finite number`);
  }
  // Same member order as jose writes it: JSON.stringify of the header object as given.
  const header = b64u(JSON.stringify({ alg: key.alg, kid: key.kid, typ }));
  const signingInput = `${header}.${b64u(JSON.stringify(payload))}`;
  const signature = key.rsa?.sign(signingInput);
  return signature && `${signingInput}.${Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64url")}`;
}

function b64u(text: string): string {
  return Buffer.from(text).toString("base64url");
}
