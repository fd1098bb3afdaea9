/**
 * @module RFC 7523 trust relationships (Hydra v1 oauth2/trust): which issuer may sign
 * jwt-bearer assertions for which subject and scopes, and with which public key.
 */
import type { Jwk } from "../keys/types.ts";

/** Hydra's grantJWTBearerPath. */
export const trustPath = "/trust/grants/jwt-bearer/issuers";

/**
 * Where the issuer's public key is kept in json_web_keys. As in Hydra (trust/handler.go:
 * "group all keys by issuer, so set=issuer"), the set is the issuer itself, so
 * `GET /keys/{issuer}` lists every key trusted for that issuer.
 */
export function trustKeySet(issuer: string): string {
  return issuer;
}

export interface TrustedIssuer {
  id: string;
  issuer: string;
  /** "" when allowAnySubject. */
  subject: string;
  allowAnySubject: boolean;
  scope: string[];
  keySet: string;
  keyId: string;
  createdAt: Date;
  expiresAt: Date;
}

/** What POST /trust/grants/jwt-bearer/issuers asks for, validated (schemas.ts). */
export interface TrustRequest {
  issuer: string;
  subject: string;
  allowAnySubject: boolean;
  scope: string[];
  /** Public, asymmetric, for signatures; kid set. */
  jwk: Jwk;
  expiresAt: Date;
}

/** A key that may verify an assertion of (issuer, subject), with the scopes its trust relationships allow. */
export interface AssertionKey {
  kid: string;
  jwk: Jwk;
  /** Union of the scopes of every live relationship of (issuer, subject) with this key. */
  scope: string[];
}

/** Hydra's trust.Grant as JSON, field for field and in its order. */
export function toWire(t: TrustedIssuer) {
  return {
    id: t.id,
    issuer: t.issuer,
    subject: t.subject,
    allow_any_subject: t.allowAnySubject,
    scope: t.scope,
    public_key: { set: t.keySet, kid: t.keyId },
    created_at: rfc3339(t.createdAt),
    expires_at: rfc3339(t.expiresAt),
  };
}

/** Go's time.Time JSON for a UTC time rounded to the second: "2022-08-25T10:00:00Z". */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Hydra stores both timestamps rounded to the second (time.Round, so .5 s rounds up). */
export function roundToSecond(d: Date): Date {
  return new Date(Math.round(d.getTime() / 1000) * 1000);
}
