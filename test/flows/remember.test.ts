/**
 * Skip and remember: a remembered login gives skip=true with the same subject and auth_time,
 * a remembered consent covering the request gives consent skip=true; what breaks either
 * (remember=false, new scopes, prompt=consent, a public client without a secure redirect,
 * an expired remember_for, revocation) — and the cookies that carry it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  acceptConsent,
  acceptLogin,
  admin,
  authPath,
  Browser,
  challengeFrom,
  createClient,
  jsonInit,
  nonce,
  readResponse,
  runFlow,
  startEnv,
  startTimeout,
  state,
  verifyIdToken,
  type Env,
} from "./kit.ts";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`skip and remember on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_remember");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const params = (extra: Record<string, string> = {}) => ({
      client_id: client.client_id,
      response_type: "id_token",
      scope: "openid profile",
      state: state(),
      nonce: nonce(),
      ...extra,
    });

    test("remembered login: the next flow has skip=true, the same subject, sid and auth_time", async () => {
      const browser = new Browser(env);
      const first = readResponse(await runFlow(browser, params(), { login: { subject: "carol", remember: true, remember_for: 3600 } }));
      const firstClaims = await verifyIdToken(env, first.params.id_token!, client.client_id);
      const sessionCookie = browser.setCookies.find((c) => c.name === "oauth2_authentication_session_insecure")!;
      expect(sessionCookie.attributes).toEqual(expect.arrayContaining(["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=3600"]));
      expect(sessionCookie.attributes).not.toContain("Secure");

      const stop = await browser.navigate(authPath(params()));
      const challenge = challengeFrom(stop, "login");
      const login = await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`);
      expect(login.body.skip).toBe(true);
      expect(login.body.subject).toBe("carol");
      expect(login.body.session_id).toBe(firstClaims.sid);
      // A skipped login can only be accepted for the same subject.
      const other = await admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, jsonInit({ subject: "mallory" }));
      expect(other.status).toBe(400);
      expect(other.body.error_description).toContain("Field 'subject' does not match subject from previous authentication.");
      const redirectTo = await acceptLogin(env, challenge, { subject: "carol" });
      const consent = challengeFrom(await browser.navigate(redirectTo), "consent");
      const second = readResponse(await browser.navigate(await acceptConsent(env, consent)));
      const secondClaims = await verifyIdToken(env, second.params.id_token!, client.client_id);
      expect(secondClaims.sub).toBe("carol");
      expect(secondClaims.sid).toBe(firstClaims.sid);
      expect(secondClaims.auth_time).toBe(firstClaims.auth_time);
    });

    test("remember=false: no session cookie, and the next flow asks for the login again", async () => {
      const browser = new Browser(env);
      await runFlow(browser, params(), { login: { subject: "dave", remember: false } });
      expect(browser.cookies.has("oauth2_authentication_session_insecure")).toBe(false);
      const challenge = challengeFrom(await browser.navigate(authPath(params())), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`)).body).toMatchObject({ skip: false, subject: "" });
    });

    test("a login without remember forgets the browser's earlier remembered session", async () => {
      const browser = new Browser(env);
      await runFlow(browser, params(), { login: { subject: "erin", remember: true } });
      expect(browser.cookies.has("oauth2_authentication_session_insecure")).toBe(true);
      // prompt=login forces a fresh login; this time the user does not want to be remembered.
      await runFlow(browser, params({ prompt: "login" }), { login: { subject: "erin", remember: false } });
      expect(browser.cookies.has("oauth2_authentication_session_insecure")).toBe(false);
      const challenge = challengeFrom(await browser.navigate(authPath(params())), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`)).body.skip).toBe(false);
    });

    test("a forged or foreign session cookie is ignored", async () => {
      const browser = new Browser(env);
      browser.cookies.set("oauth2_authentication_session_insecure", "some-sid.forged-mac");
      const challenge = challengeFrom(await browser.navigate(authPath(params())), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`)).body.skip).toBe(false);
    });

    test("remembered consent: skip=true for the same client and subject while it covers the scopes; skip never remembers", async () => {
      const browser = new Browser(env);
      await runFlow(browser, params({ scope: "openid profile" }), {
        login: { subject: "frank", remember: true },
        consent: { grant_scope: ["openid", "profile"], remember: true, remember_for: 0 },
      });
      // Covered: consent skip=true.
      const again = await browser.navigate(authPath(params({ scope: "openid" })));
      const consentChallenge = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(again, "login"), { subject: "frank" })), "consent");
      const consent = await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${consentChallenge}`);
      expect(consent.body.skip).toBe(true);
      await browser.navigate(await acceptConsent(env, consentChallenge));
      // A scope not granted before: asked again.
      const wider = await browser.navigate(authPath(params({ scope: "openid email" })));
      const widerConsent = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(wider, "login"), { subject: "frank" })), "consent");
      expect((await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${widerConsent}`)).body.skip).toBe(false);
      // prompt=consent: asked again.
      const forced = await browser.navigate(authPath(params({ prompt: "consent" })));
      const forcedConsent = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(forced, "login"), { subject: "frank" })), "consent");
      expect((await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${forcedConsent}`)).body.skip).toBe(false);
      // Another subject in another browser: asked.
      const other = new Browser(env);
      const otherStop = await other.navigate(authPath(params()));
      const otherConsent = challengeFrom(await other.navigate(await acceptLogin(env, challengeFrom(otherStop, "login"), { subject: "grace" })), "consent");
      expect((await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${otherConsent}`)).body.skip).toBe(false);
    });

    test("a consent remembered with remember_for expires", async () => {
      const browser = new Browser(env);
      await runFlow(browser, params(), { login: { subject: "heidi", remember: true }, consent: { grant_scope: ["openid", "profile"], remember: true, remember_for: 1 } });
      await Bun.sleep(1100);
      const stop = await browser.navigate(authPath(params()));
      const consentChallenge = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(stop, "login"), { subject: "heidi" })), "consent");
      expect((await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${consentChallenge}`)).body.skip).toBe(false);
    });

    test("a public client with a private-use scheme redirect (no proof of identity) is always asked for consent", async () => {
      const native = await createClient(env, { redirect_uris: ["com.example.app:/callback"] });
      const browser = new Browser(env);
      const p = () => ({ client_id: native.client_id, response_type: "code", scope: "openid", state: state() });
      const first = readResponse(
        await runFlow(browser, p(), { login: { subject: "ivan", remember: true }, consent: { grant_scope: ["openid"], remember: true } }),
      );
      expect(first.target).toBe("com.example.app:/callback");
      expect(first.params.code).toBeDefined();
      const stop = await browser.navigate(authPath(p()));
      const consentChallenge = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(stop, "login"), { subject: "ivan" })), "consent");
      expect((await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${consentChallenge}`)).body.skip).toBe(false);
    });

    test("DELETE /oauth2/auth/sessions/login?subject= forgets the remembered login", async () => {
      const browser = new Browser(env);
      await runFlow(browser, params(), { login: { subject: "judy", remember: true } });
      const before = challengeFrom(await browser.navigate(authPath(params())), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${before}`)).body.skip).toBe(true);
      expect((await admin(env, "/oauth2/auth/sessions/login?subject=judy", { method: "DELETE" })).status).toBe(204);
      const after = challengeFrom(await browser.navigate(authPath(params())), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${after}`)).body.skip).toBe(false);
      // Nothing to delete is still 204; no subject is 400.
      expect((await admin(env, "/oauth2/auth/sessions/login?subject=nobody", { method: "DELETE" })).status).toBe(204);
      const missing = await admin(env, "/oauth2/auth/sessions/login", { method: "DELETE" });
      expect(missing.status).toBe(400);
      expect(missing.body.error_description).toContain("Query parameter 'subject' is not defined but should have been.");
    });
  });
}

describe("cookie attributes follow the issuer and serve.cookies", () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "flows_cookies", { urls: { self: { issuer: "https://auth.example.com/tenant/" } }, serve: { cookies: { same_site_mode: "None" } } });
  }, startTimeout);
  afterAll(async () => {
    await env?.stop();
  });

  test("https issuer: Secure, no _insecure suffix, SameSite=None, Path from the issuer; one CSRF cookie per flow", async () => {
    const client = await createClient(env);
    const res = await env.server.publicFetch(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() }), { redirect: "manual" });
    expect(res.status).toBe(302);
    const [cookie] = res.headers.getSetCookie();
    expect(cookie).toMatch(/^oauth2_authentication_csrf_[A-Za-z0-9_-]{12}=[0-9a-f]{32}\.[A-Za-z0-9_-]+; Path=\/tenant\/; HttpOnly; SameSite=None; Secure; Max-Age=1800$/);
    const other = await env.server.publicFetch(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() }), { redirect: "manual" });
    expect(other.headers.getSetCookie()[0]!.split("=")[0]).not.toBe(cookie!.split("=")[0]);
  });
});
