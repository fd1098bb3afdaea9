/**
 * OpenID Connect RP-Initiated Logout 1.0 at /oauth2/sessions/logout (hydra-v1 §2.5), as the
 * conformance suite's oidcc-rp-initiated-logout-* modules do it: with and without
 * id_token_hint, state and post_logout_redirect_uri; the session and its cookie are gone
 * afterwards (prompt=none → login_required); and every bad hint or unregistered URI ends on
 * the error page, never at the URI given.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPair, SignJWT } from "jose";
import { signingKey } from "../../src/keys/signing.ts";
import { idTokenSet } from "../../src/keys/types.ts";
import { admin, Browser, readResponse, startTimeout, type Env } from "../flows/kit.ts";
import {
  acceptLogout,
  errorPage,
  login,
  logout,
  logoutChallengeOf,
  logoutPath,
  postLogoutFallback,
  promptNone,
  createRp,
  sessionCookie,
  startLogoutEnv,
} from "./kit.ts";

const registered = "https://client.test/logout";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`RP-initiated logout on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startLogoutEnv(backend, "logout_rp");
      client = await createRp(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    /** An ID token signed with the server's own ID-token key, claims as given (for the cases a real login cannot produce). */
    async function ownHint(claims: Record<string, unknown>, typ = "JWT"): Promise<string> {
      const key = await signingKey(env.server.deps, idTokenSet);
      return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ }).sign(key.key);
    }

    test("id_token_hint + post_logout_redirect_uri + state: logout app, redirect with state; cookie and session gone; prompt=none fails", async () => {
      const browser = new Browser(env);
      const { idToken } = await login(browser, client, "alice");
      const cookie = browser.cookies.get(sessionCookie)!;
      expect(cookie).toBeDefined();
      expect(readResponse(await promptNone(browser, client, "alice")).params.id_token).toBeDefined();

      const { res, body } = await logout(browser, { id_token_hint: idToken, post_logout_redirect_uri: registered, state: "st-123" });
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(`${registered}?state=st-123`);
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(body).toBe("");
      expect(res.headers.getSetCookie().some((c) => c.startsWith(`${sessionCookie}=;`) && /Max-Age=0/.test(c))).toBe(true);
      expect(browser.cookies.has(sessionCookie)).toBe(false);
      expect(readResponse(await promptNone(browser, client)).params.error).toBe("login_required");
      // The row is gone too: the old cookie, replayed, no longer names a session.
      const replay = new Browser(env);
      replay.cookies.set(sessionCookie, cookie);
      expect(readResponse(await promptNone(replay, client)).params.error).toBe("login_required");
    });

    test("without state: the registered URI exactly; a registered URI with a query keeps it and gets state added", async () => {
      const browser = new Browser(env);
      const first = await login(browser, client, "bob");
      const plain = await logout(browser, { id_token_hint: first.idToken, post_logout_redirect_uri: registered });
      expect(plain.res.headers.get("location")).toBe(registered);

      const second = await login(browser, client, "bob");
      const withQuery = await logout(browser, { id_token_hint: second.idToken, post_logout_redirect_uri: `${registered}?x=1`, state: "s t" });
      expect(withQuery.res.headers.get("location")).toBe(`${registered}?x=1&state=s+t`);
    });

    test("hint without post_logout_redirect_uri: the post-logout fallback page, state dropped (Hydra)", async () => {
      const browser = new Browser(env);
      const { idToken } = await login(browser, client, "carol");
      const { res } = await logout(browser, { id_token_hint: idToken, state: "ignored" });
      expect(res.headers.get("location")).toBe(postLogoutFallback(env));
      expect(readResponse(await promptNone(browser, client)).params.error).toBe("login_required");
    });

    test("POST with a form works like GET; client_id must name the hint's audience", async () => {
      const browser = new Browser(env);
      const { idToken } = await login(browser, client, "dora");
      const form = { id_token_hint: idToken, post_logout_redirect_uri: registered, state: "posted", client_id: client.client_id };
      const res = await browser.request("/oauth2/sessions/logout", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(form),
      });
      const challenge = logoutChallengeOf(res);
      const request = await admin(env, `/oauth2/auth/requests/logout?logout_challenge=${challenge}`);
      expect(request.body).toMatchObject({ challenge, subject: "dora", rp_initiated: true, client: { client_id: client.client_id } });
      const done = await browser.request(await acceptLogout(env, challenge));
      expect(done.headers.get("location")).toBe(`${registered}?state=posted`);
    });

    test("no hint, no session: straight to the post-logout page; no hint with a session: the logout app, then logged out", async () => {
      const stranger = new Browser(env);
      const none = await stranger.request(logoutPath({}));
      expect(none.status).toBe(302);
      expect(none.headers.get("location")).toBe(postLogoutFallback(env));

      const browser = new Browser(env);
      const { sid } = await login(browser, client, "erin");
      const start = await browser.request(logoutPath({}));
      const challenge = logoutChallengeOf(start);
      const request = await admin(env, `/oauth2/auth/requests/logout?logout_challenge=${challenge}`);
      expect(request.body).toEqual({ challenge, subject: "erin", sid, request_url: `${env.server.deps.config.urls.self.public}oauth2/sessions/logout`, rp_initiated: false, client: null });
      const done = await browser.request(await acceptLogout(env, challenge));
      expect(done.headers.get("location")).toBe(postLogoutFallback(env));
      expect(browser.cookies.has(sessionCookie)).toBe(false);
      expect(readResponse(await promptNone(browser, client)).params.error).toBe("login_required");
    });

    test("no hint but state or post_logout_redirect_uri: the error page, never the URI (Hydra)", async () => {
      const browser = new Browser(env);
      await login(browser, client, "fred");
      for (const params of [{ state: "x" }, { post_logout_redirect_uri: registered }, { post_logout_redirect_uri: registered, state: "x" }]) {
        const res = await browser.request(logoutPath(params));
        expect(res.status).toBe(302);
        const location = new URL(res.headers.get("location")!);
        expect(`${location.origin}${location.pathname}`).toBe(errorPage(env));
        expect(location.searchParams.get("error")).toBe("invalid_request");
        expect(location.searchParams.get("error_description")).toContain("id_token_hint is missing");
      }
      // Nothing was logged out.
      expect(readResponse(await promptNone(browser, client, "fred")).params.id_token).toBeDefined();
    });

    test("every bad hint and every unregistered URI ends on the error page, never at the given URI, and logs nobody out", async () => {
      const browser = new Browser(env);
      const { idToken, claims, sid } = await login(browser, client, "gina");
      const other = await createRp(env, { post_logout_redirect_uris: ["https://client.test/other-logout"] });
      const [h, p, s] = idToken.split(".") as [string, string, string];
      const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const header = JSON.parse(Buffer.from(h, "base64url").toString());
      const foreign = await generateKeyPair("RS256");
      const now = Math.floor(Date.now() / 1000);
      const base = { iss: env.server.deps.config.urls.self.issuer, sub: "gina", aud: [client.client_id], iat: now, exp: now + 600, sid };

      const uriCases = [
        "https://evil.test/logout",
        `${registered}/`,
        "https://client.test/Logout",
        `${registered}?foo=bar`,
        `${registered}?x=1&foo=bar`,
        `${registered}#frag`,
        "https://client.test:443/logout",
        "http://client.test/logout",
        "https://client.test.evil.test/logout",
        "https://client.test@evil.test/logout",
        `${registered}%2F`,
        `${registered} `,
        "//client.test/logout",
        "https://client.test/other-logout",
      ];
      const hintCases: [string, string][] = [
        ["alg none", `${b64({ ...header, alg: "none" })}.${p}.`],
        ["alg none, signature kept", `${b64({ ...header, alg: "none" })}.${p}.${s}`],
        ["payload altered", `${h}.${b64({ ...claims, sub: "mallory" })}.${s}`],
        ["signature dropped", `${h}.${p}.`],
        ["foreign key, our kid", await new SignJWT(base).setProtectedHeader({ alg: "RS256", kid: header.kid, typ: "JWT" }).sign(foreign.privateKey)],
        ["foreign key, no kid", await new SignJWT(base).setProtectedHeader({ alg: "RS256" }).sign(foreign.privateKey)],
        ["HS256 with the public key as secret", await new SignJWT(base).setProtectedHeader({ alg: "HS256", kid: header.kid }).sign(new TextEncoder().encode(JSON.stringify(header)))],
        ["not a JWT", "not-a-jwt"],
        ["wrong issuer", await ownHint({ ...base, iss: "https://evil.test/" })],
        ["issued in the future", await ownHint({ ...base, iat: now + 3600 })],
        ["no sid", await ownHint({ ...base, sid: undefined })],
        ["no sub", await ownHint({ ...base, sub: undefined })],
        ["no aud", await ownHint({ ...base, aud: undefined })],
        ["unknown audience", await ownHint({ ...base, aud: ["no-such-client"] })],
        ["a logout token, not an ID token", await ownHint(base, "logout+jwt")],
      ];
      const attempts: [string, Record<string, string>][] = [
        ...uriCases.map((uri): [string, Record<string, string>] => [`uri ${uri}`, { id_token_hint: idToken, post_logout_redirect_uri: uri, state: "s" }]),
        ...hintCases.map(([name, hint]): [string, Record<string, string>] => [`hint: ${name}`, { id_token_hint: hint, post_logout_redirect_uri: registered, state: "s" }]),
        ["client_id not an audience", { id_token_hint: idToken, post_logout_redirect_uri: registered, client_id: other.client_id }],
        ["another client's URI with this hint", { id_token_hint: idToken, post_logout_redirect_uri: "https://client.test/other-logout" }],
      ];
      for (const [name, params] of attempts) {
        const res = await browser.request(logoutPath(params));
        const location = res.headers.get("location") ?? "";
        expect({ name, status: res.status, to: location.split("?")[0] }).toEqual({ name, status: 302, to: errorPage(env) });
        expect({ name, error: new URL(location).searchParams.get("error") }).toEqual({ name, error: "invalid_request" });
      }
      // None of it logged the user out.
      expect(readResponse(await promptNone(browser, client, "gina")).params.id_token).toBeDefined();
    }, 30_000);

    test("an expired ID token is a valid hint (RP-Initiated Logout §2)", async () => {
      const browser = new Browser(env);
      const { sid } = await login(browser, client, "hank");
      const now = Math.floor(Date.now() / 1000);
      const expired = await ownHint({ iss: env.server.deps.config.urls.self.issuer, sub: "hank", aud: [client.client_id], iat: now - 7200, exp: now - 3600, sid });
      const { res } = await logout(browser, { id_token_hint: expired, post_logout_redirect_uri: registered, state: "late" });
      expect(res.headers.get("location")).toBe(`${registered}?state=late`);
    });

    test("a hint whose session ended already: straight to the redirect, no logout app (Hydra)", async () => {
      const browser = new Browser(env);
      const { idToken } = await login(browser, client, "ivy");
      await logout(browser, { id_token_hint: idToken });
      const again = await browser.request(logoutPath({ id_token_hint: idToken, post_logout_redirect_uri: registered, state: "again" }));
      expect(again.status).toBe(302);
      expect(again.headers.get("location")).toBe(`${registered}?state=again`);
    });

    test("the logout verifier is single-use; an unknown one ends on the error page", async () => {
      const browser = new Browser(env);
      const { idToken } = await login(browser, client, "jack");
      const challenge = logoutChallengeOf(await browser.request(logoutPath({ id_token_hint: idToken, post_logout_redirect_uri: registered })));
      const redirectTo = await acceptLogout(env, challenge);
      expect(new URL(redirectTo).pathname).toBe("/oauth2/sessions/logout");
      expect((await browser.request(redirectTo)).headers.get("location")).toBe(registered);
      for (const url of [redirectTo, logoutPath({ logout_verifier: "00000000-0000-4000-8000-000000000000" }), logoutPath({ logout_verifier: "x".repeat(5000) })]) {
        const res = await browser.request(url);
        const location = new URL(res.headers.get("location")!);
        expect(`${location.origin}${location.pathname}`).toBe(errorPage(env));
        expect(location.searchParams.get("error")).toBe("access_denied");
      }
    });

    test("a logout the browser started is completed only by a browser with that session", async () => {
      const browser = new Browser(env);
      await login(browser, client, "kate");
      const challenge = logoutChallengeOf(await browser.request(logoutPath({})));
      const redirectTo = await acceptLogout(env, challenge);
      // Another browser (no cookie) redeems the verifier: it is spent, but kate stays logged in.
      const other = await new Browser(env).request(redirectTo);
      expect(other.headers.get("location")).toBe(postLogoutFallback(env));
      expect(readResponse(await promptNone(browser, client, "kate")).params.id_token).toBeDefined();
    });
  });
}
