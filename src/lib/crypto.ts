/**
 * @module Symmetric crypto under secrets.system: AEAD sealing (AES-256-GCM),
 * HMAC signatures, constant-time comparison, random tokens.
 * secrets[0] seals and signs; every listed secret opens and verifies (rotation).
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** A 32-byte AES key per secret; SHA-256 so that any secret length gives a full-strength key. */
function aeadKey(secret: string, purpose: string): Buffer {
  return createHash("sha256").update(`gatehouse:${purpose}:`).update(secret).digest();
}

const version = "v1";

/** `v1.<iv>.<ciphertext+tag>` in base64url; `purpose` separates keys for different uses. */
export function seal(secrets: readonly string[], plaintext: string, purpose: string): string {
  const secret = secrets[0];
  if (!secret) throw new Error("no secret to seal with");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", aeadKey(secret, purpose), iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `${version}.${iv.toString("base64url")}.${body.toString("base64url")}`;
}

export class UnsealError extends Error {
  override name = "UnsealError";
}

/** Opens with whichever listed secret sealed it; throws UnsealError if none does. */
export function unseal(secrets: readonly string[], sealed: string, purpose: string): string {
  const [v, ivText, bodyText] = sealed.split(".");
  if (v !== version || !ivText || !bodyText) throw new UnsealError("not a sealed value");
  const iv = Buffer.from(ivText, "base64url");
  const body = Buffer.from(bodyText, "base64url");
  if (body.length < 16) throw new UnsealError("sealed value is truncated");
  for (const secret of secrets) {
    try {
      const decipher = createDecipheriv("aes-256-gcm", aeadKey(secret, purpose), iv);
      decipher.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString("utf8");
    } catch {
      // try the next secret
    }
  }
  throw new UnsealError("none of secrets.system opens this value");
}

/** Which secret (index) opens a sealed value, or -1. */
export function sealedWith(secrets: readonly string[], sealed: string, purpose: string): number {
  for (let i = 0; i < secrets.length; i++) {
    try {
      unseal([secrets[i]!], sealed, purpose);
      return i;
    } catch {
      // not this one
    }
  }
  return -1;
}

/** HMAC-SHA256, base64url; `purpose` keeps signatures of different kinds apart. */
export function hmac(secret: string, purpose: string, data: string): string {
  return createHmac("sha256", `gatehouse:${purpose}:${secret}`).update(data).digest("base64url");
}

/** Constant-time equality of two strings (length difference leaks only the length). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  if (ab.length !== bb.length) {
    // Still do the work so timing depends on the length only.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

const urlSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/** Random string from the URL-safe alphabet Hydra uses for secrets (x/secret.go), without modulo bias. */
export function randomString(length: number, alphabet = urlSafe): string {
  const out: string[] = [];
  const limit = 256 - (256 % alphabet.length);
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit && out.length < length) out.push(alphabet[byte % alphabet.length]!);
    }
  }
  return out.join("");
}
