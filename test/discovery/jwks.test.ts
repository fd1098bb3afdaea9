/** GET /.well-known/jwks.json on the public listener, on PostgreSQL and on PGlite; JWTs verified against it. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createRemoteJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK } from "jose";
import { signingKey } from "../../src/keys/signing.ts";
import { accessTokenSet, idTokenSet } from "../../src/keys/types.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { backendNames, postJson, secretMembers, startBackends, type Backends } from "../keys/support.ts";

const broadcast = [idTokenSet, "rp-signing", "rp-symmetric", "not-created"];

let backends: Backends;
let defaults: TestServer;
let defaultsDb: TestDatabase;
beforeAll(async () => {
  [backends, defaultsDb] = await Promise.all([
    startBackends("jwks", { webfinger: { jwks: { broadcast_keys: broadcast } }, strategies: { access_token: "jwt" } }),
    createTestDatabase("jwks_defaults"),
  ]);
  await (await openMigrated(defaultsDb.dsn)).close();
  defaults = await startTestServer({ dsn: defaultsDb.dsn });
});
afterAll(async () => {
  await defaults?.stop();
  await defaultsDb?.drop();
  await backends?.stop();
});

type Jwks = { keys: JWK[] };

function expectNoSecrets(jwks: Jwks) {
  for (const key of jwks.keys) {
    for (const m of secretMembers) expect(key[m]).toBeUndefined();
    expect(key.kty).not.toBe("oct");
  }
}

test("by default only the ID-token set is published (opaque access tokens): one public RSA key", async () => {
  const res = await defaults.publicFetch("/.well-known/jwks.json");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect(res.headers.get("cache-control")).toBe("public, max-age=60");
  const jwks = (await res.json()) as Jwks;
  const idKeys = (await (await defaults.adminFetch(`/keys/${idTokenSet}`)).json()) as Jwks;
  expect(idKeys.keys.map((k) => k.kid)).toEqual([idKeys.keys[0]!.kid, idKeys.keys[0]!.kid!.replace("private:", "public:")]);
  expect(jwks).toEqual({ keys: [idKeys.keys[1]!] });
  expect(Object.keys(jwks.keys[0]!)).toEqual(["use", "kty", "kid", "alg", "n", "e"]);
  expectNoSecrets(jwks);
  // The access-token set exists (Hydra creates both on first start) but is not published.
  expect((await defaults.adminFetch(`/keys/${accessTokenSet}`)).status).toBe(200);
});

test("jwks.json is not on the admin listener, and the admin API is not on the public one", async () => {
  expect((await defaults.adminFetch("/.well-known/jwks.json")).status).toBe(404);
  expect((await defaults.publicFetch(`/keys/${idTokenSet}`)).status).toBe(404);
});

describe.each(backendNames)("on %s with broadcast_keys and JWT access tokens", (name) => {
  const server = () => backends.servers[name];
  const jwksUrl = () => new URL(`${server().publicUrl}/.well-known/jwks.json`);
  const fetchJwks = async () => (await (await server().publicFetch("/.well-known/jwks.json")).json()) as Jwks;

  test("publishes broadcast sets, the ID-token and the access-token set; never a private or symmetric key", async () => {
    const rp = (await (await server().adminFetch("/keys/rp-signing", postJson({ alg: "ES256", kid: "rp1", use: "sig" }))).json()) as Jwks;
    await server().adminFetch("/keys/rp-symmetric", postJson({ alg: "HS256", kid: "hmac", use: "sig" }));
    await server().adminFetch("/keys/rp-symmetric", postJson({ alg: "EdDSA", kid: "ed", use: "sig" }));
    await server().adminFetch("/keys/not-broadcast", postJson({ alg: "ES256", kid: "hidden", use: "sig" }));
    const jwks = await fetchJwks();
    const idKid = ((await (await server().adminFetch(`/keys/${idTokenSet}`)).json()) as Jwks).keys[1]!.kid;
    const atKid = ((await (await server().adminFetch(`/keys/${accessTokenSet}`)).json()) as Jwks).keys[1]!.kid;
    // Hydra's order: broadcast_keys (missing ones skipped), then the access-token set.
    expect(jwks.keys.map((k) => k.kid)).toEqual([idKid, "public:rp1", "public:ed", atKid]);
    expect(jwks.keys[1]).toEqual(rp.keys[1]!);
    expectNoSecrets(jwks);
    expect(JSON.stringify(jwks)).not.toContain(rp.keys[0]!.d!);
  });

  test("a JWT signed with a key from POST /keys verifies with createRemoteJWKSet", async () => {
    const created = (await (await server().adminFetch("/keys/rp-signing", postJson({ alg: "PS256", kid: "rp2", use: "sig" }))).json()) as Jwks;
    const privateJwk = created.keys[0]!;
    const jwt = await new SignJWT({ sub: "alice" })
      .setProtectedHeader({ alg: "PS256", kid: "public:rp2" })
      .setIssuer("urn:test")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(await importJWK(privateJwk, "PS256"));
    const { payload } = await jwtVerify(jwt, createRemoteJWKSet(jwksUrl()), { issuer: "urn:test" });
    expect(payload.sub).toBe("alice");
  });

  test("the ID-token set's signing key verifies through jwks.json, and rotation keeps the old key published", async () => {
    const sign = async () => {
      const k = await signingKey(server().deps, idTokenSet);
      return new SignJWT({ sub: "bob" }).setProtectedHeader({ alg: k.alg, kid: k.kid }).setIssuedAt().setExpirationTime("5m").sign(k.key);
    };
    const before = await sign();
    const jwks = createRemoteJWKSet(jwksUrl());
    await jwtVerify(before, jwks);
    // Rotate: a newer key in the set signs from now on; tokens of the old one still verify.
    await server().adminFetch(`/keys/${idTokenSet}`, postJson({ alg: "ES256", kid: "rotated", use: "sig" }));
    const after = await sign();
    expect(decodeProtectedHeader(after)).toMatchObject({ alg: "ES256", kid: "public:rotated" });
    const fresh = createRemoteJWKSet(jwksUrl());
    await jwtVerify(after, fresh);
    await jwtVerify(before, fresh);
    // Deleting the old pair unpublishes it.
    const oldKid = decodeProtectedHeader(before).kid!;
    await server().adminFetch(`/keys/${idTokenSet}/${oldKid}`, { method: "DELETE" });
    await server().adminFetch(`/keys/${idTokenSet}/${oldKid.replace("public:", "private:")}`, { method: "DELETE" });
    expect((await fetchJwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
    await expect(jwtVerify(before, createRemoteJWKSet(jwksUrl()))).rejects.toThrow("no applicable key found in the JSON Web Key Set");
  });

  test("an imported private key without a public twin is published by its public part, under the kid signing uses", async () => {
    const solo = { ...(await exportJWK((await generateKeyPair("ES384", { extractable: true })).privateKey)), kid: "solo", alg: "ES384", use: "sig" };
    const lonely = { ...(await exportJWK((await generateKeyPair("ES256", { extractable: true })).privateKey)), kid: "private:lonely", alg: "ES256", use: "sig" };
    expect((await server().adminFetch("/keys/rp-signing/solo", postJson(solo, "PUT"))).status).toBe(200);
    expect((await server().adminFetch("/keys/rp-signing/x", postJson(lonely, "PUT"))).status).toBe(200);
    const published = (await fetchJwks()).keys;
    const bySolo = published.find((k) => k.kid === "solo")!;
    expect(bySolo).toEqual({ use: "sig", kty: "EC", kid: "solo", crv: "P-384", alg: "ES384", x: solo.x, y: solo.y });
    expect(published.find((k) => k.kid === "public:lonely")).toMatchObject({ x: lonely.x, y: lonely.y });
    expectNoSecrets({ keys: published });
    // The newest key of the set (lonely) signs under the kid jwks.json carries.
    const k = await signingKey(server().deps, "rp-signing");
    expect(k.kid).toBe("public:lonely");
    await jwtVerify(await new SignJWT({}).setProtectedHeader({ alg: k.alg, kid: k.kid }).sign(k.key), createRemoteJWKSet(jwksUrl()));
  });

  test("a missing broadcast set is skipped, not a 404 for everybody", async () => {
    await server().adminFetch("/keys/rp-symmetric", { method: "DELETE" });
    const res = await server().publicFetch("/.well-known/jwks.json");
    expect(res.status).toBe(200);
    expect(((await res.json()) as Jwks).keys.map((k) => k.kid)).not.toContain("public:ed");
  });
});
