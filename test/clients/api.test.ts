import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { authenticateClientSecret } from "../../src/clients/secrets.ts";
import { getClient } from "../../src/clients/store.ts";
import type { TestServer } from "../helpers/server.ts";
import { backends, json, metadataDescription, nullLifespans, stable, type Started } from "./backends.ts";

const rfc3339Seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Hydra v1.11.10 client/.snapshots/...create_clients-case=1-description=basic_admin_registration.json (minus DCR fields). */
const hydraCreateSnapshot = {
  client_id: "create-client-2",
  client_name: "",
  client_secret: "averylongsecret",
  redirect_uris: ["http://localhost:3000/cb"],
  grant_types: null,
  response_types: null,
  scope: "offline_access offline openid",
  audience: [],
  owner: "",
  policy_uri: "",
  allowed_cors_origins: [],
  tos_uri: "",
  client_uri: "",
  logo_uri: "",
  contacts: null,
  client_secret_expires_at: 0,
  subject_type: "public",
  jwks: {},
  token_endpoint_auth_method: "client_secret_basic",
  userinfo_signed_response_alg: "none",
  metadata: { foo: "bar" },
  ...nullLifespans,
};

/** Hydra v1.11.10 client/.snapshots/...fetching_existing_client-endpoint=admin.json. */
const hydraFetchSnapshot = {
  client_id: "existing-client-fetch",
  client_name: "",
  redirect_uris: ["http://localhost:3000/cb"],
  grant_types: [],
  response_types: [],
  scope: "offline_access offline openid",
  audience: [],
  owner: "",
  policy_uri: "",
  allowed_cors_origins: [],
  tos_uri: "",
  client_uri: "",
  logo_uri: "",
  contacts: [],
  client_secret_expires_at: 0,
  subject_type: "public",
  jwks: {},
  token_endpoint_auth_method: "client_secret_basic",
  userinfo_signed_response_alg: "none",
  metadata: {},
  ...nullLifespans,
};

