/**
 * @module Open-redirect attempts beyond those of test/authorize/errors.test.ts and
 * test/logout/rp-initiated.test.ts: backslashes, tabs and newlines, encoded fragments and
 * user-info, CRLF injection, full-width and trailing-dot hosts, javascript:/data: URIs in any
 * case. Neither /oauth2/auth (GET and POST, every response mode) nor the logout endpoint nor
 * the error page ever sends the browser anywhere but our origin and the configured apps.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { authPath, Browser, createClient, nonce, readResponse, runFlow, startEnv, startTimeout, state, type Env, type Stop } from "../flows/kit.ts";

const hostile = [
  "https://client.test\\@evil.test/cb",
  "https://client.test\\evil.test/cb",
  "https://evil.test\\@client.test/cb",
  "https:\\\\evil.test/cb",
  "https:/\\evil.test/cb",
  "/\\evil.test/cb",
  "https://client.test/cb%23@evil.test",
  "https://client.test/cb%2523@evil.test",
  "https://client.test/cb#@evil.test",
  "https://client.test%40evil.test/cb",
  "https://client.test%2Eevil.test/cb",
  "https://client.test:443@evil.test/cb",
  "https://client.test/cb@evil.test",
  "https://client.test.evil.test/cb",
  "https://client.test./cb",
  "https://ｃlient.test/cb",
  "https://client.test/cb\t",
  "https://client.te\tst/cb",
  "https://client.test/c\nb",
  "\thttps://client.test/cb",
  " https://client.test/cb",
  "https://client.test/cb\r\nLocation: https://evil.test/",
  "https://client.test/cb%0d%0aLocation:%20https://evil.test/",
  "JaVaScRiPt:alert(document.domain)//https://client.test/cb",
  "javascript://client.test/cb%0aalert(1)",
  "data:text/html,<script>alert(1)</script>",
  "vbscript:msgbox(1)",
  "//evil.test/cb",
  "///evil.test/cb",
  "https://evil.test/cb?redirect_uri=https://client.test/cb",
];

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`open redirects on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    let ours: string;
    beforeAll(async () => {
      env = await startEnv(backend, "reliability_redirects");
      client = await createClient(env, { post_logout_redirect_uris: ["https://client.test/logout"] });
      ours = new URL(env.server.deps.config.urls.self.issuer).origin;
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    /** Every place the browser was sent (redirects and form_post actions) is ours or an app we configured. */
    const expectNowhereElse = (stop: Stop, tried: string) => {
      const targets = stop.hops.flatMap((h) => (h.location ? [h.location] : []));
      const form = readResponse(stop);
      if (form.mode === "form_post") targets.push(form.target);
      for (const target of targets) {
        const absolute = new URL(target, `${ours}/`);
        const allowed = absolute.origin === ours || absolute.origin === "https://login.test" || absolute.origin === "https://consent.test";
        expect({ tried, target, allowed }).toEqual({ tried, target, allowed: true });
      }
      expect(stop.body).not.toContain("evil.test\"");
    };

    test("/oauth2/auth (GET and POST, query, fragment and form_post modes) never redirects to an unregistered URI", async () => {
      // Control: the registered URI does receive the response, so the checks below can tell.
      const good = await runFlow(new Browser(env), { client_id: client.client_id, redirect_uri: "https://client.test/cb", response_type: "code", scope: "openid", state: state() });
      expect(good.location).toStartWith("https://client.test/cb?code=");
      for (const redirect of hostile) {
        for (const mode of [undefined, "fragment", "form_post"]) {
          const params = { client_id: client.client_id, redirect_uri: redirect, response_type: "code", scope: "openid", state: state(), nonce: nonce(), response_mode: mode };
          expectNowhereElse(await new Browser(env).navigate(authPath(params)), redirect);
        }
        const post = await new Browser(env).navigate("/oauth2/auth", {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ client_id: client.client_id, redirect_uri: redirect, response_type: "code", scope: "openid", state: state() }),
        });
        expectNowhereElse(post, redirect);
      }
    });

    test("the error page echoes hostile values as text and redirects nowhere", async () => {
      for (const value of hostile) {
        const query = new URLSearchParams({ error: value, error_description: value, error_hint: value, error_debug: value });
        const stop = await new Browser(env).navigate(`/oauth2/fallbacks/error?${query}`);
        expect(stop.hops).toHaveLength(1);
        expect(stop.location).toBeUndefined();
        expect(stop.response.headers.get("refresh")).toBeNull();
        expect(stop.body).not.toMatch(/<script|<meta http-equiv/i);
        expect(stop.response.headers.get("content-security-policy")).toContain("default-src 'none'");
      }
    });

    test("logout with a valid id_token_hint never sends the browser to an unregistered post_logout_redirect_uri", async () => {
      const browser = new Browser(env);
      const done = await runFlow(browser, { client_id: client.client_id, response_type: "id_token", scope: "openid", state: state(), nonce: nonce(), redirect_uri: "https://client.test/cb" });
      const idToken = readResponse(done).params.id_token!;
      expect(idToken).toBeString();
      for (const redirect of [...hostile, ...hostile.map((h) => h.replace("/cb", "/logout"))]) {
        const query = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: redirect, state: "s" });
        expectNowhereElse(await browser.navigate(`/oauth2/sessions/logout?${query}`), redirect);
      }
    });
  });
}
