/**
 * The ID-token builder (src/oauth2/id-token.ts) used by the authorization endpoint and, later,
 * the token endpoint: signed with the newest hydra.openid.id-token key (RS256, ES256, EdDSA),
 * kid in the header, at_hash/c_hash with the alg's hash, reserved claims kept, per-client lifespans.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { getClient } from "../../src/clients/store.ts";
import { buildIdToken, leftHalfHash } from "../../src/oauth2/id-token.ts";
import { admin, createClient, issuer, jsonInit, startEnv, startTimeout, type Env } from "../flows/kit.ts";

const half = (alg: "sha256" | "sha512", value: string) => {
  const d = createHash(alg).update(value).digest();
  return d.subarray(0, d.length / 2).toString("base64url");
};

test("left-half hashes: SHA-256 for *256, SHA-384 for *384, SHA-512 for *512 and EdDSA", () => {
  expect(leftHalfHash("RS256", "abc")).toBe(half("sha256", "abc"));
  expect(leftHalfHash("ES256", "abc")).toBe(half("sha256", "abc"));
  expect(leftHalfHash("PS384", "abc")).toHaveLength(32);
  expect(leftHalfHash("ES512", "abc")).toBe(half("sha512", "abc"));
  expect(leftHalfHash("EdDSA", "abc")).toBe(half("sha512", "abc"));
});

describe("buildIdToken", () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "authz_idtoken");
  }, startTimeout);
  afterAll(async () => {
    await env?.stop();
  });

  const jwks = async () => createLocalJWKSet((await (await env.server.publicFetch("/.well-known/jwks.json")).json()) as any);

  test("claims as Hydra: iss, sub, aud=[client_id], exp, iat, jti, auth_time, rat, nonce, acr, amr, sid, hashes; extras cannot replace them", async () => {
    const created = await createClient(env);
    const client = (await getClient(env.server.deps.db, created.client_id))!;
    const authTime = new Date(Date.now() - 60_000);
    const { token, claims } = await buildIdToken(env.server.deps, {
      client,
      grant: "implicit",
      subject: "user-1",
      authTime,
      requestedAt: new Date(Date.now() - 30_000),
      nonce: "n-0123456789",
      acr: "urn:acr:mfa",
      amr: ["pwd", "otp"],
      sid: "sid-1",
      accessToken: "at-value",
      code: "code-value",
      extra: { email: "u@example.com", sub: "evil", iss: "https://evil.test", aud: "evil", nonce: "x", exp: 1, at_hash: "x", sid: "x" },
    });
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: "RS256", typ: "JWT" });
    expect(typeof header.kid).toBe("string");
    const { payload } = await jwtVerify(token, await jwks(), { issuer, audience: client.clientId });
    expect(payload).toEqual(claims);
    expect(payload).toMatchObject({
      iss: issuer,
      sub: "user-1",
      aud: [client.clientId],
      auth_time: Math.floor(authTime.getTime() / 1000),
      nonce: "n-0123456789",
      acr: "urn:acr:mfa",
      amr: ["pwd", "otp"],
      sid: "sid-1",
      at_hash: half("sha256", "at-value"),
      c_hash: half("sha256", "code-value"),
      email: "u@example.com",
    });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(typeof payload.jti).toBe("string");
    expect(typeof payload.rat).toBe("number");
    expect(payload.azp).toBeUndefined();
  });

  test("extra audiences are added after the client, with azp (OIDC Core §2); per-client lifespans apply", async () => {
    const created = await createClient(env);
    const set = await admin(
      env,
      `/clients/${created.client_id}/lifespans`,
      jsonInit({ implicit_grant_id_token_lifespan: "5m", authorization_code_grant_id_token_lifespan: "10m" }),
    );
    expect(set.status).toBe(200);
    const client = (await getClient(env.server.deps.db, created.client_id))!;
    const base = { client, subject: "u", authTime: new Date(), requestedAt: new Date(), audience: ["https://api.test"] };
    const implicit = await buildIdToken(env.server.deps, { ...base, grant: "implicit" });
    expect(implicit.claims.exp! - implicit.claims.iat!).toBe(300);
    expect(implicit.claims.aud).toEqual([client.clientId, "https://api.test"]);
    expect(implicit.claims.azp).toBe(client.clientId);
    const code = await buildIdToken(env.server.deps, { ...base, grant: "authorization_code" });
    expect(code.claims.exp! - code.claims.iat!).toBe(600);
    const refresh = await buildIdToken(env.server.deps, { ...base, grant: "refresh_token" });
    expect(refresh.claims.exp! - refresh.claims.iat!).toBe(3600);
  });

  test("signs with the set's newest key: ES256, then EdDSA (with SHA-512 half hashes)", async () => {
    const client = (await getClient(env.server.deps.db, (await createClient(env)).client_id))!;
    for (const [alg, kid, hash] of [
      ["ES256", "es-key", "sha256"],
      ["EdDSA", "ed-key", "sha512"],
    ] as const) {
      const created = await admin(env, "/keys/hydra.openid.id-token", jsonInit({ alg, kid, use: "sig" }, "POST"));
      expect(created.status).toBe(201);
      const { token, claims } = await buildIdToken(env.server.deps, {
        client,
        grant: "implicit",
        subject: "u",
        authTime: new Date(),
        requestedAt: new Date(),
        accessToken: "token-value",
      });
      expect(decodeProtectedHeader(token)).toMatchObject({ alg, kid: `public:${kid}` });
      await jwtVerify(token, await jwks(), { issuer, audience: client.clientId });
      expect(claims.at_hash).toBe(half(hash, "token-value"));
    }
  });
});
