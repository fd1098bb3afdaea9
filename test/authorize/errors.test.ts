/**
 * Errors at the authorization endpoint: before the client and redirect URI are known they go
 * to the error page on our origin (never to a redirect URI — look-alike hosts, extra query,
 * fragments, userinfo tricks); after that they go to the client with error and state in the
 * request's response mode. Plus POST requests, unknown parameters, and the fallback pages.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { authPath, Browser, createClient, nonce, readResponse, startEnv, startTimeout, state, type Env, type Stop } from "../flows/kit.ts";

/** The request ended on our error page, having never been sent towards a client. */
function expectErrorPage(stop: Stop, error: string): URL {
  expect(stop.status).toBe(500);
  expect(stop.response.headers.get("content-type")).toBe("text/html; charset=utf-8");
  const first = stop.hops[0]!;
  expect(first.status).toBe(302);
  const page = new URL(first.location!);
  expect(page.pathname).toBe("/oauth2/fallbacks/error");
  expect(page.searchParams.get("error")).toBe(error);
  expect(stop.hops).toHaveLength(2);
  expect(stop.body).toContain(`Error: ${error}`);
  return page;
}

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`authorization errors on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    let twoUris: Record<string, any>;
    let codeOnly: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "authz_errors");
      client = await createClient(env, { redirect_uris: ["https://client.test/cb", "https://client.test/cb?tenant=a"], audience: ["https://api.test"] });
      twoUris = client;
      codeOnly = await createClient(env, { response_types: ["code"], grant_types: ["authorization_code"], scope: "openid" });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const go = (params: Record<string, string | undefined>) => new Browser(env).navigate(authPath(params));
    const good = () => ({ client_id: client.client_id, redirect_uri: "https://client.test/cb", response_type: "code", scope: "openid", state: state() });

    test("no client_id or an unknown client: the error page", async () => {
      expectErrorPage(await go({ ...good(), client_id: undefined }), "invalid_request");
      const page = expectErrorPage(await go({ ...good(), client_id: "does-not-exist" }), "invalid_client");
      expect(page.searchParams.get("error_description")).toContain("The requested OAuth 2.0 Client does not exist.");
    });

    test("redirect URIs that are not exactly registered never receive anything", async () => {
      for (const redirect of [
        "https://client.test.evil.test/cb",
        "https://evil.test/cb",
        "https://client.test@evil.test/cb",
        "https://evil.test/cb?https://client.test/cb",
        "https://client.test/cb/",
        "https://client.test/cb/../cb",
        "https://CLIENT.test/cb",
        "https://client.test/cb?extra=1",
        "https://client.test/cb?tenant=b",
        "https://client.test/cb#frag",
        "http://client.test/cb",
        "https://client.test:443/cb",
        "https://client.test/CB",
        "https://client.test/cb%2F",
        "//evil.test/cb",
        "javascript:alert(1)",
      ]) {
        const stop = await go({ ...good(), redirect_uri: redirect });
        expectErrorPage(stop, "invalid_request");
        expect(stop.hops.some((h) => (h.location ?? "").includes("evil.test") || (h.location ?? "").startsWith("https://client.test"))).toBe(false);
      }
      // A registered URI with a query is matched as a whole.
      const ok = await go({ ...good(), redirect_uri: "https://client.test/cb?tenant=a" });
      expect(ok.location).toStartWith("https://login.test/login");
    });

    test("redirect_uri may be omitted only when exactly one is registered", async () => {
      expectErrorPage(await go({ ...good(), redirect_uri: undefined }), "invalid_request");
      const single = await go({ client_id: codeOnly.client_id, response_type: "code", scope: "openid", state: state() });
      expect(single.location).toStartWith("https://login.test/login");
      expect(twoUris.redirect_uris).toHaveLength(2);
    });

    test("loopback redirects (RFC 8252 §7.3) match on any port; other http redirects are refused even if registered", async () => {
      const native = await createClient(env, { redirect_uris: ["http://127.0.0.1/callback", "http://[::1]:8080/cb", "http://app.example/cb"] });
      const base = { client_id: native.client_id, response_type: "code", scope: "openid", state: state() };
      expect((await go({ ...base, redirect_uri: "http://127.0.0.1:53211/callback" })).location).toStartWith("https://login.test/login");
      expect((await go({ ...base, redirect_uri: "http://[::1]:9999/cb" })).location).toStartWith("https://login.test/login");
      expectErrorPage(await go({ ...base, redirect_uri: "http://127.0.0.1:53211/other" }), "invalid_request");
      expectErrorPage(await go({ ...base, redirect_uri: "http://localhost:53211/callback" }), "invalid_request");
      const insecure = expectErrorPage(await go({ ...base, redirect_uri: "http://app.example/cb" }), "invalid_request");
      expect(insecure.searchParams.get("error_description")).toContain("insecure protocol");
    });

    test("after the redirect URI is valid, errors go to the client with state, in the response mode", async () => {
      const cases: [Record<string, string | undefined>, string, string?][] = [
        [{ scope: "openid admin" }, "invalid_scope", "The OAuth 2.0 Client is not allowed to request scope 'admin'."],
        [{ scope: 'openid "bad"' }, "invalid_scope"],
        [{ response_type: "code bogus" }, "unsupported_response_type"],
        [{ response_type: undefined }, "invalid_request", "The request is missing the 'response_type' parameter."],
        [{ response_type: "code code" }, "unsupported_response_type"],
        [{ response_mode: "web_message" }, "unsupported_response_mode"],
        [{ audience: "https://other.test" }, "invalid_request", "Requested audience 'https://other.test' has not been whitelisted by the OAuth 2.0 Client."],
        [{ code_challenge: "x".repeat(43), code_challenge_method: "plain" }, "invalid_request", "plain is not allowed"],
      ];
      for (const [override, error, hint] of cases) {
        const p = { ...good(), ...override };
        const stop = await go(p);
        expect(stop.hops).toHaveLength(1);
        expect(stop.status).toBe(303);
        const res = readResponse(stop);
        expect(res.target).toBe("https://client.test/cb");
        expect(res.params.error).toBe(error);
        expect(res.params.state).toBe(p.state);
        if (hint) expect(res.params.error_description).toContain(hint);
      }
      // Allowed audiences pass (URL-prefix match).
      expect((await go({ ...good(), audience: "https://api.test/v1" })).location).toStartWith("https://login.test/login");
    });

    test("state must have at least 8 characters (fosite); the error still carries the short state back", async () => {
      const missing = readResponse(await go({ ...good(), state: undefined }));
      expect(missing.params.error).toBe("invalid_state");
      const short = readResponse(await go({ ...good(), state: "abc" }));
      expect(short.params).toMatchObject({ error: "invalid_state", state: "abc" });
    });

    test("error response modes: fragment for implicit types, form_post when asked", async () => {
      const implicit = readResponse(await go({ ...good(), response_type: "id_token", scope: "openid admin", nonce: nonce() }));
      expect(implicit.mode).toBe("fragment");
      expect(implicit.params.error).toBe("invalid_scope");
      const posted = await go({ ...good(), scope: "openid admin", response_mode: "form_post" });
      expect(posted.status).toBe(200);
      const res = readResponse(posted);
      expect(res.mode).toBe("form_post");
      expect(res.params.error).toBe("invalid_scope");
    });

    test("a client may only use the response types and grants it registered", async () => {
      const p = { client_id: codeOnly.client_id, scope: "openid", state: state(), nonce: nonce() };
      for (const responseType of ["token", "id_token", "code id_token"]) {
        const res = readResponse(await go({ ...p, response_type: responseType }));
        expect(res.params.error).toBe("unauthorized_client");
      }
      const implicitOnly = await createClient(env, { grant_types: ["implicit"], response_types: ["code", "token"] });
      expect(readResponse(await go({ client_id: implicitOnly.client_id, response_type: "code", scope: "openid", state: state() })).params.error).toBe("unauthorized_client");
      // Order inside response_type does not matter.
      const hybrid = await go({ ...good(), response_type: "id_token code", nonce: nonce() });
      expect(hybrid.location).toStartWith("https://login.test/login");
    });

    test("POST /oauth2/auth works like GET; repeated parameters and unknown ones", async () => {
      const body = new URLSearchParams({ ...good() });
      const posted = await new Browser(env).navigate("/oauth2/auth", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body });
      expect(posted.location).toStartWith("https://login.test/login");
      const unknown = await go({ ...good(), extra: "foobar", registration_hint: "x" });
      expect(unknown.location).toStartWith("https://login.test/login");
      const repeated = await new Browser(env).navigate(`${authPath(good())}&scope=openid`);
      expectErrorPage(repeated, "invalid_request");
    });

    test("values in the error page are HTML-escaped", async () => {
      const stop = await new Browser(env).navigate("/oauth2/fallbacks/error?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&error_description=%22%3E%3Cimg%3E");
      expect(stop.status).toBe(500);
      expect(stop.body).not.toContain("<script>");
      expect(stop.body).not.toContain("<img>");
      expect(stop.body).toContain("&#60;script&#62;alert(1)&#60;/script&#62;");
      expect(stop.response.headers.get("content-security-policy")).toContain("default-src 'none'");
    });

    test("fallback pages: login, consent, logout, logout callback (200)", async () => {
      for (const path of ["/oauth2/fallbacks/login", "/oauth2/fallbacks/consent", "/oauth2/fallbacks/logout", "/oauth2/fallbacks/logout/callback"]) {
        const res = await env.server.publicFetch(path);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
        const html = await res.text();
        expect(html).toContain("<html>");
      }
      expect(await (await env.server.publicFetch("/oauth2/fallbacks/logout/callback")).text()).toContain("You logged out successfully!");
      expect(await (await env.server.publicFetch("/oauth2/fallbacks/login")).text()).toContain("<code>urls.login</code>");
    });
  });
}
