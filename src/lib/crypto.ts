/**
 * @module Symmetric crypto under secrets.system: AEAD sealing (AES-256-GCM),
 * HMAC signatures, constant-time comparison, random tokens.
 * secrets[0] seals and signs; every listed secret opens and verifies (rotation).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A 32-byte AES key per secret; SHA-256 so that any secret length gives a full-strength key. */
function deriveAeadKey(secret: string, purpose: string): Buffer {
  return createHash("sha256").update(`gatehouse:${purpose}:`).update(secret).digest();
}

/**
 * Derived keys of frozen secret lists (config.secrets.*), by purpose: sessions are sealed and
 * opened on every token request, and the derivation was a fifth of that work. Only frozen
 * lists, whose secrets cannot change; a list made for one call (a refresh token sealing its
 * rotated pair) is derived each time and never kept.
 */
const aeadKeys = new WeakMap<readonly string[], Map<string, Buffer>>();

function aeadKey(secrets: readonly string[], index: number, purpose: string): Buffer {
  const secret = secrets[index]!;
  let byPurpose = aeadKeys.get(secrets);
  if (!byPurpose) {
    if (!Object.isFrozen(secrets)) return deriveAeadKey(secret, purpose);
    aeadKeys.set(secrets, (byPurpose = new Map()));
  }
  const name = `${index}:${purpose}`;
  let key = byPurpose.get(name);
  if (!key) byPurpose.set(name, (key = deriveAeadKey(secret, purpose)));
  return key;
}

const version = "v1";

/** `v1.<iv>.<ciphertext+tag>` in base64url; `purpose` separates keys for different uses. */
export function seal(secrets: readonly string[], plaintext: string, purpose: string): string {
  const secret = secrets[0];
  if (!secret) throw new Error("no secret to seal with");
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", aeadKey(secrets, 0, purpose), iv);
  const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `${version}.${iv.toString("base64url")}.${body.toString("base64url")}`;
}

export class UnsealError extends Error {
  override name = "UnsealError";
}

/** Strict base64url (Uint8Array.fromBase64: native, no intermediate Buffer); undefined when malformed. */
function fromBase64Url(text: string): Uint8Array | undefined {
  try {
    return (Uint8Array as unknown as { fromBase64(s: string, o: { alphabet: "base64url" }): Uint8Array }).fromBase64(text, { alphabet: "base64url" });
  } catch {
    return undefined;
  }
}

/** Opens with whichever listed secret sealed it; throws UnsealError if none does. */
export function unseal(secrets: readonly string[], sealed: string, purpose: string): string {
  // Sessions are opened on every introspection: offsets rather than split, and no Buffer.concat.
  const first = sealed.indexOf(".");
  const second = sealed.indexOf(".", first + 1);
  if (first < 0 || second < 0 || sealed.slice(0, first) !== version) throw new UnsealError("not a sealed value");
  const iv = fromBase64Url(sealed.slice(first + 1, second));
  const body = fromBase64Url(sealed.slice(second + 1));
  if (!iv || !body || iv.length === 0) throw new UnsealError("not a sealed value");
  if (body.length < 16) throw new UnsealError("sealed value is truncated");
  const tag = body.subarray(body.length - 16);
  const ciphertext = body.subarray(0, body.length - 16);
  for (let i = 0; i < secrets.length; i++) {
    try {
      const decipher = createDecipheriv("aes-256-gcm", aeadKey(secrets, i, purpose), iv);
      decipher.setAuthTag(tag);
      // GCM is a stream mode: update() returns all of the plaintext; final() only checks the tag.
      const plaintext = decipher.update(ciphertext);
      decipher.final();
      return plaintext.toString("utf8");
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
  return new Bun.CryptoHasher("sha256", `gatehouse:${purpose}:${secret}`).update(data).digest("base64url");
}

/**
 * `hmac(secret, purpose, ·)` with the key set up once: for a long-lived secret used on every
 * request (opaque token signatures). The keyed state is copied per call, never updated itself.
 */
export function hmacSigner(secret: string, purpose: string): (data: string) => string {
  const keyed = new Bun.CryptoHasher("sha256", `gatehouse:${purpose}:${secret}`);
  return (data) => keyed.copy().update(data).digest("base64url");
}

// The same UTF-8 bytes as Buffer.from(s, "utf8"), at a third of its cost in Bun.
const utf8 = new TextEncoder();

/** Constant-time equality of two strings (length difference leaks only the length). */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = utf8.encode(a);
  const bb = utf8.encode(b);
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
