/**
 * What keeps the browser flow safe: verifiers are single-use (also under concurrency), a
 * challenge answers once, flows expire, CSRF cookies bind each flow to its browser, and
 * several flows in one browser (tabs) do not disturb each other.
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
  startEnv,
  startTimeout,
  state,
  type Env,
} from "./kit.ts";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`flow security on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_security");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const params = (s = state()) => ({ client_id: client.client_id, response_type: "code", scope: "openid", state: s });

    test("a login verifier is redeemed once: the replay is access_denied at the client", async () => {
      const browser = new Browser(env);
      const s = state();
      const redirectTo = await acceptLogin(env, challengeFrom(await browser.navigate(authPath(params(s))), "login"));
      expect((await browser.navigate(redirectTo)).location).toStartWith("https://consent.test/consent");
      const replay = readResponse(await browser.navigate(redirectTo));
      expect(replay.target).toBe("https://client.test/cb");
      expect(replay.params).toMatchObject({ error: "access_denied", state: s });
      expect(replay.params.error_description).toContain("The login verifier has already been used, has not been granted, or is invalid.");
    });

    test("a consent verifier is redeemed once: the replay is access_denied and issues nothing", async () => {
      const browser = new Browser(env);
      const s = state();
      const consent = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(await browser.navigate(authPath(params(s))), "login"))), "consent");
      const redirectTo = await acceptConsent(env, consent);
      expect(readResponse(await browser.navigate(redirectTo)).params.code).toBeDefined();
      const replay = readResponse(await browser.navigate(redirectTo));
      expect(replay.params.code).toBeUndefined();
      expect(replay.params).toMatchObject({ error: "access_denied", state: s });
      expect(replay.params.error_description).toContain("The consent verifier has already been used");
    });

    test("an unknown verifier with an invalid request behind it goes to the error page, not to a client", async () => {
      const stop = await new Browser(env).navigate(authPath({ login_verifier: "0".repeat(32), client_id: client.client_id, redirect_uri: "https://evil.test/cb", response_type: "code", state: state() }));
      expect(stop.status).toBe(500);
      expect(stop.hops.at(-1)!.url).toContain("/oauth2/fallbacks/error?error=invalid_request");
      expect(stop.hops.every((h) => !(h.location ?? "").includes("evil.test"))).toBe(true);
    });

    test("CSRF: a verifier redeemed in another browser (no cookie, or another flow's cookie) is request_forbidden", async () => {
      const victim = new Browser(env);
      const attacker = new Browser(env);
      const s = state();
      const redirectTo = await acceptLogin(env, challengeFrom(await victim.navigate(authPath(params(s))), "login"));
      // The attacker has a flow of its own, so a CSRF cookie — just not this flow's.
      await attacker.navigate(authPath(params()));
      const res = readResponse(await attacker.navigate(redirectTo));
      expect(res.params).toMatchObject({ error: "request_forbidden", state: s });
      expect(res.params.error_description).toContain("The CSRF value from the token does not match the CSRF value from the data store.");
      // And the verifier is spent.
      expect(readResponse(await victim.navigate(redirectTo)).params.error).toBe("access_denied");
    });

    test("CSRF: a tampered cookie value (valid name, wrong value) is refused too", async () => {
      const browser = new Browser(env);
      const redirectTo = await acceptLogin(env, challengeFrom(await browser.navigate(authPath(params())), "login"));
      for (const name of browser.cookies.keys()) if (name.startsWith("oauth2_authentication_csrf")) browser.cookies.set(name, `${"f".repeat(32)}.bad`);
      expect(readResponse(await browser.navigate(redirectTo)).params.error).toBe("request_forbidden");
    });

    test("two tabs interleaved in one browser both finish, each with its own state", async () => {
      const browser = new Browser(env);
      const s1 = state();
      const s2 = state();
      const login1 = challengeFrom(await browser.navigate(authPath(params(s1))), "login");
      const login2 = challengeFrom(await browser.navigate(authPath(params(s2))), "login");
      const back2 = await acceptLogin(env, login2, { subject: "tabs" });
      const back1 = await acceptLogin(env, login1, { subject: "tabs" });
      const consent1 = challengeFrom(await browser.navigate(back1), "consent");
      const consent2 = challengeFrom(await browser.navigate(back2), "consent");
      const done2 = readResponse(await browser.navigate(await acceptConsent(env, consent2)));
      const done1 = readResponse(await browser.navigate(await acceptConsent(env, consent1)));
      expect(done1.params).toMatchObject({ state: s1 });
      expect(done2.params).toMatchObject({ state: s2 });
      expect(done1.params.code).toBeDefined();
      expect(done2.params.code).toBeDefined();
      expect(done1.params.code).not.toBe(done2.params.code);
      // Spent CSRF cookies are deleted; none is left behind.
      expect([...browser.cookies.keys()].filter((n) => n.includes("csrf"))).toEqual([]);
    });

    test("N parallel accepts of one login challenge: exactly one verifier, the rest 409", async () => {
      const browser = new Browser(env);
      const challenge = challengeFrom(await browser.navigate(authPath(params())), "login");
      const n = 12;
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) => admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, jsonInit({ subject: `racer-${i}` }))),
      );
      const ok = answers.filter((a) => a.status === 200);
      expect(ok).toHaveLength(1);
      expect(answers.filter((a) => a.status === 409)).toHaveLength(n - 1);
      expect((await browser.navigate(ok[0]!.body.redirect_to)).location).toStartWith("https://consent.test/consent");
    });

    test("N parallel redemptions of one login verifier: exactly one reaches the consent app", async () => {
      const browser = new Browser(env);
      const redirectTo = await acceptLogin(env, challengeFrom(await browser.navigate(authPath(params())), "login"));
      const results = await Promise.all(Array.from({ length: 8 }, () => browser.navigate(redirectTo)));
      expect(results.filter((r) => r.location?.startsWith("https://consent.test/consent"))).toHaveLength(1);
      expect(results.filter((r) => readResponse(r).params.error === "access_denied").length + results.filter((r) => readResponse(r).params.error === "request_forbidden").length).toBe(7);
    });

    test("N parallel redemptions of one consent verifier: exactly one code", async () => {
      const browser = new Browser(env);
      const consent = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(await browser.navigate(authPath(params())), "login"))), "consent");
      const redirectTo = await acceptConsent(env, consent);
      const results = await Promise.all(Array.from({ length: 8 }, () => browser.navigate(redirectTo)));
      expect(results.filter((r) => readResponse(r).params.code !== undefined)).toHaveLength(1);
    });

    test("implicit: nonce is required, and must not be trivially short", async () => {
      const base = { client_id: client.client_id, response_type: "id_token", scope: "openid", state: state() };
      expect(readResponse(await new Browser(env).navigate(authPath(base))).params.error_description).toContain("Parameter 'nonce' must be set");
      expect(readResponse(await new Browser(env).navigate(authPath({ ...base, nonce: "abc" }))).params.error).toBe("invalid_request");
      expect((await new Browser(env).navigate(authPath({ ...base, nonce: nonce() }))).location).toStartWith("https://login.test/login");
    });
  });
}

describe("expired flows", () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "flows_expiry", { ttl: { login_consent_request: "1s" } });
  }, startTimeout);
  afterAll(async () => {
    await env?.stop();
  });

  test("a login verifier redeemed after ttl.login_consent_request: request_unauthorized", async () => {
    const client = await createClient(env);
    const browser = new Browser(env);
    const s = state();
    const redirectTo = await acceptLogin(env, challengeFrom(await browser.navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: s })), "login"));
    await Bun.sleep(2100);
    const res = readResponse(await browser.navigate(redirectTo));
    expect(res.params).toMatchObject({ error: "request_unauthorized", state: s });
    expect(res.params.error_description).toContain("The login request has expired.");
  });

  test("a consent verifier redeemed after ttl.login_consent_request: request_unauthorized, nothing issued", async () => {
    const client = await createClient(env);
    const browser = new Browser(env);
    const start = await browser.navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() }));
    const consent = challengeFrom(await browser.navigate(await acceptLogin(env, challengeFrom(start, "login"))), "consent");
    const redirectTo = await acceptConsent(env, consent);
    await Bun.sleep(2100);
    const res = readResponse(await browser.navigate(redirectTo));
    expect(res.params.error).toBe("request_unauthorized");
    expect(res.params.code).toBeUndefined();
  });
});