/** Every field set, in client/client.go order, as GET must return it. */
const fullClient = {
  client_id: "full-client",
  client_name: "Full",
  redirect_uris: ["https://app.example.com/cb", "https://app.example.com/cb2"],
  grant_types: ["authorization_code", "refresh_token", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
  response_types: ["code", "id_token code", "token id_token code", "token"],
  scope: "openid offline_access read:things",
  audience: ["https://api.example.com"],
  owner: "team-a",
  policy_uri: "https://app.example.com/policy",
  allowed_cors_origins: ["https://app.example.com", "http://localhost:8080"],
  tos_uri: "https://app.example.com/tos",
  client_uri: "https://app.example.com",
  logo_uri: "https://app.example.com/logo.png",
  contacts: ["ops@example.com"],
  client_secret_expires_at: 0,
  subject_type: "public",
  jwks_uri: "https://app.example.com/jwks.json",
  jwks: {},
  token_endpoint_auth_method: "private_key_jwt",
  token_endpoint_auth_signing_alg: "ES256",
  request_uris: ["https://app.example.com/request.jwt"],
  request_object_signing_alg: "RS256",
  userinfo_signed_response_alg: "RS256",
  frontchannel_logout_uri: "https://app.example.com/logout/front",
  frontchannel_logout_session_required: true,
  post_logout_redirect_uris: ["https://app.example.com/bye"],
  backchannel_logout_uri: "https://app.example.com/logout/back",
  backchannel_logout_session_required: true,
  metadata: { tier: "gold", nested: { list: [1, "two", null], flag: false } },
  ...nullLifespans,
  authorization_code_grant_access_token_lifespan: "1h0m0s",
  refresh_token_grant_refresh_token_lifespan: "720h0m0s",
};

const errorBody = (hint: string) => ({ error: "invalid_client_metadata", error_description: `${metadataDescription} ${hint}` });

for (const backend of backends) {
  describe(`clients admin API on ${backend.name}`, () => {
    let started: Started;
    let server: TestServer;
    let f: TestServer["adminFetch"];
    beforeAll(async () => {
      started = await backend.start("clients_api");
      server = started.server;
      f = server.adminFetch;
    });
    afterAll(async () => {
      await started?.stop();
    });

    const create = async (body: Record<string, unknown>) => {
      const res = await f("/clients", json(body));
      const out = (await res.json()) as Record<string, unknown>;
      if (res.status !== 201) throw new Error(`create answered ${res.status}: ${JSON.stringify(out)}`);
      return out;
    };

    test("POST /clients answers 201 with Location and Hydra's JSON (snapshot basic_admin_registration)", async () => {
      const res = await f(
        "/clients",
        json({ client_id: "create-client-2", client_secret: "averylongsecret", redirect_uris: ["http://localhost:3000/cb"], metadata: { foo: "bar" } }),
      );
      expect(res.status).toBe(201);
      expect(res.headers.get("location")).toBe("/clients/create-client-2");
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      const body = (await res.json()) as Record<string, unknown>;
      expect(stable(body)).toEqual(hydraCreateSnapshot);
      // Same order as Hydra's struct, created_at/updated_at after userinfo_signed_response_alg.
      const order = Object.keys(hydraCreateSnapshot);
      order.splice(order.indexOf("metadata"), 0, "created_at", "updated_at");
      expect(Object.keys(body)).toEqual(order);
      expect(body.created_at).toMatch(rfc3339Seconds);
      expect(body.updated_at).toBe(body.created_at as string);
      expect(Math.abs(Date.parse(body.created_at as string) - Date.now())).toBeLessThan(5000);
    });

    test("GET /clients/{id} reads back as Hydra's fetch snapshot: lists [], no secret", async () => {
      await create({ client_id: "existing-client-fetch", redirect_uris: ["http://localhost:3000/cb"] });
      const res = await f("/clients/existing-client-fetch");
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(stable((await res.json()) as Record<string, unknown>)).toEqual(hydraFetchSnapshot);
    });

    test("every field of the model round-trips in Hydra's order", async () => {
      const created = await create({ ...fullClient, authorization_code_grant_access_token_lifespan: "60m", refresh_token_grant_refresh_token_lifespan: "720h" });
      expect(created.client_secret).toBeUndefined(); // private_key_jwt: no secret generated
      const got = (await (await f("/clients/full-client")).json()) as Record<string, unknown>;
      expect(stable(got)).toEqual(fullClient);
      const order = Object.keys(fullClient);
      order.splice(order.indexOf("frontchannel_logout_uri"), 0, "created_at", "updated_at");
      expect(Object.keys(got)).toEqual(order);
    });

    test("an empty body gets Hydra's defaults, a UUID v4 id and a generated secret", async () => {
      const body = await create({});
      expect(body.client_id).toMatch(uuidV4);
      expect(body.client_secret).toMatch(/^[A-Za-z0-9._~-]{32}$/);
      expect(body).toMatchObject({
        grant_types: null,
        response_types: null,
        redirect_uris: null,
        scope: "offline_access offline openid",
        token_endpoint_auth_method: "client_secret_basic",
        subject_type: "public",
        userinfo_signed_response_alg: "none",
        client_secret_expires_at: 0,
        metadata: {},
        jwks: {},
      });
      const stored = await getClient(server.deps.db, body.client_id as string);
      expect(stored?.secretHash).toStartWith("$2b$04$");
      expect(await authenticateClientSecret(server.deps, body.client_id as string, body.client_secret as string)).toBeDefined();
    });

    test("output-only fields in the body are ignored; client_secret_expires_at is always 0", async () => {
      const body = await create({
        client_id: "output-only",
        created_at: "2000-01-01T00:00:00Z",
        client_secret_expires_at: 99,
        registration_access_token: "x",
        unknown_field: 1,
      });
      expect(body.client_secret_expires_at).toBe(0);
      expect(body.created_at).not.toBe("2000-01-01T00:00:00Z");
      expect(body).not.toContainKey("registration_access_token");
      expect(body).not.toContainKey("unknown_field");
    });

    test("JSON null reads as the field's default, as Go's decoder does", async () => {
      const body = await create({ client_id: "nulls", client_name: null, scope: null, audience: null, metadata: null, jwks: null, grant_types: null });
      expect(body).toMatchObject({ client_name: "", scope: "offline_access offline openid", audience: [], metadata: {}, jwks: {}, grant_types: null });
    });

    test("a chosen secret is echoed once on create and never on GET or list", async () => {
      const body = await create({ client_id: "chosen-secret", client_secret: "my-secret-value" });
      expect(body.client_secret).toBe("my-secret-value");
      const got = (await (await f("/clients/chosen-secret")).json()) as Record<string, unknown>;
      expect(got).not.toContainKey("client_secret");
      const listed = (await (await f("/clients?limit=500")).json()) as Record<string, unknown>[];
      expect(listed.some((c) => "client_secret" in c)).toBe(false);
    });

    test("token_endpoint_auth_method none: no secret generated, returned or stored", async () => {
      const body = await create({ client_id: "public-client", token_endpoint_auth_method: "none", redirect_uris: ["https://spa.example/cb"] });
      expect(body).not.toContainKey("client_secret");
      expect(body.token_endpoint_auth_method).toBe("none");
      expect((await getClient(server.deps.db, "public-client"))?.secretHash).toBeNull();
    });

    test("duplicate client_id: 409 Conflict", async () => {
      await create({ client_id: "dup" });
      const res = await f("/clients", json({ client_id: "dup" }));
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({
        error: "Conflict",
        error_description: "Unable to insert or update resource because a resource with that value exists already",
      });
    });

    test("unknown client: 404 on GET, PUT, PATCH, DELETE and lifespans", async () => {
      const notFound = { error: "Not Found", error_description: "Unable to locate the requested resource" };
      const calls: [string, RequestInit][] = [
        ["/clients/nope", { method: "GET" }],
        ["/clients/nope", json({}, "PUT")],
        ["/clients/nope", json([], "PATCH")],
        ["/clients/nope", { method: "DELETE" }],
        ["/clients/nope/lifespans", json({}, "PUT")],
      ];
      for (const [path, init] of calls) {
        const res = await f(path, init);
        expect(`${init.method} ${res.status}`).toBe(`${init.method} 404`);
        expect(await res.json()).toEqual(notFound);
      }
    });

    test("malformed bodies: 400 with a JSON error, never a 5xx", async () => {
      const cases: [string, RequestInit, string][] = [
        ["/clients", json("{"), "The request body is not valid JSON"],
        ["/clients", json(""), "The request body is empty; a JSON document was expected"],
        ["/clients", json([]), "The request was malformed or contained invalid parameters The request body must be a JSON object holding an OAuth2Client."],
        ["/clients", json("42"), "The request was malformed or contained invalid parameters The request body must be a JSON object holding an OAuth2Client."],
      ];
      for (const [path, init, description] of cases) {
        const res = await f(path, init);
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({ error: "Bad Request", error_description: description });
      }
      await create({ client_id: "bad-bodies" });
      for (const init of [json("{", "PUT"), json("nope", "PATCH"), json("[", "PUT")]) {
        const path = init.body === "[" ? "/clients/bad-bodies/lifespans" : "/clients/bad-bodies";
        const res = await f(path, init);
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe("Bad Request");
      }
    });

    describe("validation names the field", () => {
      const cases: [string, Record<string, unknown>, string, string?][] = [
        ["short secret (Hydra's exact text)", { client_secret: "short" }, "Field client_secret must contain a secret that is at least 6 characters long."],
        ["relative redirect URI", { redirect_uris: ["/cb"] }, "Unable to parse redirect URL: /cb (redirect URIs must be absolute).", "invalid_redirect_uri"],
        ["redirect URI with a fragment", { redirect_uris: ["https://a.example/cb#x"] }, "Redirect URIs must not contain fragments (#).", "invalid_redirect_uri"],
        ["redirect URI with whitespace", { redirect_uris: ["https://a.example/c b"] }, "Unable to parse redirect URL: https://a.example/c b (redirect URIs must be absolute).", "invalid_redirect_uri"],
        ["jwks and jwks_uri together", { jwks_uri: "https://a.example/jwks", jwks: { keys: [{ kty: "EC", crv: "P-256", x: "x", y: "y" }] } }, "Fields jwks and jwks_uri can not both be set, you must choose one."],
        ["private_key_jwt without keys", { token_endpoint_auth_method: "private_key_jwt" }, "When token_endpoint_auth_method is 'private_key_jwt', either jwks or jwks_uri must be set."],
        [
          "private_key_jwt with HS256",
          { token_endpoint_auth_method: "private_key_jwt", jwks_uri: "https://a.example/jwks", token_endpoint_auth_signing_alg: "HS256" },
          "Field token_endpoint_auth_signing_alg: only RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 are supported as algorithms for private key authentication.",
        ],
        ["none with a secret", { token_endpoint_auth_method: "none", client_secret: "abcdefgh" }, "Field client_secret must not be set when token_endpoint_auth_method is 'none' (a public client has no secret)."],
        ["unknown auth method", { token_endpoint_auth_method: "client_secret_jwt" }, "Field token_endpoint_auth_method must be one of client_secret_basic, client_secret_post, private_key_jwt, none, got 'client_secret_jwt'."],
        ["unsupported subject type", { subject_type: "pairwise" }, "Subject type pairwise is not supported by server, only [public] are allowed."],
        [
          "unknown grant type",
          { grant_types: ["authorization_code", "password"] },
          "Field grant_types contains the unsupported grant type 'password'; supported are authorization_code, implicit, refresh_token, client_credentials, urn:ietf:params:oauth:grant-type:jwt-bearer.",
        ],
        [
          "unknown response type",
          { response_types: ["code none"] },
          "Field response_types contains the unsupported response type 'code none'; supported are code, code id_token, id_token, id_token token, token, code id_token token, code token.",
        ],
        ["scope with a double space", { scope: "openid  offline" }, "Field scope must be scope tokens separated by single spaces (RFC 6749 Section 3.3), got 'openid  offline'."],
        ["scope with a quote", { scope: 'openid "x"' }, "Field scope must be scope tokens separated by single spaces (RFC 6749 Section 3.3), got 'openid 'x''."],
        ["scope with a backslash", { scope: "a\\b" }, "Field scope must be scope tokens separated by single spaces (RFC 6749 Section 3.3), got 'a\\b'."],
        ["CORS origin with a path", { allowed_cors_origins: ["https://a.example/path"] }, "Origin URL 'https://a.example/path' from allowed_cors_origins must have an empty path, query, and fragment but one of the parts is not empty."],
        ["CORS origin with a query", { allowed_cors_origins: ["https://a.example?x=1"] }, "Origin URL 'https://a.example?x=1' from allowed_cors_origins must have an empty path, query, and fragment but one of the parts is not empty."],
        ["CORS origin with user info", { allowed_cors_origins: ["https://u:p@a.example"] }, "Origin URL 'https://u:p@a.example' from allowed_cors_origins has HTTP user and/or password set which is not allowed."],
        ["CORS origin not http(s)", { allowed_cors_origins: ["ftp://a.example"] }, "Origin URL 'ftp://a.example' from allowed_cors_origins must use https:// or http:// as HTTP scheme."],
        [
          "post-logout URI on another host",
          { redirect_uris: ["https://a.example/cb"], post_logout_redirect_uris: ["https://b.example/bye"] },
          "post_logout_redirect_uri 'https://b.example/bye' must match the domain, port, scheme of at least one of the registered redirect URIs but did not.",
        ],
        [
          "post-logout URI on another port",
          { redirect_uris: ["https://a.example/cb"], post_logout_redirect_uris: ["https://a.example:8443/bye"] },
          "post_logout_redirect_uri 'https://a.example:8443/bye' must match the domain, port, scheme of at least one of the registered redirect URIs but did not.",
        ],
        ["userinfo alg", { userinfo_signed_response_alg: "HS256" }, "Field userinfo_signed_response_alg can either be 'none' or 'RS256'."],
        ["metadata not an object", { metadata: [1, 2] }, "Field metadata must be a JSON object."],
        ["grant_types not a list", { grant_types: "client_credentials" }, "Field grant_types must be of type Array, got 'client_credentials'."],
        ["redirect_uris item not a string", { redirect_uris: ["https://a.example/cb", 5] }, "Field redirect_uris[1] must be of type string, got 5."],
        ["client_name not a string", { client_name: 7 }, "Field client_name must be of type string, got 7."],
        ["negative lifespan", { implicit_grant_access_token_lifespan: "-1h" }, "Field implicit_grant_access_token_lifespan must be a positive duration such as '1h', '30m' or '1h30m0s', or null, got '-1h'."],
        ["lifespan in words", { implicit_grant_id_token_lifespan: "1 hour" }, "Field implicit_grant_id_token_lifespan must be a positive duration such as '1h', '30m' or '1h30m0s', or null, got '1 hour'."],
        ["sector_identifier_uri over http", { sector_identifier_uri: "http://a.example/s.json" }, "Field sector_identifier_uri must be an HTTPS URL, got 'http://a.example/s.json'."],
        ["jwks_uri not a URL", { jwks_uri: "keys.json" }, "Field jwks_uri must be an http(s) URL, got 'keys.json'."],
        ["policy_uri not absolute", { policy_uri: "/policy" }, "Field policy_uri must be an absolute URI, got '/policy'."],
        ["client_id with a slash", { client_id: "a/b" }, "Field client_id must not contain control characters or '/', got 'a/b'."],
        ["audience with whitespace", { audience: ["a b"] }, "Field audience must not contain empty values or values with whitespace."],
        ["jwks key without kty", { jwks: { keys: [{ crv: "P-256" }] } }, "Field jwks.keys[0].kty is required."],
      ];
      for (const [name, body, hint, code] of cases) {
        test(name, async () => {
          const res = await f("/clients", json(body));
          expect(res.status).toBe(400);
          const out = await res.json();
          if (code === "invalid_redirect_uri") {
            expect(out).toEqual({ error: "invalid_redirect_uri", error_description: `The value of one or more redirect_uris is invalid. ${hint}` });
          } else {
            expect(out).toEqual(errorBody(hint));
          }
        });
      }

      test("valid edge cases pass: response types in any order, CORS origin with a trailing slash, native-app redirect", async () => {
        const body = await create({
          client_id: "edge-cases",
          response_types: ["id_token code", "token id_token"],
          allowed_cors_origins: ["https://a.example/", "http://localhost:3000"],
          redirect_uris: ["com.example.app:/oauth2redirect", "http://127.0.0.1:7777/cb"],
          post_logout_redirect_uris: ["http://127.0.0.1:7777/bye"],
          scope: "openid offline_access a:b/c",
          jwks: { keys: [] },
        });
        expect(body.allowed_cors_origins).toEqual(["https://a.example", "http://localhost:3000"]);
        expect(body.jwks).toEqual({});
      });
    });

    test("PUT replaces every field, keeps the secret and created_at, moves updated_at, ignores the body's client_id", async () => {
      const created = await create({ client_id: "put-1", client_secret: "first-secret", client_name: "one", owner: "o1", audience: ["x"], metadata: { a: 1 } });
      const later = new Date(Date.parse(created.created_at as string) + 90_000);
      const clock = server.deps.clock;
      server.deps.clock = { now: () => later };
      try {
        const res = await f("/clients/put-1", json({ client_id: "other", client_name: "two", redirect_uris: ["https://a.example/cb"] }, "PUT"));
        expect(res.status).toBe(200);
        const body = (await res.json()) as Record<string, unknown>;
        expect(body).not.toContainKey("client_secret");
        expect(body).toMatchObject({ client_id: "put-1", client_name: "two", owner: "", audience: [], metadata: {}, grant_types: null, created_at: created.created_at });
        expect(body.updated_at).toBe(later.toISOString().replace(/\.\d{3}Z$/, "Z"));
        const got = (await (await f("/clients/put-1")).json()) as Record<string, unknown>;
        expect(stable(got)).toEqual(stable({ ...body, grant_types: [], response_types: [], contacts: [] }));
        expect(got.updated_at).toBe(body.updated_at as string);
        expect((await (await f("/clients/other")).json()) as object).toEqual({ error: "Not Found", error_description: "Unable to locate the requested resource" });
      } finally {
        server.deps.clock = clock;
      }
      expect(await authenticateClientSecret(server.deps, "put-1", "first-secret")).toBeDefined();
    });

    test("PUT with a new secret echoes it once and replaces the old one", async () => {
      await create({ client_id: "put-2", client_secret: "first-secret" });
      const body = (await (await f("/clients/put-2", json({ client_secret: "second-secret" }, "PUT"))).json()) as Record<string, unknown>;
      expect(body.client_secret).toBe("second-secret");
      expect(await authenticateClientSecret(server.deps, "put-2", "first-secret")).toBeUndefined();
      expect(await authenticateClientSecret(server.deps, "put-2", "second-secret")).toBeDefined();
      expect((await (await f("/clients/put-2")).json()) as object).not.toContainKey("client_secret");
    });

    test("PUT to none drops the secret; PUT back to client_secret_basic generates one", async () => {
      await create({ client_id: "put-3", client_secret: "first-secret" });
      const toPublic = (await (await f("/clients/put-3", json({ token_endpoint_auth_method: "none" }, "PUT"))).json()) as Record<string, unknown>;
      expect(toPublic).not.toContainKey("client_secret");
      expect((await getClient(server.deps.db, "put-3"))?.secretHash).toBeNull();
      expect(await authenticateClientSecret(server.deps, "put-3", "first-secret")).toBeUndefined();
      const back = (await (await f("/clients/put-3", json({}, "PUT"))).json()) as Record<string, unknown>;
      expect(back.client_secret).toMatch(/^[A-Za-z0-9._~-]{32}$/);
      expect(await authenticateClientSecret(server.deps, "put-3", back.client_secret as string)).toBeDefined();
    });

    test("PUT validates like POST", async () => {
      await create({ client_id: "put-4" });
      const res = await f("/clients/put-4", json({ redirect_uris: ["nope"] }, "PUT"));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("invalid_redirect_uri");
    });

    describe("PATCH (RFC 6902)", () => {
      const patch = (id: string, ops: unknown) => f(`/clients/${id}`, json(ops, "PATCH"));

      test("add, remove, replace, move, copy and test, with JSON Pointer escaping", async () => {
        await create({
          client_id: "patch-1",
          client_secret: "patch-secret",
          client_name: "before",
          redirect_uris: ["https://a.example/cb"],
          contacts: ["x@example.com"],
          metadata: { "a/b": 1, "m~n": 2, keep: true },
        });
        const res = await patch("patch-1", [
          { op: "test", path: "/client_name", value: "before" },
          { op: "replace", path: "/client_name", value: "after" },
          { op: "add", path: "/grant_types/-", value: "client_credentials" },
          { op: "add", path: "/grant_types/0", value: "authorization_code" },
          { op: "add", path: "/redirect_uris/1", value: "https://a.example/cb2" },
          { op: "remove", path: "/contacts/0" },
          { op: "move", from: "/metadata/a~1b", path: "/metadata/moved" },
          { op: "copy", from: "/metadata/m~0n", path: "/metadata/copied" },
          { op: "remove", path: "/metadata/m~0n" },
          { op: "add", path: "/metadata/__proto__", value: { polluted: true } },
          { op: "test", path: "/metadata/keep", value: true },
        ]);
        expect(res.status).toBe(200);
        const body = (await res.json()) as Record<string, unknown>;
        expect(body).not.toContainKey("client_secret");
        expect(body).toMatchObject({
          client_id: "patch-1",
          client_name: "after",
          grant_types: ["authorization_code", "client_credentials"],
          redirect_uris: ["https://a.example/cb", "https://a.example/cb2"],
          contacts: [],
        });
        expect(JSON.stringify(body.metadata)).toBe('{"keep":true,"moved":1,"copied":2,"__proto__":{"polluted":true}}');
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(stable((await (await f("/clients/patch-1")).json()) as Record<string, unknown>)).toEqual(stable(body));
        // The secret was not part of the patch, so it is kept.
        expect(await authenticateClientSecret(server.deps, "patch-1", "patch-secret")).toBeDefined();
      });

      test("a failing test op fails the whole patch and changes nothing", async () => {
        await create({ client_id: "patch-2", client_name: "same" });
        const before = await (await f("/clients/patch-2")).json();
        const res = await patch("patch-2", [
          { op: "replace", path: "/client_name", value: "changed" },
          { op: "test", path: "/owner", value: "someone" },
        ]);
        expect(res.status).toBe(400);
        expect(await res.json()).toEqual({
          error: "Bad Request",
          error_description: "The request was malformed or contained invalid parameters Invalid JSON Patch: operation 1 (test /owner): the value differs.",
        });
        expect(await (await f("/clients/patch-2")).json()).toEqual(before);
      });

      test("client_id is immutable", async () => {
        await create({ client_id: "patch-3" });
        const immutable = {
          error: "Bad Request",
          error_description: "The request was malformed or contained invalid parameters Field client_id is immutable and cannot be patched.",
        };
        for (const ops of [
          [{ op: "replace", path: "/client_id", value: "other" }],
          [{ op: "remove", path: "/client_id" }],
          [{ op: "move", from: "/client_id", path: "/client_name" }],
          [{ op: "copy", from: "/client_name", path: "/client_id" }],
          [{ op: "replace", path: "", value: { client_id: "other" } }],
        ]) {
          const res = await patch("patch-3", ops);
          expect(res.status).toBe(400);
          expect(await res.json()).toEqual(immutable);
        }
        // Reading it is fine.
        const ok = await patch("patch-3", [{ op: "test", path: "/client_id", value: "patch-3" }, { op: "copy", from: "/client_id", path: "/owner" }]);
        expect(ok.status).toBe(200);
        expect(((await ok.json()) as { owner: string }).owner).toBe("patch-3");
      });

      test("invalid patch documents are 400", async () => {
        await create({ client_id: "patch-4" });
        const cases: [unknown, string][] = [
          [{ op: "add" }, "a JSON Patch document must be a JSON array of operations"],
          [[{ op: "frobnicate", path: "/x" }], "operation 0: 'op' must be one of add, remove, replace, move, copy, test"],
          [[{ op: "add", path: "/client_name" }], "operation 0: 'add' needs a 'value'"],
          [[{ op: "move", path: "/client_name" }], "operation 0: 'move' needs a 'from' string"],
          [[{ op: "replace", path: "client_name", value: "x" }], "operation 0: JSON Pointer 'client_name' must be empty or start with '/'"],
          [[{ op: "replace", path: "/metadata/~2", value: "x" }], "operation 0: JSON Pointer '/metadata/~2' has an invalid escape"],
          [[{ op: "replace", path: "/nope", value: "x" }], "operation 0 (replace /nope): '/nope' does not exist"],
          [[{ op: "remove", path: "/redirect_uris/5" }], "operation 0 (remove /redirect_uris/5): '/redirect_uris/5': index 5 is out of bounds"],
          [[{ op: "add", path: "/grant_types/7", value: "x" }], "operation 0 (add /grant_types/7): '/grant_types/7': index 7 is out of bounds"],
          [[{ op: "move", from: "/metadata", path: "/metadata/inner" }], "operation 0 (move /metadata/inner): cannot move '/metadata' into one of its own children"],
        ];
        for (const [ops, hint] of cases) {
          const res = await patch("patch-4", ops);
          expect(res.status).toBe(400);
          expect(await res.json()).toEqual({
            error: "Bad Request",
            error_description: `The request was malformed or contained invalid parameters Invalid JSON Patch: ${hint}.`,
          });
        }
      });

      test("the patched client is validated like a PUT body", async () => {
        await create({ client_id: "patch-5" });
        const res = await patch("patch-5", [{ op: "add", path: "/redirect_uris/-", value: "https://a.example/cb#frag" }]);
        expect(res.status).toBe(400);
        expect(((await res.json()) as { error: string }).error).toBe("invalid_redirect_uri");
        const res2 = await patch("patch-5", [{ op: "replace", path: "/grant_types", value: ["password"] }]);
        expect(res2.status).toBe(400);
        expect(((await res2.json()) as { error: string }).error).toBe("invalid_client_metadata");
      });

      test("adding client_secret sets a new secret and echoes it", async () => {
        await create({ client_id: "patch-6", client_secret: "old-secret" });
        const res = await patch("patch-6", [{ op: "add", path: "/client_secret", value: "new-secret" }]);
        expect(res.status).toBe(200);
        expect(((await res.json()) as { client_secret: string }).client_secret).toBe("new-secret");
        expect(await authenticateClientSecret(server.deps, "patch-6", "old-secret")).toBeUndefined();
        expect(await authenticateClientSecret(server.deps, "patch-6", "new-secret")).toBeDefined();
      });
    });

    test("DELETE answers 204 with no body; the client is gone", async () => {
      await create({ client_id: "del-1" });
      const res = await f("/clients/del-1", { method: "DELETE" });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      expect((await f("/clients/del-1")).status).toBe(404);
    });

    test("PUT /clients/{id}/lifespans sets all twelve lifespans in Go's format; left-out ones become null", async () => {
      await create({ client_id: "life-1", client_secret: "life-secret", implicit_grant_id_token_lifespan: "2h" });
      const lifespans = {
        authorization_code_grant_access_token_lifespan: "31h",
        authorization_code_grant_id_token_lifespan: "32h",
        authorization_code_grant_refresh_token_lifespan: "33h",
        client_credentials_grant_access_token_lifespan: "34h",
        implicit_grant_access_token_lifespan: "35h",
        jwt_bearer_grant_access_token_lifespan: "1h30m",
        password_grant_access_token_lifespan: "90s",
        password_grant_refresh_token_lifespan: "1.5s",
        refresh_token_grant_id_token_lifespan: "500ms",
        refresh_token_grant_access_token_lifespan: "41h",
        refresh_token_grant_refresh_token_lifespan: "42h",
      };
      const res = await f("/clients/life-1/lifespans", json(lifespans, "PUT"));
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).not.toContainKey("client_secret");
      expect(body).toMatchObject({
        authorization_code_grant_access_token_lifespan: "31h0m0s",
        authorization_code_grant_id_token_lifespan: "32h0m0s",
        authorization_code_grant_refresh_token_lifespan: "33h0m0s",
        client_credentials_grant_access_token_lifespan: "34h0m0s",
        implicit_grant_access_token_lifespan: "35h0m0s",
        implicit_grant_id_token_lifespan: null,
        jwt_bearer_grant_access_token_lifespan: "1h30m0s",
        password_grant_access_token_lifespan: "1m30s",
        password_grant_refresh_token_lifespan: "1.5s",
        refresh_token_grant_id_token_lifespan: "500ms",
        refresh_token_grant_access_token_lifespan: "41h0m0s",
        refresh_token_grant_refresh_token_lifespan: "42h0m0s",
        grant_types: [],
      });
      expect(stable((await (await f("/clients/life-1")).json()) as Record<string, unknown>)).toEqual(stable(body));
      expect(await authenticateClientSecret(server.deps, "life-1", "life-secret")).toBeDefined();
      const bad = await f("/clients/life-1/lifespans", json({ implicit_grant_access_token_lifespan: "soon" }, "PUT"));
      expect(bad.status).toBe(400);
      expect(await bad.json()).toEqual(
        errorBody("Field implicit_grant_access_token_lifespan must be a positive duration such as '1h', '30m' or '1h30m0s', or null, got 'soon'."),
      );
    });

    describe("GET /clients", () => {
      beforeAll(async () => {
        // Ids chosen so byte order differs from case-insensitive order.
        for (const [id, name, owner] of [
          ["list-B", "alpha", "own-1"],
          ["list-a", "beta", "own-1"],
          ["list-C", "alpha", "own-2"],
          ["list-d", "gamma", "own-2"],
          ["list-e", "alpha", "own-1"],
        ] as const) {
          await create({ client_id: id, client_name: name, owner, token_endpoint_auth_method: "none" });
        }
      });

      const listed = async (query: string) => {
        const res = await f(`/clients${query}`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { client_id: string }[];
        return { res, ids: body.map((c) => c.client_id) };
      };

      test("filters by client_name and owner (exact), ordered by id, with X-Total-Count and Link", async () => {
        const { res, ids } = await listed("?client_name=alpha");
        expect(ids).toEqual(["list-B", "list-C", "list-e"]);
        expect(res.headers.get("x-total-count")).toBe("3");
        expect(res.headers.get("link")).toBe('</clients?client_name=alpha&limit=3&offset=0>; rel="first"');

        const both = await listed("?client_name=alpha&owner=own-1");
        expect(both.ids).toEqual(["list-B", "list-e"]);
        expect(both.res.headers.get("x-total-count")).toBe("2");

        expect((await listed("?owner=own-2")).ids).toEqual(["list-C", "list-d"]);
        expect((await listed("?client_name=alph")).ids).toEqual([]);
      });

      test("limit and offset page through; Link follows ory/x pagination", async () => {
        const first = await listed("?owner=own-1&limit=1");
        expect(first.ids).toEqual(["list-B"]);
        expect(first.res.headers.get("x-total-count")).toBe("3");
        expect(first.res.headers.get("link")).toBe(
          '</clients?limit=1&offset=1&owner=own-1>; rel="next",</clients?limit=1&offset=2&owner=own-1>; rel="last"',
        );
        const middle = await listed("?owner=own-1&limit=1&offset=1");
        expect(middle.ids).toEqual(["list-a"]);
        expect(middle.res.headers.get("link")).toBe(
          [
            '</clients?limit=1&offset=0&owner=own-1>; rel="first"',
            '</clients?limit=1&offset=2&owner=own-1>; rel="next"',
            '</clients?limit=1&offset=0&owner=own-1>; rel="prev"',
            '</clients?limit=1&offset=2&owner=own-1>; rel="last"',
          ].join(","),
        );
        const last = await listed("?owner=own-1&limit=1&offset=2");
        expect(last.ids).toEqual(["list-e"]);
        expect(last.res.headers.get("link")).toBe('</clients?limit=1&offset=0&owner=own-1>; rel="first",</clients?limit=1&offset=1&owner=own-1>; rel="prev"');
        expect((await listed("?owner=own-1&limit=2&offset=1")).ids).toEqual(["list-a", "list-e"]);
        expect((await listed("?owner=own-1&offset=10")).ids).toEqual([]);
      });

      test("limit defaults to 100, is capped at 500; bad numbers fall back to defaults", async () => {
        const all = await listed("?owner=own-2");
        expect(all.res.headers.get("link")).toBe('</clients?limit=2&offset=0&owner=own-2>; rel="first"');
        const many = await f("/clients?limit=100000&owner=nobody");
        expect(many.headers.get("x-total-count")).toBe("0");
        expect(many.headers.get("link")).toBe(
          '</clients?limit=500&offset=0&owner=nobody>; rel="first",</clients?limit=500&offset=500&owner=nobody>; rel="next",</clients?limit=500&offset=-500&owner=nobody>; rel="prev"',
        );
        expect(await many.json()).toEqual([]);
        const junk = await listed("?owner=own-2&limit=abc&offset=-3");
        expect(junk.ids).toEqual(["list-C", "list-d"]);
      });

      test("the whole list is ordered by id in byte order", async () => {
        const { ids } = await listed("?limit=500");
        expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
        expect(ids.indexOf("list-B")).toBeLessThan(ids.indexOf("list-a"));
      });
    });
  });
}
