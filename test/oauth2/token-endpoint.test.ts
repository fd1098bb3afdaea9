/**
 * POST /oauth2/token over real HTTP: the pipeline (form, duplicates, grant lookup,
 * unauthorized_client, scope, audience), client authentication methods and their errors,
 * the client_credentials grant, and that a refused request writes nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { count } from "drizzle-orm";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { accessTokens } from "../../src/storage/schema/index.ts";
import {
  basic,
  createClient,
  form,
  invalidClientDescription,
  invalidRequestDescription,
  startOAuthServer,
  tokenRequest,
  type BackendName,
  type OAuthServer,
} from "./support.ts";

const servers: Partial<Record<BackendName, OAuthServer>> = {};
let jwtKey: CryptoKey;
let jwtPublic: CryptoKey;
let otherKey: CryptoKey;
let jwksServer: ReturnType<typeof Bun.serve>;
let jwksHits = 0;

const secret = "s3cret with spaces:+/&%ü";

async function seedClients(s: OAuthServer) {
  const { server } = s;
  await createClient(server, {
    client_id: "basic-client",
    client_secret: secret,
    grant_types: ["client_credentials"],
    scope: "read write api.*",
    audience: ["https://api.example.com", "https://other.example.com/v1"],
  });
  await createClient(server, {
    client_id: "post-client",
    client_secret: "post-secret-value",
    grant_types: ["client_credentials"],
    token_endpoint_auth_method: "client_secret_post",
    scope: "read",
  });
  await createClient(server, { client_id: "public-client", grant_types: ["client_credentials"], token_endpoint_auth_method: "none" });
  await createClient(server, {
    client_id: "code-client",
    client_secret: "code-secret-value",
    grant_types: ["authorization_code"],
    redirect_uris: ["https://app.example.com/cb"],
  });
  const jwk = { ...(await exportJWK(jwtPublic)), kid: "k1", alg: "RS256", use: "sig" };
  await createClient(server, {
    client_id: "jwt-client",
    grant_types: ["client_credentials"],
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "RS256",
    jwks: { keys: [jwk] },
    scope: "read",
  });
  await createClient(server, {
    client_id: "jwks-uri-client",
    grant_types: ["client_credentials"],
    token_endpoint_auth_method: "private_key_jwt",
    jwks_uri: `http://127.0.0.1:${jwksServer.port}/jwks.json`,
    scope: "read",
  });
}

beforeAll(async () => {
  const a = await generateKeyPair("RS256", { extractable: true });
  const b = await generateKeyPair("RS256", { extractable: true });
  jwtKey = a.privateKey;
  jwtPublic = a.publicKey;
  otherKey = b.privateKey;
  const jwksBody = JSON.stringify({ keys: [{ ...(await exportJWK(a.publicKey)), kid: "remote-1", alg: "RS256", use: "sig" }] });
  jwksServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => {
      jwksHits++;
      return new Response(jwksBody, { headers: { "Content-Type": "application/json" } });
    },
  });
  const [pg, lite] = await Promise.all([startOAuthServer("postgres", "token_endpoint"), startOAuthServer("pglite", "token_endpoint")]);
  servers.postgres = pg;
  servers.pglite = lite;
  await Promise.all([seedClients(pg), seedClients(lite)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([servers.postgres?.stop(), servers.pglite?.stop()]);
  jwksServer?.stop(true);
}, 60_000);

async function assertion(s: OAuthServer, claims: Record<string, unknown> = {}, options: { key?: CryptoKey; alg?: string; kid?: string } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: "jwt-client", sub: "jwt-client", aud: s.tokenUrl, exp: now + 60, iat: now, jti: crypto.randomUUID(), ...claims })
    .setProtectedHeader({ alg: options.alg ?? "RS256", kid: options.kid ?? "k1" })
    .sign(options.key ?? jwtKey);
}

const jwtType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

describe.each(["postgres", "pglite"] as const)("main paths on %s", (name) => {
  const s = () => servers[name]!;

  test("client_secret_basic with form-urlencoded id and secret: an opaque token, no-store, no refresh token", async () => {
    const res = await tokenRequest(s().server, form({ grant_type: "client_credentials", scope: "read" }, { Authorization: basic("basic-client", secret) }));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("pragma")).toBe("no-cache");
    expect(Object.keys(res.body)).toEqual(["access_token", "token_type", "expires_in", "scope"]);
    expect(res.body).toMatchObject({ token_type: "bearer", expires_in: 3600, scope: "read" });
    expect(res.body.access_token).toMatch(/^gth_at_[\w-]{43}\.[\w-]{43}$/);
  });

  test("client_secret_post", async () => {
    const res = await tokenRequest(
      s().server,
      form({ grant_type: "client_credentials", client_id: "post-client", client_secret: "post-secret-value", scope: "read" }),
    );
    expect(res.status).toBe(200);
    expect(res.body.scope).toBe("read");
  });

  test("private_key_jwt with the client's jwks; the same assertion again is refused (jti)", async () => {
    const jwt = await assertion(s());
    const body = { grant_type: "client_credentials", client_assertion_type: jwtType, client_assertion: jwt, scope: "read" };
    const first = await tokenRequest(s().server, form(body));
    expect(first.status).toBe(200);
    const replay = await tokenRequest(s().server, form(body));
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual({
      error: "invalid_client",
      error_description: `${invalidClientDescription} Claim 'jti' from 'client_assertion' MUST only be used once.`,
    });
  });

  test("private_key_jwt with keys from jwks_uri, fetched once and cached", async () => {
    const before = jwksHits;
    for (let i = 0; i < 3; i++) {
      const jwt = await assertion(s(), { iss: "jwks-uri-client", sub: "jwks-uri-client" }, { kid: "remote-1" });
      const res = await tokenRequest(s().server, form({ grant_type: "client_credentials", client_assertion_type: jwtType, client_assertion: jwt }));
      expect(res.status).toBe(200);
    }
    expect(jwksHits - before).toBe(1);
  });

  test("wrong secret and unknown client: the same 401 body, with a Basic challenge", async () => {
    const wrong = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: basic("basic-client", "nope") }));
    const unknown = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: basic("nobody", "nope") }));
    for (const res of [wrong, unknown]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: "invalid_client", error_description: invalidClientDescription });
      expect(res.headers.get("www-authenticate")).toBe(`Basic realm="${s().issuer}"`);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
  });
});

describe("errors (PostgreSQL)", () => {
  const s = () => servers.postgres!;
  const ok = () => ({ Authorization: basic("basic-client", secret) });
  const expectError = (res: { status: number; body: Record<string, unknown> }, status: number, error: string, hint?: string) => {
    expect(res.status).toBe(status);
    expect(res.body.error).toBe(error);
    if (hint) expect(res.body.error_description as string).toEndWith(hint);
  };

  test("the registered method only: post for a basic client, basic for a post client, none for a confidential client", async () => {
    const post = await tokenRequest(s().server, form({ grant_type: "client_credentials", client_id: "basic-client", client_secret: secret }));
    expectError(post, 401, "invalid_client");
    expect(post.body.error_description).toBe(
      `${invalidClientDescription} The OAuth 2.0 Client supports client authentication method 'client_secret_basic', but method 'client_secret_post' was requested. You must configure the OAuth 2.0 client's 'token_endpoint_auth_method' value to accept 'client_secret_post'.`,
    );
    expect(post.headers.get("www-authenticate")).toBeNull();
    const basicForPost = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: basic("post-client", "post-secret-value") }));
    expectError(basicForPost, 401, "invalid_client", "to accept 'client_secret_basic'.");
    expect(basicForPost.headers.get("www-authenticate")).toStartWith("Basic realm=");
    const none = await tokenRequest(s().server, form({ grant_type: "client_credentials", client_id: "basic-client" }));
    expectError(none, 401, "invalid_client", "to accept 'none'.");
    const jwtForBasic = await tokenRequest(
      s().server,
      form({ grant_type: "client_credentials", client_assertion_type: jwtType, client_assertion: await assertion(s(), { iss: "basic-client", sub: "basic-client" }) }),
    );
    expectError(jwtForBasic, 401, "invalid_client", "to accept 'private_key_jwt'.");
  });

  test("no credentials, two methods at once, malformed Basic", async () => {
    expectError(await tokenRequest(s().server, form({ grant_type: "client_credentials" })), 400, "invalid_request", "Client credentials missing or malformed in both HTTP Authorization header and HTTP POST body.");
    expectError(
      await tokenRequest(s().server, form({ grant_type: "client_credentials", client_secret: "x", client_id: "basic-client" }, ok())),
      400,
      "invalid_request",
      "more than one authentication method in each request.",
    );
    const garbage = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: "Basic !!!" }));
    expectError(garbage, 401, "invalid_client");
    expect(garbage.headers.get("www-authenticate")).toStartWith("Basic ");
    const noColon = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: `Basic ${btoa("justanid")}` }));
    expectError(noColon, 401, "invalid_client");
    // RFC 6749 §2.3.1: a raw "+" in the Basic secret decodes as a space, so the raw secret fails.
    const raw = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: `Basic ${btoa(`basic-client:${secret}`)}` }));
    expectError(raw, 401, "invalid_client");
    const mismatch = await tokenRequest(s().server, form({ grant_type: "client_credentials", client_id: "other" }, ok()));
    expectError(mismatch, 400, "invalid_request");
  });

  test("form: other media types, empty body, repeated parameters (audience may repeat)", async () => {
    const asJson = await tokenRequest(s().server, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...ok() },
      body: JSON.stringify({ grant_type: "client_credentials" }),
    });
    expect(asJson.body).toEqual({
      error: "invalid_request",
      error_description: `${invalidRequestDescription} The request body must be sent as application/x-www-form-urlencoded, not application/json.`,
    });
    expectError(await tokenRequest(s().server, { method: "POST", headers: ok(), body: "grant_type=client_credentials" }), 400, "invalid_request");
    expectError(await tokenRequest(s().server, form("", ok())), 400, "invalid_request", "The POST body can not be empty.");
    const charset = await tokenRequest(s().server, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", ...ok() },
      body: "grant_type=client_credentials",
    });
    expect(charset.status).toBe(200);
    expectError(
      await tokenRequest(s().server, form("grant_type=client_credentials&grant_type=client_credentials", ok())),
      400,
      "invalid_request",
      "The parameter 'grant_type' must not be included more than once.",
    );
    expectError(await tokenRequest(s().server, form("grant_type=client_credentials&scope=read&scope=write", ok())), 400, "invalid_request");
    const twoAudiences = await tokenRequest(
      s().server,
      form("grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com&audience=https%3A%2F%2Fother.example.com%2Fv1", ok()),
    );
    expect(twoAudiences.status).toBe(200);
    const big = await tokenRequest(s().server, form(`grant_type=client_credentials&x=${"a".repeat(70_000)}`, ok()));
    expectError(big, 400, "invalid_request", "must not be larger than 65536 bytes.");
  });

  test("grant_type: missing, unsupported, not allowed for the client, public client", async () => {
    expectError(await tokenRequest(s().server, form({ scope: "read" }, ok())), 400, "invalid_request", "Request parameter 'grant_type' is missing.");
    expectError(await tokenRequest(s().server, form({ grant_type: "" }, ok())), 400, "invalid_request", "Request parameter 'grant_type' is missing.");
    const password = await tokenRequest(s().server, form({ grant_type: "password", username: "a", password: "b" }, ok()));
    expectError(password, 400, "unsupported_grant_type", "The grant type 'password' is not supported by this server.");
    // Client authentication comes first: an unknown grant from an unknown client is a 401.
    const unauthenticated = await tokenRequest(s().server, form({ grant_type: "password" }, { Authorization: basic("basic-client", "wrong") }));
    expectError(unauthenticated, 401, "invalid_client");
    const code = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, { Authorization: basic("code-client", "code-secret-value") }));
    expectError(code, 400, "unauthorized_client", "The OAuth 2.0 Client is not allowed to use authorization grant 'client_credentials'.");
    const pub = await tokenRequest(s().server, form({ grant_type: "client_credentials", client_id: "public-client" }));
    expectError(pub, 400, "invalid_grant", "The OAuth 2.0 Client is marked as public and is thus not allowed to use authorization grant 'client_credentials'.");
  });

  test("scope: the client's own (wildcard strategy), malformed, default empty", async () => {
    const wild = await tokenRequest(s().server, form({ grant_type: "client_credentials", scope: "api.read  write" }, ok()));
    expect(wild.status).toBe(200);
    expect(wild.body.scope).toBe("api.read write");
    const none = await tokenRequest(s().server, form({ grant_type: "client_credentials" }, ok()));
    expect(none.body.scope).toBe("");
    expectError(
      await tokenRequest(s().server, form({ grant_type: "client_credentials", scope: "read admin" }, ok())),
      400,
      "invalid_scope",
      "The OAuth 2.0 Client is not allowed to request scope 'admin'.",
    );
    expectError(await tokenRequest(s().server, form({ grant_type: "client_credentials", scope: 'read "quoted"' }, ok())), 400, "invalid_scope");
  });

  test("audience: the client's own, a URL below it, others refused", async () => {
    const exact = await tokenRequest(s().server, form({ grant_type: "client_credentials", audience: "https://api.example.com" }, ok()));
    expect(exact.status).toBe(200);
    const below = await tokenRequest(s().server, form({ grant_type: "client_credentials", audience: "https://other.example.com/v1/orders" }, ok()));
    expect(below.status).toBe(200);
    expectError(
      await tokenRequest(s().server, form({ grant_type: "client_credentials", audience: "https://evil.example.com" }, ok())),
      400,
      "invalid_request",
      "Requested audience 'https://evil.example.com' has not been whitelisted by the OAuth 2.0 Client.",
    );
    expectError(
      await tokenRequest(s().server, form({ grant_type: "client_credentials", audience: "https://api.example.com/\u0000" }, ok())),
      400,
      "invalid_request",
    );
  });

  test("private_key_jwt refusals: wrong key, alg, audience, expired, no jti, iss ≠ sub, unknown client", async () => {
    const send = async (jwt: string, extra: Record<string, string> = {}) =>
      tokenRequest(s().server, form({ grant_type: "client_credentials", client_assertion_type: jwtType, client_assertion: jwt, ...extra }));
    expectError(await send(await assertion(s(), {}, { key: otherKey })), 401, "invalid_client", "Unable to verify the integrity of the 'client_assertion' value.");
    const es = await generateKeyPair("ES256");
    expectError(
      await send(await assertion(s(), {}, { key: es.privateKey, alg: "ES256" })),
      401,
      "invalid_client",
      "The 'client_assertion' uses signing algorithm 'ES256', but the requested OAuth 2.0 Client enforces signing algorithm 'RS256'.",
    );
    expectError(await send(await assertion(s(), { aud: "https://elsewhere.example/token" })), 401, "invalid_client");
    const issuerAud = await send(await assertion(s(), { aud: s().issuer }));
    expect(issuerAud.status).toBe(200);
    expectError(await send(await assertion(s(), { exp: Math.floor(Date.now() / 1000) - 60 })), 401, "invalid_client", "The 'client_assertion' has expired.");
    expectError(await send(await assertion(s(), { jti: undefined })), 401, "invalid_client", "Claim 'jti' from 'client_assertion' must be set but is not.");
    expectError(await send(await assertion(s(), { exp: undefined })), 401, "invalid_client", "Claim 'exp' from 'client_assertion' must be set.");
    expectError(await send(await assertion(s(), { iss: "someone-else" })), 401, "invalid_client");
    expectError(await send(await assertion(s(), { iss: "ghost", sub: "ghost" })), 401, "invalid_client");
    expectError(await send("not.a.jwt"), 401, "invalid_client");
    expectError(await send(await assertion(s()), { client_id: "basic-client" }), 401, "invalid_client");
    expectError(await send(await assertion(s()), { client_assertion_type: "urn:other" }), 400, "invalid_request", "Unknown client_assertion_type 'urn:other'; expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.");
    expectError(
      await tokenRequest(s().server, form({ grant_type: "client_credentials", client_assertion_type: jwtType })),
      400,
      "invalid_request",
    );
  });

  test("bad input is never a 5xx: NUL in ids, huge ids, junk assertions, GET", async () => {
    for (const init of [
      form({ grant_type: "client_credentials" }, { Authorization: basic("a\u0000b", "x") }),
      form({ grant_type: "client_credentials", client_id: "a\u0000b" }),
      form({ grant_type: "client_credentials", client_id: "x".repeat(5000), client_secret: "y" }),
      form({ grant_type: "client_credentials", client_assertion_type: jwtType, client_assertion: "eyJ.eyJ.x" }),
      form({ grant_type: "client_credentials", client_assertion_type: jwtType, client_assertion: `${btoa('{"alg":"RS256"}')}.${btoa('{"sub":"a\\u0000"}')}.x` }),
      form("%%%=%%%&grant_type=client_credentials"),
    ]) {
      const res = await tokenRequest(s().server, init);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(typeof res.body.error).toBe("string");
    }
    expect((await s().server.publicFetch("/oauth2/token")).status).toBe(405);
  });

  test("a refused request leaves storage as it was", async () => {
    const rows = async () => Number((await s().server.deps.db.select({ n: count() }).from(accessTokens))[0]!.n);
    const before = await rows();
    for (const init of [
      form({ grant_type: "client_credentials", scope: "admin" }, ok()),
      form({ grant_type: "client_credentials", audience: "https://evil.example.com" }, ok()),
      form({ grant_type: "client_credentials" }, { Authorization: basic("basic-client", "wrong") }),
      form({ grant_type: "client_credentials" }, { Authorization: basic("code-client", "code-secret-value") }),
      form({ grant_type: "client_credentials", client_id: "public-client" }),
    ]) {
      expect((await tokenRequest(s().server, init)).status).toBeGreaterThanOrEqual(400);
    }
    expect(await rows()).toBe(before);
    await tokenRequest(s().server, form({ grant_type: "client_credentials" }, ok()));
    expect(await rows()).toBe(before + 1);
  });
});
