/**
 * The RFC 7523 jwt-bearer grant end to end over real HTTP, on PostgreSQL and PGlite: trust set
 * up through the admin API, assertions signed here with jose, tokens from /oauth2/token,
 * checked with the admin /oauth2/introspect.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT, type JWTPayload } from "jose";
import { insertTrustedIssuer } from "../../src/trust/store.ts";
import { backends, type Started } from "../clients/backends.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, testSecret, type TestServer } from "../helpers/server.ts";
import { issuerKey, jsonInit, trustBody, trustPath, type IssuerKey } from "./support.ts";

const grantType = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** The test server's urls.self.public is its issuer, http://127.0.0.1:4444/. */
const tokenUrl = "http://127.0.0.1:4444/oauth2/token";
const invalidGrantDescription =
  "The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.";
const invalidScopeDescription = "The requested scope is invalid, unknown, or malformed.";
const invalidRequestDescription =
  "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";

const issuer = "https://idp.example.com";
const anyIssuer = "https://any-subject.example.com";
const clientId = "jwt-client";
const clientSecret = "jwt-client-secret";

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface AssertionOptions {
  key: IssuerKey;
  /** Claims to set; a claim given as undefined is left out. */
  claims?: Record<string, unknown>;
  /** The kid header; null leaves it out. */
  kid?: string | null;
}

/** Signs an assertion: iss, sub, aud, iat, exp (+5 min) and a fresh jti unless overridden. */
async function assertion({ key, claims = {}, kid }: AssertionOptions): Promise<string> {
  const base: Record<string, unknown> = { iss: issuer, sub: "alice", aud: tokenUrl, iat: nowSeconds(), exp: nowSeconds() + 300, jti: crypto.randomUUID() };
  const payload = Object.fromEntries(Object.entries({ ...base, ...claims }).filter(([, v]) => v !== undefined)) as JWTPayload;
  const header = kid === null ? { alg: key.alg } : { alg: key.alg, kid: kid ?? key.kid };
  return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey);
}

function tokenRequest(server: TestServer, form: Record<string, string>, auth = basic(clientId, clientSecret)) {
  return server.publicFetch("/oauth2/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: auth },
    body: new URLSearchParams(form).toString(),
  });
}

async function setUp(server: TestServer, keys: { es: IssuerKey; rsa: IssuerKey; any: IssuerKey }) {
  const admin = server.adminFetch;
  const client = await admin(
    "/clients",
    jsonInit({ client_id: clientId, client_secret: clientSecret, grant_types: [grantType], scope: "read write profile", audience: ["https://api.example.com"] }),
  );
  expect(client.status).toBe(201);
  const other = await admin("/clients", jsonInit({ client_id: "cc-only", client_secret: clientSecret, grant_types: ["client_credentials"], scope: "read" }));
  expect(other.status).toBe(201);
  // alice may get read, write and admin (the client may not have admin); anyone may get read from anyIssuer.
  for (const body of [
    trustBody(keys.es, { issuer, subject: "alice", scope: ["read", "write", "admin"] }),
    trustBody(keys.rsa, { issuer, subject: "alice", scope: ["read"] }),
    trustBody(keys.any, { issuer: anyIssuer, subject: undefined, allow_any_subject: true, scope: ["read"] }),
  ]) {
    const res = await admin(trustPath, jsonInit(body));
    expect(res.status).toBe(201);
  }
}

