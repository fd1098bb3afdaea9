/**
 * Dynamic client registration (RFC 7591, RFC 7592, Hydra v1 client/handler.go) over real HTTP,
 * on PostgreSQL and PGlite: create, read, update, delete with and without the registration
 * access token, the fields a registrant may not set, default_scope, token rotation, and that
 * the token is stored only as its HMAC signature.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import { authenticateClientSecret } from "../../src/clients/secrets.ts";
import { getClient, updateClient } from "../../src/clients/store.ts";
import { opaqueTokenSignature } from "../../src/oauth2/opaque-token.ts";
import { oauth2Clients } from "../../src/storage/schema/clients.ts";
import { metadataDescription, nullLifespans } from "../clients/backends.ts";
import type { TestServer } from "../helpers/server.ts";
import { backends, bearer, dcrConfig, forbiddenSecretBody, json, readBody, startTimeout, unauthorizedBody, withToken, type Started } from "./support.ts";

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const rfc3339Seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
/** Not Hydra's default, so the test sees that the configured value is the one applied. */
const config = { ...dcrConfig, oidc: { dynamic_client_registration: { enabled: true, default_scope: ["openid", "dcr-default"] } } };

for (const backend of backends) {
  describe(`dynamic client registration on ${backend.name}`, () => {
    let started: Started;
    let server: TestServer;
    beforeAll(async () => {
      started = await backend.start("dcr_registration", config);
      server = started.server;
    }, startTimeout);
    afterAll(async () => {
      await started?.stop();
    });

    const register = async (body: unknown, path = "/oauth2/register") => {
      const res = await server.publicFetch(path, json(body));
      return { res, body: await readBody(res) };
    };
    const registered = async (body: Record<string, unknown> = {}) => {
      const { res, body: out } = await register({ redirect_uris: ["https://rp.example/cb"], ...body });
      expect(res.status).toBe(201);
      return out;
    };
    const row = async (id: string) => {
      const [found] = await server.deps.db.select().from(oauth2Clients).where(eq(oauth2Clients.id, id));
      return found;
    };
    const signatureOf = (token: string) =>
      opaqueTokenSignature(server.loaded.config.secrets.system, "registration_access_token", "gth_rat_", token);
    const countClients = async () => (await server.deps.db.select({ id: oauth2Clients.id }).from(oauth2Clients)).length;

    test("POST: a server-chosen UUID and secret, the configured default scope, the registration token and URI (RFC 7591 §3.2.1)", async () => {
      const { res, body } = await register({ client_id: "i-choose-this", client_name: "RP", redirect_uris: ["https://rp.example/cb"] });
      expect(res.status).toBe(201);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.get("pragma")).toBe("no-cache");
      const id = body.client_id as string;
      expect(id).toMatch(uuidV4);
      expect(res.headers.get("location")).toBe(`http://127.0.0.1:4444/oauth2/register/${id}`);
      expect(body.client_secret).toHaveLength(32);
      expect(body.registration_access_token).toMatch(/^gth_rat_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(body.created_at).toMatch(rfc3339Seconds);
      expect(body).toEqual({
        client_id: id,
        client_name: "RP",
        client_secret: body.client_secret,
        redirect_uris: ["https://rp.example/cb"],
        grant_types: null,
        response_types: null,
        scope: "openid dcr-default",
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
        created_at: body.created_at,
        updated_at: body.created_at,
        metadata: {},
        registration_access_token: body.registration_access_token,
        registration_client_uri: `http://127.0.0.1:4444/oauth2/register/${id}`,
        ...nullLifespans,
      });
      // Hydra's field order: the registration fields come right after metadata.
      const keys = Object.keys(body);
      expect(keys.slice(keys.indexOf("metadata"), keys.indexOf("metadata") + 3)).toEqual(["metadata", "registration_access_token", "registration_client_uri"]);
      // The secret works at the token endpoint's check.
      expect(await authenticateClientSecret(server.deps, id, body.client_secret)).toBeDefined();
    });

    test("the registration access token is stored only as its HMAC signature, never in clear", async () => {
      const body = await registered({ client_name: "stored" });
      const token = body.registration_access_token as string;
      const stored = await row(body.client_id);
      expect(stored).toBeDefined();
      expect(stored!.registrationTokenSignature).toBe(signatureOf(token)!);
      const randomPart = token.slice("gth_rat_".length, token.indexOf("."));
      const dump = JSON.stringify(stored);
      expect(dump).not.toContain(token);
      expect(dump).not.toContain(randomPart);
      expect(dump).not.toContain(body.client_secret);
    });

    test("a scope sent is kept; an empty one gets oidc.dynamic_client_registration.default_scope", async () => {
      expect((await registered({ scope: "openid email" })).scope).toBe("openid email");
      expect((await registered({ scope: "" })).scope).toBe("openid dcr-default");
    });

    test("public and private_key_jwt clients get no secret; /connect/register (the Hydra SDK's path) registers too", async () => {
      const pub = await registered({ token_endpoint_auth_method: "none" });
      expect(pub.client_secret).toBeUndefined();
      expect((await row(pub.client_id))!.secretHash).toBeNull();
      const jwks = { keys: [{ kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", use: "sig", kid: "k1" }] };
      const pkj = await registered({ token_endpoint_auth_method: "private_key_jwt", jwks });
      expect(pkj.client_secret).toBeUndefined();
      expect(pkj.jwks).toEqual(jwks);
      const { res, body } = await register({ redirect_uris: ["https://rp.example/cb"] }, "/connect/register");
      expect(res.status).toBe(201);
      expect(body.client_id).toMatch(uuidV4);
      expect(body.registration_client_uri).toBe(`http://127.0.0.1:4444/oauth2/register/${body.client_id}`);
    });

    test("POST refusals: a chosen secret (403), metadata and lifespans (400), invalid metadata and bodies (400); nothing is stored", async () => {
      const before = await countClients();
      const secret = await register({ client_secret: "my-own-secret", redirect_uris: ["https://rp.example/cb"] });
      expect(secret.res.status).toBe(403);
      expect(secret.body).toEqual(forbiddenSecretBody);
      const metadata = await register({ metadata: { admin: "only" } });
      expect(metadata.res.status).toBe(400);
      expect(metadata.body).toEqual({
        error: "invalid_client_metadata",
        error_description: `${metadataDescription} Field metadata cannot be set for dynamic client registration; it is reserved for the administrator.`,
      });
      const lifespan = await register({ client_credentials_grant_access_token_lifespan: "8760h" });
      expect(lifespan.res.status).toBe(400);
      expect(lifespan.body.error_description).toContain(
        "Field client_credentials_grant_access_token_lifespan cannot be set for dynamic client registration; token lifespans are set by the administrator.",
      );
      const redirect = await register({ redirect_uris: ["https://rp.example/cb#frag"] });
      expect(redirect.res.status).toBe(400);
      expect(redirect.body.error).toBe("invalid_redirect_uri");
      const grant = await register({ grant_types: ["password"] });
      expect(grant.res.status).toBe(400);
      expect(grant.body.error).toBe("invalid_client_metadata");
      expect(grant.body.error_description).toContain("grant_types");
      const httpSector = await register({ sector_identifier_uri: "http://sector.example/doc.json" });
      expect(httpSector.res.status).toBe(400);
      expect(httpSector.body.error_description).toContain("Field sector_identifier_uri must be an HTTPS URL");
      for (const raw of ["not json", "[]", "", "42"]) {
        const res = await server.publicFetch("/oauth2/register", json(raw));
        expect(res.status).toBe(400);
        expect((await readBody(res)).error).toBe("Bad Request");
      }
      // JSON null counts as not sent, as Go decodes it (metadata: null, client_secret: null).
      expect((await register({ metadata: null, client_secret: null, redirect_uris: ["https://rp.example/cb"] })).res.status).toBe(201);
      expect(await countClients()).toBe(before + 1);
    });

    test("GET with the token: the client without metadata or secret, with its registration token and URI", async () => {
      const created = await registered({ client_name: "readable" });
      for (const path of [`/oauth2/register/${created.client_id}`, `/connect/register/${created.client_id}`]) {
        const res = await server.publicFetch(path, { headers: bearer(created.registration_access_token) });
        expect(res.status).toBe(200);
        expect(res.headers.get("cache-control")).toBe("no-store");
        const body = await readBody(res);
        expect(body.metadata).toBeUndefined();
        expect(body.client_secret).toBeUndefined();
        expect(body).toMatchObject({
          client_id: created.client_id,
          client_name: "readable",
          // Read back from the database: lists as [] (Hydra's pipe-delimited columns do the same).
          grant_types: [],
          scope: "openid dcr-default",
          registration_access_token: created.registration_access_token,
          registration_client_uri: created.registration_client_uri,
        });
      }
    });

    test("GET, PUT and DELETE without the right token: 401 with WWW-Authenticate: Bearer, and nothing changes", async () => {
      const mine = await registered({ client_name: "mine" });
      const other = await registered({ client_name: "other" });
      const admin = await server.adminFetch("/clients", json({ client_id: "admin-made", redirect_uris: ["https://rp.example/cb"] }));
      expect(admin.status).toBe(201);
      const forged = `gth_rat_${"A".repeat(43)}.${"B".repeat(43)}`;
      const path = `/oauth2/register/${mine.client_id}`;
      const cases: [string, string, Record<string, string>, string][] = [
        ["no Authorization header", path, {}, "Bearer"],
        ["Basic credentials", path, { Authorization: `Basic ${btoa(`${mine.client_id}:${mine.client_secret}`)}` }, 'Bearer error="invalid_token"'],
        ["an empty Bearer", path, { Authorization: "Bearer " }, 'Bearer error="invalid_token"'],
        ["a token we did not sign", path, bearer(forged), 'Bearer error="invalid_token"'],
        ["the client secret as a token", path, bearer(mine.client_secret), 'Bearer error="invalid_token"'],
        ["another client's token", path, bearer(other.registration_access_token), 'Bearer error="invalid_token"'],
        ["an unknown client id", "/oauth2/register/no-such-client", bearer(mine.registration_access_token), 'Bearer error="invalid_token"'],
        ["an admin-created client (it has no token)", "/oauth2/register/admin-made", bearer(mine.registration_access_token), 'Bearer error="invalid_token"'],
      ];
      for (const [name, target, headers, challenge] of cases) {
        for (const method of ["GET", "PUT", "DELETE"]) {
          const init: RequestInit = { method, headers: { ...headers, "Content-Type": "application/json" } };
          if (method === "PUT") init.body = JSON.stringify({ client_name: "hijacked", redirect_uris: ["https://evil.example/cb"] });
          const res = await server.publicFetch(target, init);
          expect({ name, method, status: res.status }).toEqual({ name, method, status: 401 });
          expect(res.headers.get("www-authenticate")).toBe(challenge);
          expect(await readBody(res)).toEqual(unauthorizedBody);
        }
      }
      const still = await server.adminFetch(`/clients/${mine.client_id}`);
      expect(still.status).toBe(200);
      expect((await readBody(still)).client_name).toBe("mine");
      expect((await row(mine.client_id))!.registrationTokenSignature).toBe(signatureOf(mine.registration_access_token)!);
      expect((await server.adminFetch("/clients/admin-made")).status).toBe(200);
    });

    test("PUT replaces the client and rotates the token: the old token stops working at once (RFC 7592 §2.2)", async () => {
      const created = await registered({ client_name: "v1" });
      const path = `/oauth2/register/${created.client_id}`;
      const res = await server.publicFetch(
        path,
        withToken(created.registration_access_token, "PUT", { client_id: created.client_id, client_name: "v2", redirect_uris: ["https://rp.example/cb", "https://rp.example/two"], scope: "openid" }),
      );
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("no-store");
      const updated = await readBody(res);
      expect(updated).toMatchObject({ client_id: created.client_id, client_name: "v2", redirect_uris: ["https://rp.example/cb", "https://rp.example/two"], scope: "openid" });
      expect(updated.client_secret).toBeUndefined();
      expect(updated.metadata).toBeUndefined();
      expect(updated.registration_client_uri).toBe(created.registration_client_uri);
      const rotated = updated.registration_access_token as string;
      expect(rotated).toMatch(/^gth_rat_/);
      expect(rotated).not.toBe(created.registration_access_token);
      expect((await row(created.client_id))!.registrationTokenSignature).toBe(signatureOf(rotated)!);

      for (const method of ["GET", "PUT", "DELETE"]) {
        const old = await server.publicFetch(path, withToken(created.registration_access_token, method, method === "PUT" ? { client_name: "v3" } : undefined));
        expect(old.status).toBe(401);
      }
      const read = await server.publicFetch(path, { headers: bearer(rotated) });
      expect(read.status).toBe(200);
      expect((await readBody(read)).client_name).toBe("v2");
      // The secret did not change.
      expect(await authenticateClientSecret(server.deps, created.client_id, created.client_secret)).toBeDefined();
    });

    test("PUT: a new secret is 403, the current one is accepted and kept (RFC 7592 §2.2); metadata, lifespans and another client_id are 400", async () => {
      const created = await registered();
      const path = `/oauth2/register/${created.client_id}`;
      let token = created.registration_access_token as string;
      const put = async (body: Record<string, unknown>) => {
        const res = await server.publicFetch(path, withToken(token, "PUT", { redirect_uris: ["https://rp.example/cb"], ...body }));
        const out = await readBody(res);
        if (res.status === 200) token = out.registration_access_token;
        return { status: res.status, body: out };
      };
      expect(await put({ client_secret: "a-secret-of-my-own" })).toEqual({ status: 403, body: forbiddenSecretBody });
      const same = await put({ client_secret: created.client_secret, client_name: "same secret" });
      expect(same.status).toBe(200);
      expect(same.body.client_secret).toBeUndefined();
      expect(await authenticateClientSecret(server.deps, created.client_id, created.client_secret)).toBeDefined();
      const metadata = await put({ metadata: { x: 1 } });
      expect(metadata.status).toBe(400);
      expect(metadata.body.error_description).toContain("Field metadata cannot be set for dynamic client registration");
      const lifespan = await put({ authorization_code_grant_access_token_lifespan: "1h" });
      expect(lifespan.status).toBe(400);
      expect(lifespan.body.error_description).toContain("Field authorization_code_grant_access_token_lifespan cannot be set");
      const otherId = await put({ client_id: "someone-else" });
      expect(otherId.status).toBe(400);
      expect(otherId.body.error_description).toContain("Field client_id must be the id of the client being updated");
      const invalid = await put({ response_types: ["banana"] });
      expect(invalid).toMatchObject({ status: 400, body: { error: "invalid_client_metadata" } });
      // The refused requests did not rotate the token.
      expect((await server.publicFetch(path, { headers: bearer(token) })).status).toBe(200);
    });

    test("what the admin set (metadata, lifespans) survives registrant updates and is not shown to the registrant", async () => {
      const created = await registered({ client_name: "managed" });
      const path = `/oauth2/register/${created.client_id}`;
      const adminGet = async () => readBody(await server.adminFetch(`/clients/${created.client_id}`));
      const adminView = await adminGet();
      // The admin edits the client: its registration token stays valid.
      expect((await server.adminFetch(`/clients/${created.client_id}`, json({ ...adminView, metadata: { tier: "gold" } }, "PUT"))).status).toBe(200);
      expect((await server.adminFetch(`/clients/${created.client_id}/lifespans`, json({ client_credentials_grant_access_token_lifespan: "5m" }, "PUT"))).status).toBe(200);

      const got = await readBody(await server.publicFetch(path, { headers: bearer(created.registration_access_token) }));
      expect(got.metadata).toBeUndefined();
      expect(got.client_credentials_grant_access_token_lifespan).toBe("5m0s");
      // A read-modify-write with what GET showed (the lifespan echoed as it is) is accepted.
      const res = await server.publicFetch(path, withToken(created.registration_access_token, "PUT", { ...got, client_name: "renamed" }));
      expect(res.status).toBe(200);
      const after = await adminGet();
      expect(after).toMatchObject({ client_name: "renamed", metadata: { tier: "gold" }, client_credentials_grant_access_token_lifespan: "5m0s" });
    });

    test("PUT switching a public client to client_secret_basic issues a secret, once", async () => {
      const created = await registered({ token_endpoint_auth_method: "none" });
      const res = await server.publicFetch(
        `/oauth2/register/${created.client_id}`,
        withToken(created.registration_access_token, "PUT", { redirect_uris: ["https://rp.example/cb"], token_endpoint_auth_method: "client_secret_basic" }),
      );
      expect(res.status).toBe(200);
      const body = await readBody(res);
      expect(body.client_secret).toHaveLength(32);
      expect(await authenticateClientSecret(server.deps, created.client_id, body.client_secret)).toBeDefined();
      const again = await server.publicFetch(`/oauth2/register/${created.client_id}`, { headers: bearer(body.registration_access_token) });
      expect((await readBody(again)).client_secret).toBeUndefined();
    });

    test("three PUTs sent at once with the same token: exactly one succeeds", async () => {
      const created = await registered();
      const path = `/oauth2/register/${created.client_id}`;
      const results = await Promise.all(
        ["a", "b", "c"].map((n) => server.publicFetch(path, withToken(created.registration_access_token, "PUT", { client_name: n, redirect_uris: ["https://rp.example/cb"] }))),
      );
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 401, 401]);
      const winner = await readBody(results.find((r) => r.status === 200)!);
      expect((await row(created.client_id))!.registrationTokenSignature).toBe(signatureOf(winner.registration_access_token)!);
    });

    test("the rotation is a compare-and-swap: two updates that both read the same token, only the first one applies", async () => {
      const created = await registered({ client_name: "cas" });
      const old = signatureOf(created.registration_access_token)!;
      // Both "requests" authenticated against the same stored signature before either wrote.
      const stored = (await getClient(server.deps.db, created.client_id))!;
      const first = await updateClient(server.deps.db, { ...stored, clientName: "first" }, { kind: "keep" }, { expected: old, next: "signature-first" });
      const second = await updateClient(server.deps.db, { ...stored, clientName: "second" }, { kind: "keep" }, { expected: old, next: "signature-second" });
      expect(first?.clientName).toBe("first");
      expect(second).toBeUndefined();
      const after = (await row(created.client_id))!;
      expect({ name: after.clientName, signature: after.registrationTokenSignature }).toEqual({ name: "first", signature: "signature-first" });
    });

    test("DELETE with the token: 204, then the client and its token are gone", async () => {
      const created = await registered();
      const path = `/connect/register/${created.client_id}`;
      const res = await server.publicFetch(path, { method: "DELETE", headers: bearer(created.registration_access_token) });
      expect(res.status).toBe(204);
      expect(await res.text()).toBe("");
      expect(await row(created.client_id)).toBeUndefined();
      expect((await server.adminFetch(`/clients/${created.client_id}`)).status).toBe(404);
      for (const method of ["GET", "DELETE"]) {
        const again = await server.publicFetch(path, { method, headers: bearer(created.registration_access_token) });
        expect(again.status).toBe(401);
      }
      expect(await authenticateClientSecret(server.deps, created.client_id, created.client_secret)).toBeUndefined();
    });

    test("the DCR paths are on the public listener only", async () => {
      expect((await server.adminFetch("/oauth2/register", json({}))).status).toBe(404);
      expect((await server.adminFetch("/connect/register", json({}))).status).toBe(404);
    });
  });
}
