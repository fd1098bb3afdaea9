import { expect, test } from "bun:test";
import { createCipheriv, createHash, createHmac } from "node:crypto";
import { constantTimeEqual, hmac, hmacSigner, seal, sealedWith, unseal, UnsealError } from "./crypto.ts";

const a = "secret-a-0123456789";
const b = "secret-b-0123456789";

test("hmac and hmacSigner are HMAC-SHA256 under gatehouse:<purpose>:<secret>, base64url", () => {
  const expected = createHmac("sha256", `gatehouse:p:${a}`).update("data é").digest("base64url");
  expect(hmac(a, "p", "data é")).toBe(expected);
  const sign = hmacSigner(a, "p");
  expect(sign("data é")).toBe(expected);
  expect(sign("data é")).toBe(expected); // the keyed state is not consumed
  expect(sign("other")).toBe(hmac(a, "p", "other"));
});

test("seal/unseal round trip with frozen (cached keys) and fresh secret lists, and rotation", () => {
  const frozen = Object.freeze([a, b]);
  for (const secrets of [frozen, [a, b]]) {
    const sealed = seal(secrets, "hello ✓", "session");
    expect(unseal([a], sealed, "session")).toBe("hello ✓");
    expect(unseal(Object.freeze([b, a]), sealed, "session")).toBe("hello ✓");
    expect(() => unseal([b], sealed, "session")).toThrow(UnsealError);
    expect(() => unseal(frozen, sealed, "other-purpose")).toThrow(UnsealError);
    expect(sealedWith(frozen, sealed, "session")).toBe(0);
  }
  expect(unseal(frozen, seal([b], "x", "session"), "session")).toBe("x");
});

test("unseal opens values in the v1 format as written before (key = SHA-256(gatehouse:<purpose>:secret))", () => {
  const key = createHash("sha256").update("gatehouse:session:").update(a).digest();
  const iv = Buffer.alloc(12, 7);
  const c = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([c.update('{"ext":{}}', "utf8"), c.final(), c.getAuthTag()]);
  const sealed = `v1.${iv.toString("base64url")}.${body.toString("base64url")}`;
  expect(unseal(Object.freeze([a]), sealed, "session")).toBe('{"ext":{}}');
});

test("unseal refuses malformed and tampered values with UnsealError", () => {
  const sealed = seal([a], "hello", "session");
  const [v, iv, body] = sealed.split(".");
  for (const bad of ["", "v1", "v1.", `v2.${iv}.${body}`, `v1.${iv}`, `v1..${body}`, `v1.${iv}.`, `v1.${iv}.AAAA`, `v1.${iv}.${body}!`, `v1.${iv}.${body}.x`, `${v}.${iv}.${body!.slice(0, -2)}AA`]) {
    expect(() => unseal([a], bad, "session")).toThrow(UnsealError);
  }
});

test("constantTimeEqual compares UTF-8 strings", () => {
  expect(constantTimeEqual("abc", "abc")).toBe(true);
  expect(constantTimeEqual("abc", "abd")).toBe(false);
  expect(constantTimeEqual("abc", "abcd")).toBe(false);
  expect(constantTimeEqual("é", "é")).toBe(true);
  expect(constantTimeEqual("é", "e\u0301")).toBe(false);
  expect(constantTimeEqual("", "")).toBe(true);
});
