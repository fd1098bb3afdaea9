/**
 * The example login/consent/logout app over real HTTP, on PostgreSQL and PGlite: its pages
 * (escaping, security headers), its answers through the admin API (login, wrong password,
 * deny, consent with unticked scopes and audiences, remember, logout), the claims it puts in
 * the ID token, and its CSRF and input checks.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { ownAdminTarget } from "../../src/example-app/admin-api.ts";
import { exampleAppRoutes } from "../../src/example-app/routes.ts";
import { createLogger } from "../../src/lib/log.ts";
import { authPath, Browser, createClient, nonce, readResponse, startEnv, startTimeout, state, verifyIdToken, type Env, type Stop } from "../flows/kit.ts";
import { exampleAppConfig, formOf, submit } from "./support.ts";

const verifier = "example-app-test-verifier-0123456789-abcdefghijklmnop";
const challenge = createHash("sha256").update(verifier).digest("base64url");

/** The code exchange of a public client (PKCE), as the client would do it. */
async function exchange(env: Env, clientId: string, code: string): Promise<Record<string, any>> {
  const res = await env.server.publicFetch("/oauth2/token", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code, client_id: clientId, redirect_uri: "https://client.test/cb", code_verifier: verifier }).toString(),
  });
  const body = (await res.json()) as Record<string, any>;
  if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