for (const backend of backends) {
  describe(backend.name, () => {
    let started: Started;
    let server: TestServer;
    let es: IssuerKey;
    let rsa: IssuerKey;
    let any: IssuerKey;
    let stranger: IssuerKey;
    beforeAll(async () => {
      [es, rsa, any, stranger] = await Promise.all([issuerKey("es-1"), issuerKey("rsa-1", "RS256"), issuerKey("any-1"), issuerKey("es-1")]);
      started = await backend.start("jwt_bearer");
      server = started.server;
      await setUp(server, { es, rsa, any });
    });
    afterAll(async () => {
      await started?.stop();
    });

    async function expectError(form: Record<string, string>, status: number, error: string, description: string) {
      const res = await tokenRequest(server, form);
      expect({ status: res.status, body: await res.json() }).toEqual({ status, body: { error, error_description: description } });
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
    const refused = (form: Record<string, string>, hint: string) => expectError(form, 400, "invalid_grant", `${invalidGrantDescription} ${hint}`);
    const grant = async (a: string, extra: Record<string, string> = {}) => ({ grant_type: grantType, assertion: a, ...extra });

    test("a valid assertion gets an access token for its subject; introspection shows it", async () => {
      const res = await tokenRequest(server, await grant(await assertion({ key: es }), { scope: "read write", audience: "https://api.example.com/v1" }));
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toEqual({ access_token: body.access_token, token_type: "bearer", expires_in: 3600, scope: "read write" });
      expect(body.access_token).toStartWith("gth_at_");

      const intro = await server.adminFetch("/oauth2/introspect", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: body.access_token as string }).toString(),
      });
      const info = (await intro.json()) as Record<string, unknown>;
      expect(info).toMatchObject({
        active: true,
        scope: "read write",
        client_id: clientId,
        sub: "alice",
        aud: ["https://api.example.com/v1"],
        iss: "http://127.0.0.1:4444/",
        token_type: "Bearer",
        token_use: "access_token",
      });
      expect((info.exp as number) - (info.iat as number)).toBe(3600);
    });

    test("without a kid every key of the issuer and subject is tried; RSA works as well as EC", async () => {
      for (const key of [es, rsa]) {
        const res = await tokenRequest(server, await grant(await assertion({ key, kid: null }), { scope: "read" }));
        expect(res.status).toBe(200);
      }
      await refused(await grant(await assertion({ key: stranger, kid: null })), "No public JWK was registered for issuer 'https://idp.example.com' and subject 'alice', and public key is required to check signature of JWT in 'assertion' request parameter.");
    });

    test("allow_any_subject: any sub of that issuer, within its scope", async () => {
      const res = await tokenRequest(server, await grant(await assertion({ key: any, claims: { iss: anyIssuer, sub: "whoever" } }), { scope: "read" }));
      expect(res.status).toBe(200);
      await expectError(
        await grant(await assertion({ key: any, claims: { iss: anyIssuer, sub: "whoever" } }), { scope: "write" }),
        400,
        "invalid_scope",
        `${invalidScopeDescription} The public key registered for issuer 'https://any-subject.example.com' and subject 'whoever' is not allowed to request scope 'write'.`,
      );
    });

    test("the client's jwt_bearer_grant_access_token_lifespan sets expires_in", async () => {
      const set = await server.adminFetch(`/clients/${clientId}/lifespans`, jsonInit({ jwt_bearer_grant_access_token_lifespan: "10m" }, "PUT"));
      expect(set.status).toBe(200);
      try {
        const res = await tokenRequest(server, await grant(await assertion({ key: es })));
        expect(((await res.json()) as { expires_in: number }).expires_in).toBe(600);
      } finally {
        await server.adminFetch(`/clients/${clientId}/lifespans`, jsonInit({}, "PUT"));
      }
    });

    test("wrong issuer, wrong subject, unknown kid: no key", async () => {
      await refused(await grant(await assertion({ key: es, claims: { iss: "https://evil.example.com" } })), "No public JWK was registered for issuer 'https://evil.example.com' and subject 'alice' with kid 'es-1', and public key is required to check signature of JWT in 'assertion' request parameter.");
      await refused(await grant(await assertion({ key: es, claims: { sub: "bob" } })), "No public JWK was registered for issuer 'https://idp.example.com' and subject 'bob' with kid 'es-1', and public key is required to check signature of JWT in 'assertion' request parameter.");
      await refused(await grant(await assertion({ key: es, claims: { sub: "ali\u0000ce" } })), "No public JWK was registered for issuer 'https://idp.example.com' and subject 'ali\u0000ce' with kid 'es-1', and public key is required to check signature of JWT in 'assertion' request parameter.");
      await refused(await grant(await assertion({ key: es, kid: "es-2" })), "No public JWK was registered for issuer 'https://idp.example.com' and subject 'alice' with kid 'es-2', and public key is required to check signature of JWT in 'assertion' request parameter.");
    });

    test("a bad signature: signed by another key under a trusted kid, or tampered with", async () => {
      await refused(await grant(await assertion({ key: stranger })), "Unable to verify the integrity of the 'assertion' value.");
      const good = await assertion({ key: es });
      const [h, , s] = good.split(".");
      const forged = Buffer.from(JSON.stringify({ iss: issuer, sub: "alice", aud: tokenUrl, iat: nowSeconds(), exp: nowSeconds() + 60, jti: "forged" })).toString("base64url");
      await refused(await grant(`${h}.${forged}.${s}`), "Unable to verify the integrity of the 'assertion' value.");
    });

    test("aud must contain the token endpoint URL", async () => {
      const hint = `The JWT in 'assertion' request parameter MUST contain an 'aud' (audience) claim containing a value '${tokenUrl}' that identifies the authorization server as an intended audience.`;
      await refused(await grant(await assertion({ key: es, claims: { aud: "https://other.example.com/token" } })), hint);
      await refused(await grant(await assertion({ key: es, claims: { aud: ["http://127.0.0.1:4444/"] } })), hint);
      await refused(await grant(await assertion({ key: es, claims: { aud: undefined } })), "The JWT in 'assertion' request parameter MUST contain an 'aud' (audience) claim.");
      const ok = await tokenRequest(server, await grant(await assertion({ key: es, claims: { aud: ["https://x.example.com", tokenUrl] } })));
      expect(ok.status).toBe(200);
    });

    test("exp: required and in the future; nbf: not in the future", async () => {
      await refused(await grant(await assertion({ key: es, claims: { exp: nowSeconds() - 1, iat: nowSeconds() - 60 } })), "The JWT in 'assertion' request parameter expired.");
      await refused(await grant(await assertion({ key: es, claims: { exp: undefined } })), "The JWT in 'assertion' request parameter MUST contain an 'exp' (expiration time) claim.");
      const nbf = nowSeconds() + 120;
      await refused(
        await grant(await assertion({ key: es, claims: { nbf } })),
        `The JWT in 'assertion' request parameter contains an 'nbf' (not before) claim, that identifies the time '${new Date(nbf * 1000).toISOString()}' before which the token MUST NOT be accepted.`,
      );
    });

    test("iat and jti are required (oauth2.grant.jwt.*_optional false)", async () => {
      await refused(await grant(await assertion({ key: es, claims: { iat: undefined } })), "The JWT in 'assertion' request parameter MUST contain an 'iat' (issued at) claim.");
      await refused(await grant(await assertion({ key: es, claims: { jti: undefined } })), "The JWT in 'assertion' request parameter MUST contain a 'jti' (JWT ID) claim.");
    });

    test("exp − iat may not exceed oauth2.grant.jwt.max_ttl (720h); an iat in the future does not stretch it", async () => {
      const iat = nowSeconds();
      const exp = iat + 721 * 3600;
      const message = (issued: number) =>
        `The JWT in 'assertion' request parameter contains an 'exp' (expiration time) claim with value '${new Date(exp * 1000).toISOString()}' that is unreasonably far in the future, considering token issued at '${new Date(issued * 1000).toISOString()}' (at most oauth2.grant.jwt.max_ttl).`;
      await refused(await grant(await assertion({ key: es, claims: { iat, exp } })), message(iat));
      // iat one day ahead would make exp − iat 697h; counted from now it is 721h.
      const res = await tokenRequest(server, await grant(await assertion({ key: es, claims: { iat: iat + 24 * 3600, exp } })));
      const body = (await res.json()) as { error_description: string };
      expect(res.status).toBe(400);
      expect(body.error_description).toContain("unreasonably far in the future");
      const fine = await tokenRequest(server, await grant(await assertion({ key: es, claims: { iat, exp: iat + 719 * 3600 } })));
      expect(fine.status).toBe(200);
    });

    test("scopes: within the trust relationship's and within the client's", async () => {
      await expectError(
        await grant(await assertion({ key: rsa }), { scope: "write" }),
        400,
        "invalid_scope",
        `${invalidScopeDescription} The public key registered for issuer 'https://idp.example.com' and subject 'alice' is not allowed to request scope 'write'.`,
      );
      await expectError(await grant(await assertion({ key: es }), { scope: "admin" }), 400, "invalid_scope", `${invalidScopeDescription} The OAuth 2.0 Client is not allowed to request scope 'admin'.`);
      await expectError(await grant(await assertion({ key: es }), { audience: "https://elsewhere.example.com" }), 400, "invalid_request", `${invalidRequestDescription} Requested audience 'https://elsewhere.example.com' has not been whitelisted by the OAuth 2.0 Client.`);
    });

    test("a jti is accepted once: the replay is refused, a new jti is fine", async () => {
      const a = await assertion({ key: es, claims: { jti: "once-only" } });
      expect((await tokenRequest(server, await grant(a))).status).toBe(200);
      await refused(await grant(a), "The 'jti' (JWT ID) of the JWT in 'assertion' was already used; an assertion is accepted once (RFC 7523 §3 item 7).");
      // The same jti from another issuer is another value.
      const fromAny = await assertion({ key: any, claims: { iss: anyIssuer, jti: "once-only" } });
      expect((await tokenRequest(server, await grant(fromAny))).status).toBe(200);
      // A refused request does not burn its jti: after a failed scope check the assertion still works.
      const b = await assertion({ key: es, claims: { jti: "after-failure" } });
      expect((await tokenRequest(server, await grant(b, { scope: "admin" }))).status).toBe(400);
      expect((await tokenRequest(server, await grant(b))).status).toBe(200);
    });

    test("an expired trust relationship no longer works", async () => {
      const k = await issuerKey("old-1");
      await insertTrustedIssuer(
        server.deps.db,
        [testSecret],
        {
          id: crypto.randomUUID(),
          issuer: "https://expired.example.com",
          subject: "alice",
          allowAnySubject: false,
          scope: ["read"],
          keySet: "https://expired.example.com",
          keyId: "old-1",
          createdAt: new Date(Date.now() - 7200_000),
          expiresAt: new Date(Date.now() - 1000),
        },
        { ...k.publicJwk, kty: "EC", kid: "old-1", alg: "ES256", use: "sig" },
      );
      await refused(await grant(await assertion({ key: k, claims: { iss: "https://expired.example.com" } })), "No public JWK was registered for issuer 'https://expired.example.com' and subject 'alice' with kid 'old-1', and public key is required to check signature of JWT in 'assertion' request parameter.");
    });

    test("malformed requests", async () => {
      await expectError({ grant_type: grantType }, 400, "invalid_request", `${invalidRequestDescription} The assertion request parameter must be set when using grant_type of '${grantType}'.`);
      await refused({ grant_type: grantType, assertion: "not-a-jwt" }, "Unable to parse the JSON web token passed in the 'assertion' request parameter.");
      const unsecured = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ iss: issuer, sub: "alice" })).toString("base64url")}.`;
      await refused({ grant_type: grantType, assertion: unsecured }, "Unable to parse the JSON web token passed in the 'assertion' request parameter.");
      await refused(await grant(await assertion({ key: es, claims: { iss: undefined } })), "The JWT in 'assertion' request parameter MUST contain an 'iss' (issuer) claim.");
      await refused(await grant(await assertion({ key: es, claims: { sub: undefined } })), "The JWT in 'assertion' request parameter MUST contain a 'sub' (subject) claim.");
    });

    test("the client must be allowed the grant and must authenticate", async () => {
      const a = await assertion({ key: es });
      const other = await tokenRequest(server, await grant(a), basic("cc-only", clientSecret));
      expect(((await other.json()) as { error: string }).error).toBe("unauthorized_client");
      const wrong = await tokenRequest(server, await grant(a), basic(clientId, "wrong-secret"));
      expect(wrong.status).toBe(401);
      // Neither refusal spent the assertion.
      expect((await tokenRequest(server, await grant(a))).status).toBe(200);
    });
  });
}

describe("PostgreSQL, with oauth2.grant.jwt.iat_optional, jti_optional and max_ttl 1h", () => {
  let pg: TestDatabase;
  let server: TestServer;
  let es: IssuerKey;
  beforeAll(async () => {
    es = await issuerKey("es-1");
    pg = await createTestDatabase("jwt_bearer_opt");
    await (await openMigrated(pg.dsn)).close();
    server = await startTestServer({
      dsn: pg.dsn,
      config: { oauth2: { hashers: { bcrypt: { cost: 4 } }, grant: { jwt: { iat_optional: true, jti_optional: true, max_ttl: "1h" } } } },
    });
    await setUp(server, { es, rsa: await issuerKey("rsa-1", "RS256"), any: await issuerKey("any-1") });
  });
  afterAll(async () => {
    await server?.stop();
    await pg?.drop();
  });

  test("iat and jti may be left out; without iat, max_ttl counts from now", async () => {
    const a = await assertion({ key: es, claims: { iat: undefined, jti: undefined } });
    expect((await tokenRequest(server, { grant_type: grantType, assertion: a })).status).toBe(200);
    // Without a jti nothing marks it used: the same assertion works again (the operator chose this).
    expect((await tokenRequest(server, { grant_type: grantType, assertion: a })).status).toBe(200);
    const long = await assertion({ key: es, claims: { iat: undefined, jti: undefined, exp: nowSeconds() + 2 * 3600 } });
    const res = await tokenRequest(server, { grant_type: grantType, assertion: long });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error_description: string }).error_description).toContain("unreasonably far in the future");
  });
});
