/** Pure key logic: generation, the public part's allow-list, JWK validation; and how long generation takes. */
import { expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { CompactSign, compactVerify, importJWK } from "jose";
import { generateKeys, pemToJwks, publicKid, publicPart, validateJwk } from "../../src/keys/keystore.ts";
import type { Jwk } from "../../src/keys/types.ts";

test("publicKid maps private:x to public:x and leaves other kids alone", () => {
  expect(publicKid("private:abc")).toBe("public:abc");
  expect(publicKid("public:abc")).toBe("public:abc");
  expect(publicKid("mine")).toBe("mine");
});

test("publicPart copies only public members, whatever else the key carries", async () => {
  const [priv] = await generateKeys({ alg: "RS256", kid: "x", use: "sig" });
  const polluted = { ...priv!, secret: "s", oth: [{ r: "1" }], k: "kk", key_ops: ["sign"], x5c: ["MIIB"] } as Jwk;
  expect(publicPart(polluted)).toEqual({ kty: "RSA", kid: "public:x", alg: "RS256", use: "sig", n: priv!.n, e: "AQAB", x5c: ["MIIB"] } as Jwk);
  const [hmac] = await generateKeys({ alg: "HS256", kid: "h", use: "sig" });
  expect(publicPart(hmac!)).toBeUndefined();
});

test("every generated private key signs what its public key verifies", async () => {
  for (const alg of ["RS256", "PS384", "ES256", "ES384", "ES512", "EdDSA"]) {
    const [priv, pub] = await generateKeys({ alg, kid: alg, use: "sig" });
    const jws = await new CompactSign(new TextEncoder().encode("x")).setProtectedHeader({ alg }).sign(await importJWK(priv!, alg));
    await compactVerify(jws, await importJWK(pub!, alg));
  }
});

test("validateJwk keeps RFC 7517 members only and accepts encryption keys with their own rules", async () => {
  const [priv] = await generateKeys({ alg: "ES256", kid: "e", use: "sig" });
  const cleaned = await validateJwk({ ...priv!, kid: "e", ext: true, extra: "drop me" });
  expect(Object.keys(cleaned)).toEqual(["use", "kty", "kid", "crv", "alg", "x", "y", "d"]);

  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ format: "jwk" });
  expect(await validateJwk({ ...rsa, kid: "oaep", alg: "RSA-OAEP-256" })).toMatchObject({ use: "enc", alg: "RSA-OAEP-256" });
  const aes = { kty: "oct", kid: "kw", alg: "A256KW", k: Buffer.alloc(32, 7).toString("base64url") };
  expect(await validateJwk(aes)).toMatchObject({ use: "enc", alg: "A256KW" });
  await expect(validateJwk({ ...aes, k: Buffer.alloc(16).toString("base64url") })).rejects.toMatchObject({
    description: 'JWK "kw": A256KW needs a key of exactly 32 bytes, got 16.',
  });
  const x25519 = generateKeyPairSync("x25519").publicKey.export({ format: "jwk" });
  expect(await validateJwk({ ...x25519, kid: "ecdh", alg: "ECDH-ES" })).toMatchObject({ kty: "OKP", crv: "X25519" });
});

test("pemToJwks reads SPKI and PKCS#8 PEM with the algorithm of the curve", async () => {
  const ec = generateKeyPairSync("ec", { namedCurve: "P-521" });
  const fromPrivate = await pemToJwks(ec.privateKey.export({ type: "pkcs8", format: "pem" }) as string, "id", "sig");
  expect(fromPrivate.keys.map((k) => [k.kid, k.alg, k.d === undefined])).toEqual([
    ["private:id", "ES512", false],
    ["public:id", "ES512", true],
  ]);
  const fromPublic = await pemToJwks(ec.publicKey.export({ type: "spki", format: "pem" }) as string, "id", "sig");
  expect(fromPublic.keys.map((k) => k.kid)).toEqual(["public:id"]);
});

test("generation time: RS256-2048, RS256-4096 (Hydra's size), ES256, EdDSA", async () => {
  const time = async (alg: string, bits: number | undefined, n: number) => {
    const started = performance.now();
    for (let i = 0; i < n; i++) await generateKeys({ alg, kid: "", use: "sig", bits });
    return (performance.now() - started) / n;
  };
  const rs2048 = await time("RS256", 2048, 10);
  const rs4096 = await time("RS256", 4096, 2);
  const es256 = await time("ES256", undefined, 50);
  const eddsa = await time("EdDSA", undefined, 50);
  console.log(
    `key generation (mean, incl. JWK export): RS256-2048 ${rs2048.toFixed(1)} ms, RS256-4096 ${rs4096.toFixed(1)} ms, ES256 ${es256.toFixed(2)} ms, EdDSA ${eddsa.toFixed(2)} ms`,
  );
  // Loose bounds: these catch a pathological regression (e.g. a pure-JS fallback), not jitter.
  expect(rs2048).toBeLessThan(2000);
  expect(es256).toBeLessThan(100);
});