function pathOf(stop: Stop): string {
  const last = stop.hops.at(-1)!.url;
  return new URL(last, "http://x").pathname;
}

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`example app on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "example_app", exampleAppConfig);
      client = await createClient(env, {
        client_name: `<b>Evil & "Co"</b>`,
        logo_uri: "https://logo.test/logo.png",
        policy_uri: "https://client.test/privacy",
        audience: ["https://api.test"],
      });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const params = (extra: Record<string, string> = {}) => ({
      client_id: client.client_id as string,
      response_type: "code",
      scope: "openid offline_access profile email",
      audience: "https://api.test",
      state: state(),
      nonce: nonce(),
      code_challenge: challenge,
      code_challenge_method: "S256",
      ...extra,
    });

    /** authorize → the login page. */
    async function openLogin(browser: Browser, extra: Record<string, string> = {}): Promise<Stop> {
      const stop = await browser.navigate(authPath(params(extra)));
      expect(stop.status).toBe(200);
      expect(pathOf(stop)).toBe("/example/login");
      return stop;
    }

    async function logIn(browser: Browser, remember = false): Promise<Stop> {
      const login = await openLogin(browser);
      const consent = await submit(browser, login.body, "/example/login", [
        ["email", "foo@bar.com"],
        ["password", "foobar"],
        ["action", "accept"],
        ...(remember ? ([["remember", "1"]] as [string, string][]) : []),
      ]);
      expect(consent.status).toBe(200);
      expect(pathOf(consent)).toBe("/example/consent");
      return consent;
    }

    test("the login page: escaped client name, logo, login_hint; strict CSP; no script or external asset; phone viewport; CSRF cookie", async () => {
      const browser = new Browser(env);
      const stop = await openLogin(browser, { login_hint: `"><script>alert(1)</script>` });
      const html = stop.body;
      expect(html).toContain("&#60;b&#62;Evil &#38; &#34;Co&#34;&#60;/b&#62;");
      expect(html).not.toContain("<b>Evil");
      expect(html).toContain('value="&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"');
      expect(html).not.toMatch(/<script|<link|@import|url\(/);
      expect(html).toContain('<img src="https://logo.test/logo.png" alt="" referrerpolicy="no-referrer">');
      expect(html).toContain('<a href="https://client.test/privacy" rel="noopener noreferrer">Privacy policy</a>');
      expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
      const headers = stop.response.headers;
      expect(headers.get("content-security-policy")).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; img-src https:\/\/logo\.test; frame-ancestors 'none'; base-uri 'none'$/);
      expect(headers.get("x-frame-options")).toBe("DENY");
      expect(headers.get("referrer-policy")).toBe("no-referrer");
      expect(headers.get("cache-control")).toBe("no-store");
      const csrf = browser.setCookies.find((c) => c.name === "gatehouse_example_csrf")!;
      expect(csrf.attributes).toEqual(["Path=/example", "HttpOnly", "SameSite=Strict"]);
      expect(formOf(html).fields.map(([k]) => k)).toEqual(["challenge", "csrf_token"]);
    });

    test("a wrong password shows the form again (401) and accepts nothing; the right one goes on to consent", async () => {
      const browser = new Browser(env);
      const login = await openLogin(browser);
      for (const [email, password] of [
        ["foo@bar.com", "wrong"],
        ["bar@foo.com", "foobar"],
        ["", ""],
      ]) {
        const again = await submit(browser, login.body, "/example/login", [
          ["email", email!],
          ["password", password!],
          ["action", "accept"],
        ]);
        expect(again.status).toBe(401);
        expect(again.body).toContain("The email address or password is not correct.");
        expect(formOf(again.body).fields).toEqual(formOf(login.body).fields);
      }
      const consent = await submit(browser, login.body, "/example/login", [
        ["email", " FOO@bar.com "],
        ["password", "foobar"],
        ["action", "accept"],
      ]);
      expect(pathOf(consent)).toBe("/example/consent");
    });

    test("consent: the page lists scopes and audience; unticked ones are not granted, unrequested ones are ignored; claims follow the granted scopes", async () => {
      const browser = new Browser(env);
      const consent = await logIn(browser);
      expect(consent.body).toContain("Allow access?");
      expect(consent.body).toContain("<code>foo@bar.com</code>");
      expect(formOf(consent.body).checkboxes).toEqual([
        { name: "grant_scope", value: "openid", checked: true },
        { name: "grant_scope", value: "offline_access", checked: true },
        { name: "grant_scope", value: "profile", checked: true },
        { name: "grant_scope", value: "email", checked: true },
        { name: "grant_audience", value: "https://api.test", checked: true },
        { name: "remember", value: "1", checked: false },
      ]);
      const hidden = formOf(consent.body).fields.filter(([k]) => k === "challenge" || k === "csrf_token");
      const done = await browser.navigate("/example/consent", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams([...hidden, ["grant_scope", "openid"], ["grant_scope", "email"], ["grant_scope", "admin"], ["grant_audience", "https://evil.test"], ["action", "accept"]]).toString(),
      });
      const response = readResponse(done);
      expect(response.target).toBe("https://client.test/cb");
      expect(response.params.scope).toBe("openid email");
      const tokens = await exchange(env, client.client_id, response.params.code!);
      expect(tokens.scope).toBe("openid email");
      expect(tokens.refresh_token).toBeUndefined();
      const claims = await verifyIdToken(env, tokens.id_token, client.client_id);
      expect(claims).toMatchObject({ sub: "foo@bar.com", email: "foo@bar.com", email_verified: true });
      expect(claims.name).toBeUndefined();
      expect(claims.preferred_username).toBeUndefined();
      const introspected = (await (await env.server.adminFetch("/oauth2/introspect", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: `token=${encodeURIComponent(tokens.access_token)}` })).json()) as Record<string, any>;
      expect(introspected).toMatchObject({ active: true, sub: "foo@bar.com", scope: "openid email" });
      expect(introspected.aud ?? []).toEqual([]);
    });

    test("everything ticked: profile and email claims in the ID token, the audience granted, a refresh token", async () => {
      const browser = new Browser(env);
      const consent = await logIn(browser);
      const response = readResponse(await submit(browser, consent.body, "/example/consent", [["action", "accept"]]));
      const tokens = await exchange(env, client.client_id, response.params.code!);
      expect(tokens.refresh_token).toBeString();
      const claims = await verifyIdToken(env, tokens.id_token, client.client_id);
      expect(claims).toMatchObject({
        sub: "foo@bar.com",
        email: "foo@bar.com",
        email_verified: true,
        name: "Foo Bar",
        given_name: "Foo",
        family_name: "Bar",
        preferred_username: "foo",
        locale: "en-US",
        updated_at: 1700000000,
      });
      const introspected = (await (await env.server.adminFetch("/oauth2/introspect", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: `token=${encodeURIComponent(tokens.access_token)}` })).json()) as Record<string, any>;
      expect(introspected.aud).toEqual(["https://api.test"]);
    });

    test("deny at login and deny at consent: access_denied at the client", async () => {
      const browser = new Browser(env);
      const login = await openLogin(browser);
      const denied = readResponse(await submit(browser, login.body, "/example/login", [["action", "reject"]]));
      expect(denied.target).toBe("https://client.test/cb");
      expect(denied.params).toMatchObject({ error: "access_denied", error_description: expect.stringContaining("The resource owner denied the request") });

      const consent = await logIn(browser);
      const refused = readResponse(await submit(browser, consent.body, "/example/consent", [["action", "reject"]]));
      expect(refused.params.error).toBe("access_denied");
      expect(refused.params.code).toBeUndefined();
    });

    test("remember me and remember my decision: the next authorization skips both pages, and the ID token still has the claims", async () => {
      // Remembered consent is per subject and client: this test's own client keeps it from the others.
      const own = await createClient(env, { audience: ["https://api.test"] });
      const ownParams = () => params({ client_id: own.client_id });
      const browser = new Browser(env);
      const login = await browser.navigate(authPath(ownParams()));
      const consent = await submit(browser, login.body, "/example/login", [
        ["email", "foo@bar.com"],
        ["password", "foobar"],
        ["remember", "1"],
        ["action", "accept"],
      ]);
      expect(pathOf(consent)).toBe("/example/consent");
      const first = readResponse(await submit(browser, consent.body, "/example/consent", [["remember", "1"], ["action", "accept"]]));
      expect(first.params.code).toBeString();
      const again = await browser.navigate(authPath(ownParams()));
      // Both apps answered at once (skip): only redirects, no page.
      expect(again.hops.filter((h) => h.status === 200)).toEqual([]);
      expect(again.hops.some((h) => h.url.includes("/example/login")) && again.hops.some((h) => h.url.includes("/example/consent"))).toBe(true);
      const second = readResponse(again);
      const tokens = await exchange(env, own.client_id, second.params.code!);
      expect(await verifyIdToken(env, tokens.id_token, own.client_id)).toMatchObject({ sub: "foo@bar.com", email: "foo@bar.com", name: "Foo Bar" });
      // The login is remembered by this browser only: a new browser logs in again.
      const fresh = await new Browser(env).navigate(authPath(ownParams()));
      expect(pathOf(fresh)).toBe("/example/login");
    });

    test("logout: the confirm page, then yes ends the session (the next authorization asks to log in); no keeps it", async () => {
      const browser = new Browser(env);
      const consent = await logIn(browser, true);
      readResponse(await submit(browser, consent.body, "/example/consent", [["action", "accept"]]));

      const keep = await browser.navigate("/oauth2/sessions/logout");
      expect(pathOf(keep)).toBe("/example/logout");
      expect(keep.body).toContain("Sign out?");
      expect(keep.body).toContain("<code>foo@bar.com</code>");
      const stayed = await submit(browser, keep.body, "/example/logout", [["action", "reject"]]);
      expect(stayed.status).toBe(200);
      expect(stayed.body).toContain("You are still signed in");
      // Still remembered: login is skipped (consent was not remembered, so that page shows).
      const stillIn = await browser.navigate(authPath(params()));
      expect(pathOf(stillIn)).toBe("/example/consent");

      const confirm = await browser.navigate("/oauth2/sessions/logout");
      expect(pathOf(confirm)).toBe("/example/logout");
      const out = await submit(browser, confirm.body, "/example/logout", [["action", "accept"]]);
      expect(out.hops.some((h) => h.url.includes("/oauth2/sessions/logout?logout_verifier="))).toBe(true);
      expect(out.status).toBe(200);
      expect(pathOf(out)).toBe("/oauth2/fallbacks/logout/callback");
      await openLogin(browser);
    });

    test("CSRF: a post without the cookie, with another challenge's token, or without a token is refused (403) and answers nothing", async () => {
      const browser = new Browser(env);
      const login = await openLogin(browser);
      const fields = formOf(login.body).fields;
      const creds: [string, string][] = [
        ["email", "foo@bar.com"],
        ["password", "foobar"],
        ["action", "accept"],
      ];
      const post = (b: Browser, body: [string, string][]) =>
        b.navigate("/example/login", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(body).toString() });
      // Another browser (no cookie) replaying the form.
      expect((await post(new Browser(env), [...fields, ...creds])).status).toBe(403);
      // A token for another login request, minted for this browser's CSRF cookie (in a second
      // jar, so that this browser's own flow is left alone).
      const twin = new Browser(env);
      twin.cookies.set("gatehouse_example_csrf", browser.cookies.get("gatehouse_example_csrf")!);
      const other = formOf((await openLogin(twin)).body).fields;
      expect(other.find(([k]) => k === "challenge")![1]).not.toBe(fields.find(([k]) => k === "challenge")![1]);
      const mixed = fields.map(([k, v]) => [k, k === "csrf_token" ? other.find(([n]) => n === k)![1] : v] as [string, string]);
      expect((await post(browser, [...mixed, ...creds])).status).toBe(403);
      expect((await post(browser, [...fields.filter(([k]) => k !== "csrf_token"), ...creds])).status).toBe(403);
      // The request is still open: the right form still works.
      const ok = await post(browser, [...fields, ...creds]);
      expect(pathOf(ok)).toBe("/example/consent");
    });

    test("bad input: no challenge (400), unknown challenge (404), wrong content type (415), oversized form (413); a used challenge restarts the flow", async () => {
      const browser = new Browser(env);
      for (const [path, status] of [
        ["/example/login", 400],
        ["/example/consent", 400],
        ["/example/logout", 400],
        ["/example/login?login_challenge=unknown", 404],
        ["/example/consent?consent_challenge=unknown", 404],
        ["/example/logout?logout_challenge=unknown", 404],
        [`/example/login?login_challenge=${"x".repeat(300)}`, 400],
      ] as const) {
        const res = await browser.request(path);
        expect(res.status).toBe(status);
        expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
        expect(await res.text()).toContain("<h1>");
      }
      const json = await browser.request("/example/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      expect(json.status).toBe(415);
      const big = await browser.request("/example/login", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: `a=${"x".repeat(20_000)}` });
      expect(big.status).toBe(413);

      const login = await openLogin(browser);
      await submit(browser, login.body, "/example/login", [["action", "reject"]]);
      // The login request was answered: opening it again goes back to its authorization URL.
      const challengeValue = formOf(login.body).fields.find(([k]) => k === "challenge")![1];
      const res = await browser.request(`/example/login?login_challenge=${challengeValue}`);
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toStartWith(`${env.server.deps.config.urls.self.issuer}oauth2/auth?`);
    });

    test("the home page explains the app; its paths exist only when it is on", async () => {
      const res = await new Browser(env).request("/example/");
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("gatehouse token user");
    });
  });
}

