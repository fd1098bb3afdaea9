/**
 * @module Limits on what a request may carry: body size (serve.request_body_limit, 413),
 * JSON nesting depth of admin bodies, list sizes in client metadata, and NUL characters
 * (which PostgreSQL text refuses) answered as 400s found by the fuzzer, not 500s.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { acceptLogin, authPath, Browser, challengeFrom, createClient, jsonInit, q, startEnv, startTimeout, state, type Env } from "../flows/kit.ts";

const bodyLimit = 8192;

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`request limits on ${backend}`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(backend, "reliability_limits", { serve: { request_body_limit: bodyLimit }, oidc: { dynamic_client_registration: { enabled: true } } });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const client = (body: Record<string, unknown>) => env.server.adminFetch("/clients", jsonInit({ redirect_uris: ["https://client.test/cb"], ...body }, "POST"));

    test("a body over serve.request_body_limit is refused with 413 on both listeners, declared or chunked, and the server keeps serving", async () => {
      const big = JSON.stringify({ metadata: { pad: "x".repeat(bodyLimit * 2) } });
      const declared = await env.server.adminFetch("/clients", { method: "POST", headers: { "Content-Type": "application/json" }, body: big });
      expect(declared.status).toBe(413);
      await declared.text();
      const chunked = new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode(`grant_type=client_credentials&pad=${"y".repeat(bodyLimit * 2)}`));
          c.close();
        },
      });
      const viaStream = await env.server.publicFetch("/oauth2/token", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: chunked });
      expect(viaStream.status).toBe(413);
      await viaStream.text();
      const admin = await env.server.adminFetch("/clients", { method: "POST", headers: { "Content-Type": "application/json" }, body: new Blob([big]).stream() });
      expect(admin.status).toBe(413);
      await admin.text();
      // Just under the limit is read and judged on its content.
      const under = await client({ metadata: { pad: "x".repeat(bodyLimit - 200) } });
      expect(under.status).toBe(201);
      expect((await env.server.publicFetch("/health/alive")).status).toBe(200);
    });

    test("admin JSON nested deeper than 64 levels is 400 before parsing; 63 levels is accepted", async () => {
      const nest = (d: number) => "[".repeat(d) + "]".repeat(d);
      const deep = await env.server.adminFetch("/clients", { method: "POST", headers: { "Content-Type": "application/json" }, body: `{"metadata":{"a":${nest(70)}}}` });
      expect(deep.status).toBe(400);
      expect(await deep.json()).toMatchObject({ error: "Bad Request", error_description: "The request body is nested deeper than 64 levels" });
      // Brackets inside strings do not count.
      const ok = await env.server.adminFetch("/clients", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: `{"redirect_uris":["https://client.test/cb"],"metadata":{"a":${nest(61)},"s":"${"[".repeat(200)}"}}`,
      });
      expect(ok.status).toBe(201);
    });

    test("at most 100 redirect URIs, contacts, audiences and scope tokens per client; 100 is fine", async () => {
      const uris = (n: number) => Array.from({ length: n }, (_, i) => `https://client.test/cb${i}`);
      const tooManyUris = await client({ redirect_uris: uris(101) });
      expect(tooManyUris.status).toBe(400);
      expect(await tooManyUris.json()).toMatchObject({ error: "invalid_redirect_uri" });
      for (const body of [
        { contacts: Array.from({ length: 101 }, (_, i) => `c${i}@client.test`) },
        { audience: Array.from({ length: 101 }, (_, i) => `aud${i}`) },
        { post_logout_redirect_uris: uris(101) },
        { scope: Array.from({ length: 101 }, (_, i) => `s${i}`).join(" ") },
      ]) {
        const res = await client(body);
        expect(res.status).toBe(400);
        expect(await res.json()).toMatchObject({ error: "invalid_client_metadata" });
      }
      // Dynamic registration goes through the same parser.
      const dcr = await env.server.publicFetch("/oauth2/register", jsonInit({ redirect_uris: uris(101) }, "POST"));
      expect(dcr.status).toBe(400);
      const ok = await client({ redirect_uris: uris(100), contacts: Array.from({ length: 100 }, (_, i) => `c${i}@client.test`), scope: Array.from({ length: 100 }, (_, i) => `s${i}`).join(" ") });
      expect(ok.status).toBe(201);
    });

    // Found by the fuzzer: PostgreSQL text refuses NUL, and GET /clients/a%00b was a 500 server_error.
    // As in the trust and token modules, a NUL in a looked-up value matches nothing.
    test("a NUL in a client id or client filter is a 404 or an empty list, never a 500", async () => {
      for (const method of ["GET", "DELETE", "PATCH", "PUT"]) {
        const res = await env.server.adminFetch("/clients/a%00b", { method, headers: { "Content-Type": "application/json" }, body: method === "PATCH" ? "[]" : method === "PUT" ? JSON.stringify({ redirect_uris: [] }) : undefined });
        expect({ method, status: res.status }).toEqual({ method, status: 404 });
      }
      expect((await env.server.adminFetch("/clients/a%00b/lifespans", jsonInit({}))).status).toBe(404);
      for (const filter of ["client_name=a%00b", "owner=%00"]) {
        const list = await env.server.adminFetch(`/clients?${filter}`);
        expect({ status: list.status, body: await list.json() }).toEqual({ status: 200, body: [] });
      }
      const dcr = await env.server.publicFetch("/oauth2/register/a%00b", { headers: { Authorization: "Bearer x" } });
      expect(dcr.status).toBeGreaterThanOrEqual(400);
      expect(dcr.status).toBeLessThan(500);
      for (const body of [{ client_id: "a\u0000b" }, { metadata: { k: "a\u0000b" } }, { metadata: { "k\u0000": 1 } }, { client_name: "a\u0000b" }, { contacts: ["a\u0000b"] }]) {
        const created = await client(body);
        expect({ body, status: created.status < 500 }).toEqual({ body, status: true });
      }
    });

    // Found by the fuzzer (seeded run in CI): GET /keys/<set with NUL> was a 500 server_error.
    test("a control character in a key set id or key id is a 400, never a 500", async () => {
      for (const [method, path] of [
        ["GET", "/keys/a%00b"],
        ["DELETE", "/keys/a%00b"],
        ["GET", "/keys/set/k%00"],
        ["DELETE", "/keys/set/k%01"],
        ["POST", "/keys/a%00b"],
      ] as const) {
        const res = await env.server.adminFetch(path, { method, headers: { "Content-Type": "application/json" }, body: method === "POST" ? JSON.stringify({ alg: "ES256", use: "sig", kid: "k" }) : undefined });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 400 });
        expect(((await res.json()) as { error: string }).error).toBe("Bad Request");
      }
    });

    test("a NUL inside login context, consent session or key material is a 4xx, never a 500", async () => {
      const flowClient = await createClient(env);
      const browser = new Browser(env);
      const login = challengeFrom(await browser.navigate(authPath({ client_id: flowClient.client_id, response_type: "code", scope: "openid", state: state() })), "login");
      const badLogin = await env.server.adminFetch(`/oauth2/auth/requests/login/accept?login_challenge=${q(login)}`, jsonInit({ subject: "alice", context: { a: "x\u0000y" } }));
      expect(badLogin.status).toBeLessThan(500);
      const badSubject = await env.server.adminFetch(`/oauth2/auth/requests/login/accept?login_challenge=${q(login)}`, jsonInit({ subject: "al\u0000ice" }));
      expect(badSubject.status).toBeLessThan(500);
      const consent = challengeFrom(await browser.navigate(await acceptLogin(env, login)), "consent");
      const badConsent = await env.server.adminFetch(`/oauth2/auth/requests/consent/accept?consent_challenge=${q(consent)}`, jsonInit({ grant_scope: ["openid"], session: { id_token: { n: "x\u0000y" }, access_token: { "k\u0000": 1 } } }));
      expect(badConsent.status).toBeLessThan(500);
      const badScope = await env.server.adminFetch(`/oauth2/auth/requests/consent/accept?consent_challenge=${q(consent)}`, jsonInit({ grant_scope: ["open\u0000id"] }));
      expect(badScope.status).toBeLessThan(500);
      const badKey = await env.server.adminFetch("/keys/nul-set", jsonInit({ alg: "RS256", kid: "k\u0000", use: "sig" }, "POST"));
      expect(badKey.status).toBeLessThan(500);
    });
  });
}
