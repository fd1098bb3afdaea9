/** @module Shared pieces of the config tests: a temp directory for config files and a throwaway TLS pair. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/config/load.ts";

/** A temp directory for one test file; call remove() in afterAll. */
export function tempDir(label: string) {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-${label}-`));
  let n = 0;
  return {
    dir,
    /** Writes text to a fresh file and returns its absolute path. */
    write(text: string, ext = "yaml"): string {
      const path = join(dir, `f${++n}.${ext}`);
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The problem lines of the ConfigError that fn throws (fails the test if it does not throw one). */
export function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError, but nothing was thrown");
}

export const secret = "0123456789abcdef-system";

// Self-signed P-256 pair for CN=localhost, valid until 2126; test use only.
export const certPem = `-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUSSdkrN8Yx1TMgHPQn2sTqWHqsEYwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyODE0MzY1NFoYDzIxMjYxMTA0
MTQzNjU0WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAS8ohIYkbYecFbfyqZjQtB29EluE3sJyb8H1DU6xqBJB6qqsfrnEEuA
h8b47/ZvnhClKducDsPSqFTwYm0jTbGQo28wbTAdBgNVHQ4EFgQUVsy5cBVCpwVr
G/+/IK4043t97/EwHwYDVR0jBBgwFoAUVsy5cBVCpwVrG/+/IK4043t97/EwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIgd/atEqECa6CHdPGjzkpOQf5c9s6zAnQBvNJwsvGQDeYCIQCN
a550WRe89WYBII19qnQDJQzMKNcSyrqMpZSq/7GZsw==
-----END CERTIFICATE-----
`;
export const keyPem = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpTTYcsedS4k/nhH8
wxMD9qfguKZ4jrGGQOmRO4pCTHuhRANCAAS8ohIYkbYecFbfyqZjQtB29EluE3sJ
yb8H1DU6xqBJB6qqsfrnEEuAh8b47/ZvnhClKducDsPSqFTwYm0jTbGQ
-----END PRIVATE KEY-----
`;
/** A key that does not belong to certPem. */
export const otherKeyPem = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiL6e3Lj0MEWPAbJy
7YnGHSExtVW90d7aJLkW0G7x3mWhRANCAASteQMxm9YW9Gq9kLf5BU4T/2RNlafz
iqdZv9S73q0eZuCWwuTiJV4PnOvr0AcZ+VFoLzhyOxL5ehBoDXM9EyuA
-----END PRIVATE KEY-----
`;