describe("example app wiring", () => {
  test("off by default: /example/ is not served and the fallback pages answer", async () => {
    const env = await startEnv("PGlite", "example_app_off");
    try {
      expect((await env.server.publicFetch("/example/login?login_challenge=x")).status).toBe(404);
    } finally {
      await env.stop();
    }
  }, startTimeout);

  test("the admin API on a Unix socket: the app reaches it there", async () => {
    const socket = `/tmp/gatehouse-example-${process.pid}.sock`;
    const env = await startEnv("PGlite", "example_app_unix", { ...exampleAppConfig, serve: { admin: { host: `unix:${socket}` } } });
    try {
      const client = await createClient(env);
      const stop = await new Browser(env).navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() }));
      expect(stop.status).toBe(200);
      expect(stop.body).toContain("Sign in");
    } finally {
      await env.stop();
    }
  }, startTimeout);

  test("the admin API unreachable: a 502 page, nothing about the challenge in the log", async () => {
    const lines: string[] = [];
    const log = createLogger({ level: "warn", format: "json" });
    log.setReporters([{ log: (entry) => lines.push(JSON.stringify(entry.args)) }]);
    const routes = exampleAppRoutes({ admin: () => ({ endpoint: "http://127.0.0.1:1" }), publicUrl: "http://127.0.0.1:4444/", log });
    const res = await routes["/example/login"]!.GET!(new Request("http://127.0.0.1:4444/example/login?login_challenge=secret-challenge") as any, {} as any);
    expect(res.status).toBe(502);
    expect(await res.text()).toContain("Gatehouse could not be reached");
    expect(lines.join("\n")).toContain("admin API unreachable");
    expect(lines.join("\n")).not.toContain("secret-challenge");
  });
});

