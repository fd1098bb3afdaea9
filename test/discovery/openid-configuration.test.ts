/** GET /.well-known/openid-configuration: exact document, URLs from config only, caching and CORS. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { backendNames, startBackends, type Backends } from "../keys/support.ts";

let backends: Backends;
let overridden: TestServer;
let overriddenDb: TestDatabase;

const withPath = {
  urls: { self: { issuer: "https://example.com/auth/", public: "https://public.example.com/p" } },
  webfinger: { oidc_discovery: { supported_claims: ["email", "sub"], supported_scope: ["email", "openid"] } },
  serve: { public: { cors: { enabled: true, allowed_origins: ["https://rp.example", "https://*.apps.example"], max_age: 600 } } },
};

beforeAll(async () => {
  [backends, overriddenDb] = await Promise.all([startBackends("discovery", withPath), createTestDatabase("discovery_overrides")]);
  await (await openMigrated(overriddenDb.dsn)).close();
  overridden = await startTestServer({
    dsn: overriddenDb.dsn,
    config: {
      urls: { self: { issuer: "https://auth.example.org" } },
      oidc: { subject_identifiers: { supported_types: ["public", "pairwise"], pairwise: { salt: "some-salt-of-some-length" } } },
      webfinger: {
        oidc_discovery: {
          auth_url: "https://login.example.org/authorize",
          token_url: "https://api.example.org/token",
          jwks_url: "https://cdn.example.org/jwks.json",
          userinfo_url: "https://api.example.org/me",
          client_registration_url: "https://auth.example.org/oauth2/register",
        },
      },
    },
  });
});
afterAll(async () => {
  await overridden?.stop();
  await overriddenDb?.drop();
  await backends?.stop();
});

/** What Gatehouse can do now: discovery, JWKS and the token endpoint; later issues fill the other lists. */
const nothingYet = {
  // The authorization endpoint (oauth2/authorize.ts): Hydra's response types plus "code token".
  response_types_supported: ["code", "code id_token", "id_token", "token id_token", "token", "token id_token code", "code token"],
  // Listed from oauth2/grants/index.ts (plus "implicit"), in Hydra's order.
  grant_types_supported: ["authorization_code", "implicit", "client_credentials", "refresh_token"],
  response_modes_supported: ["query", "fragment", "form_post"],
  token_endpoint_auth_methods_supported: ["client_secret_post", "client_secret_basic", "private_key_jwt", "none"],
  // oauth2/userinfo.ts: JSON, or RS256 with the (RS256) ID-token key.
  userinfo_signing_alg_values_supported: ["none", "RS256"],
  request_parameter_supported: true,
  request_uri_parameter_supported: true,
  require_request_uri_registration: false,
  claims_parameter_supported: false,
  // Logout (flows/logout.ts): RP-initiated, front- and back-channel, with sid.
  backchannel_logout_supported: true,
  backchannel_logout_session_supported: true,
  frontchannel_logout_supported: true,
  frontchannel_logout_session_supported: true,
  request_object_signing_alg_values_supported: ["none", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"],
  // S256 only: plain is refused (Hydra advertises it anyway).
  code_challenge_methods_supported: ["S256"],
};

describe.each(backendNames)("on %s", (name) => {
  const get = (init?: RequestInit) => backends.servers[name].publicFetch("/.well-known/openid-configuration", init);

  test("an issuer with a path: exact document, issuer-based and public-based URLs as Hydra builds them", async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("public, max-age=300");
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      issuer: "https://example.com/auth/",
      authorization_endpoint: "https://public.example.com/p/oauth2/auth",
      token_endpoint: "https://public.example.com/p/oauth2/token",
      jwks_uri: "https://example.com/auth/.well-known/jwks.json",
      subject_types_supported: ["public"],
      claims_supported: ["sub", "email"],
      userinfo_endpoint: "https://public.example.com/p/userinfo",
      scopes_supported: ["offline_access", "offline", "openid", "email"],
      id_token_signing_alg_values_supported: ["RS256"],
      revocation_endpoint: "https://example.com/auth/oauth2/revoke",
      end_session_endpoint: "https://example.com/auth/oauth2/sessions/logout",
      ...nothingYet,
    });
    // Hydra's field order, and no registration_endpoint unless configured.
    expect(Object.keys(JSON.parse(text)).slice(0, 6)).toEqual([
      "issuer",
      "authorization_endpoint",
      "token_endpoint",
      "jwks_uri",
      "subject_types_supported",
      "response_types_supported",
    ]);
  });

  test("the Host and X-Forwarded-* headers change nothing", async () => {
    const plain = await (await get()).text();
    const spoofed = await (await get({ headers: { Host: "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http" } })).text();
    expect(spoofed).toBe(plain);
    expect(spoofed).not.toContain("evil");
  });

  test("CORS per serve.public.cors: allowed origins (and globs) get the headers, others do not", async () => {
    for (const path of ["/.well-known/openid-configuration", "/.well-known/jwks.json"]) {
      const allowed = await backends.servers[name].publicFetch(path, { headers: { Origin: "https://rp.example" } });
      expect(allowed.status).toBe(200);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://rp.example");
      expect(allowed.headers.get("access-control-allow-credentials")).toBe("true");
      expect(allowed.headers.get("vary")).toBe("Origin");
      const glob = await backends.servers[name].publicFetch(path, { headers: { Origin: "https://app1.apps.example" } });
      expect(glob.headers.get("access-control-allow-origin")).toBe("https://app1.apps.example");
      const other = await backends.servers[name].publicFetch(path, { headers: { Origin: "https://evil.example" } });
      expect(other.status).toBe(200);
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
      const preflight = await backends.servers[name].publicFetch(path, {
        method: "OPTIONS",
        headers: { Origin: "https://rp.example", "Access-Control-Request-Method": "GET" },
      });
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get("access-control-allow-methods")).toBe("POST, GET, PUT, PATCH, DELETE");
      expect(preflight.headers.get("access-control-max-age")).toBe("600");
    }
  });
});

