/** @module What the trust and jwt-bearer tests share: issuer key pairs and trust request bodies. */
import { exportJWK, generateKeyPair, type JWK } from "jose";

export const trustPath = "/trust/grants/jwt-bearer/issuers";

export interface IssuerKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** The public JWK with kid, alg and use, as POSTed. */
  publicJwk: JWK;
  /** The private JWK (for the "private key refused" cases). */
  privateJwk: JWK;
}

export async function issuerKey(kid: string, alg: "ES256" | "RS256" | "EdDSA" | "PS256" = "ES256"): Promise<IssuerKey> {
  const pair = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
  const privateJwk = { ...(await exportJWK(pair.privateKey)), kid, alg, use: "sig" };
  return { kid, alg, privateKey: pair.privateKey as CryptoKey, publicJwk, privateJwk };
}

export const inOneYear = () => new Date(Date.now() + 365 * 24 * 3600_000).toISOString();

export function trustBody(key: IssuerKey, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: "https://jwt-idp.example.com",
    subject: "mike@example.com",
    scope: ["read", "write"],
    jwk: key.publicJwk,
    expires_at: inOneYear(),
    ...extra,
  };
}

export const jsonInit = (body: unknown, method = "POST"): RequestInit => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

/** fosite's invalid_request description; hints follow it after a space. */
export const invalidRequestDescription =
  "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";