test("ownAdminTarget: the admin listener of this process, else the one serve.admin names; wildcards on loopback; TLS pinned", () => {
  const tls = { cert: "CERT", key: "KEY" };
  expect(ownAdminTarget({ host: "unix:/run/gatehouse/admin.sock", port: 4445 }, "unix:/run/gatehouse/admin.sock", undefined)).toEqual({ endpoint: "unix:/run/gatehouse/admin.sock", ca: undefined });
  expect(ownAdminTarget({ host: "", port: 0 }, "http://[::]:40001/", undefined)).toEqual({ endpoint: "http://127.0.0.1:40001", ca: undefined });
  expect(ownAdminTarget({ host: "10.0.0.5", port: 0 }, "https://10.0.0.5:40002/", tls)).toEqual({ endpoint: "https://10.0.0.5:40002", ca: "CERT" });
  // serve public: the admin API runs in another process.
  expect(ownAdminTarget({ host: "", port: 4445 }, undefined, undefined)).toEqual({ endpoint: "http://127.0.0.1:4445", ca: undefined });
  expect(ownAdminTarget({ host: "::", port: 4445 }, undefined, tls)).toEqual({ endpoint: "https://127.0.0.1:4445", ca: "CERT" });
  expect(ownAdminTarget({ host: "fd00::5", port: 4445 }, undefined, undefined)).toEqual({ endpoint: "http://[fd00::5]:4445", ca: undefined });
});