test("webfinger.oidc_discovery URLs override the built ones; the issuer gets its trailing slash", async () => {
  const res = await overridden.publicFetch("/.well-known/openid-configuration");
  const doc = (await res.json()) as Record<string, unknown>;
  expect(doc).toEqual({
    issuer: "https://auth.example.org/",
    authorization_endpoint: "https://login.example.org/authorize",
    registration_endpoint: "https://auth.example.org/oauth2/register",
    token_endpoint: "https://api.example.org/token",
    jwks_uri: "https://cdn.example.org/jwks.json",
    subject_types_supported: ["public", "pairwise"],
    claims_supported: ["sub"],
    userinfo_endpoint: "https://api.example.org/me",
    scopes_supported: ["offline_access", "offline", "openid"],
    id_token_signing_alg_values_supported: ["RS256"],
    revocation_endpoint: "https://auth.example.org/oauth2/revoke",
    end_session_endpoint: "https://auth.example.org/oauth2/sessions/logout",
    ...nothingYet,
  });
  expect(Object.keys(doc).slice(0, 3)).toEqual(["issuer", "authorization_endpoint", "registration_endpoint"]);
});

test("with CORS disabled (the default) no CORS headers are sent", async () => {
  const res = await overridden.publicFetch("/.well-known/openid-configuration", { headers: { Origin: "https://rp.example" } });
  expect(res.status).toBe(200);
  expect(res.headers.get("access-control-allow-origin")).toBeNull();
  const preflight = await overridden.publicFetch("/.well-known/jwks.json", {
    method: "OPTIONS",
    headers: { Origin: "https://rp.example", "Access-Control-Request-Method": "GET" },
  });
  expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
});

test("the document is only on the public listener", async () => {
  expect((await overridden.adminFetch("/.well-known/openid-configuration")).status).toBe(404);
});
