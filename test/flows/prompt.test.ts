/**
 * prompt (none, login, consent, select_account), max_age and id_token_hint, as the OIDC
 * conformance modules oidcc-prompt-*, oidcc-max-age-*, oidcc-id-token-hint exercise them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT, generateKeyPair } from "jose";
import { buildIdToken } from "../../src/oauth2/id-token.ts";
import { acceptLogin, admin, authPath, Browser, challengeFrom, createClient, nonce, readResponse, runFlow, startEnv, startTimeout, state, verifyIdToken, type Env } from "./kit.ts";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`prompt, max_age, id_token_hint on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_prompt");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const params = (extra: Record<string, string> = {}) => ({
      client_id: client.client_id,
      response_type: "id_token",
      scope: "openid",
      state: state(),
      nonce: nonce(),
      ...extra,
    });

    /** Logs in with remember and remembered consent; returns the browser and the first ID token's claims. */
    const loggedIn = async (subject: string) => {
      const browser = new Browser(env);
      const res = readResponse(
        await runFlow(browser, params(), { login: { subject, remember: true }, consent: { grant_scope: ["openid"], remember: true } }),
      );
      return { browser, idToken: res.params.id_token!, claims: await verifyIdToken(env, res.params.id_token!, client.client_id) };
    };

    test("prompt=none without a session: login_required at the client, no login app involved", async () => {
      const s = state();
      const stop = await new Browser(env).navigate(authPath(params({ prompt: "none", state: s })));
      expect(stop.hops).toHaveLength(1);
      const res = readResponse(stop);
      expect(res.mode).toBe("fragment");
      expect(res.params.error).toBe("login_required");
      expect(res.params.state).toBe(s);
    });

    test("prompt=none with a session and remembered consent: silent success, same sub and auth_time", async () => {
      const { browser, claims } = await loggedIn("p-none");
      // The login app still answers the skipped login (as Hydra); no UI is involved.
      const stop = await runFlow(browser, params({ prompt: "none" }), { login: { subject: "p-none" } });
      const res = readResponse(stop);
      const again = await verifyIdToken(env, res.params.id_token!, client.client_id);
      expect(again.sub).toBe("p-none");
      expect(again.auth_time).toBe(claims.auth_time);
    });

    test("prompt=none with a session but no remembered consent: consent_required", async () => {
      const browser = new Browser(env);
      await runFlow(browser, params(), { login: { subject: "p-noconsent", remember: true } });
      const start = await browser.navigate(authPath(params({ prompt: "none" })));
      const stop = await browser.navigate(await acceptLogin(env, challengeFrom(start, "login"), { subject: "p-noconsent" }));
      expect(readResponse(stop).params.error).toBe("consent_required");
    });

    test("prompt=login forces a fresh login (skip=false) and a new auth_time", async () => {
      const { browser, claims } = await loggedIn("p-login");
      await Bun.sleep(1000);
      const start = await browser.navigate(authPath(params({ prompt: "login" })));
      const challenge = challengeFrom(start, "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`)).body.skip).toBe(false);
      const stop = await runFlow(browser, params({ prompt: "login" }), { login: { subject: "p-login", remember: true } });
      const again = await verifyIdToken(env, readResponse(stop).params.id_token!, client.client_id);
      expect(again.auth_time as number).toBeGreaterThan(claims.auth_time as number);
    });

    test("max_age: a session older than max_age asks for the login again; a younger one is reused", async () => {
      const { browser, claims } = await loggedIn("p-maxage");
      const young = challengeFrom(await browser.navigate(authPath(params({ max_age: "15000" }))), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${young}`)).body.skip).toBe(true);
      await Bun.sleep(1100);
      const old = challengeFrom(await browser.navigate(authPath(params({ max_age: "1" }))), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${old}`)).body.skip).toBe(false);
      const withNone = readResponse(await browser.navigate(authPath(params({ max_age: "1", prompt: "none" }))));
      expect(withNone.params.error).toBe("login_required");
      const zero = challengeFrom(await browser.navigate(authPath(params({ max_age: "0" }))), "login");
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${zero}`)).body.skip).toBe(false);
      expect(claims.auth_time).toBeDefined();
    });

    test("id_token_hint of the session's user: skip with its claims in oidc_context; expired hints are accepted", async () => {
      const { browser, idToken, claims } = await loggedIn("p-hint");
      const challenge = challengeFrom(await browser.navigate(authPath(params({ id_token_hint: idToken }))), "login");
      const login = await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`);
      expect(login.body.skip).toBe(true);
      expect(login.body.oidc_context.id_token_hint_claims).toMatchObject({ sub: "p-hint", sid: claims.sid });
      const expired = await buildIdToken(env.server.deps, {
        client: { clientId: client.client_id, lifespans: client as any },
        grant: "implicit",
        subject: "p-hint",
        authTime: new Date(Date.now() - 7200_000),
        requestedAt: new Date(Date.now() - 7200_000),
        now: new Date(Date.now() - 7200_000),
      });
      expect(expired.expiresAt.getTime()).toBeLessThan(Date.now());
      const stop = await runFlow(browser, params({ id_token_hint: expired.token, prompt: "none" }), { login: { subject: "p-hint" } });
      expect(readResponse(stop).params.id_token).toBeDefined();
    });

    test("id_token_hint of someone else: login_required; a hint we did not sign: invalid_request", async () => {
      const { browser } = await loggedIn("p-hint2");
      const someoneElse = await buildIdToken(env.server.deps, {
        client: { clientId: client.client_id, lifespans: client as any },
        grant: "implicit",
        subject: "not-p-hint2",
        authTime: new Date(),
        requestedAt: new Date(),
      });
      expect(readResponse(await browser.navigate(authPath(params({ id_token_hint: someoneElse.token })))).params.error).toBe("login_required");
      const { privateKey } = await generateKeyPair("RS256");
      const forged = await new SignJWT({ sub: "p-hint2" }).setProtectedHeader({ alg: "RS256", kid: "x" }).setIssuedAt().sign(privateKey);
      const res = readResponse(await browser.navigate(authPath(params({ id_token_hint: forged }))));
      expect(res.params.error).toBe("invalid_request");
      expect(res.params.error_description).toContain("id_token_hint");
      // Without a session the hint's subject is checked after the login: a different user fails.
      const fresh = new Browser(env);
      const hint = await buildIdToken(env.server.deps, {
        client: { clientId: client.client_id, lifespans: client as any },
        grant: "implicit",
        subject: "p-hint3",
        authTime: new Date(),
        requestedAt: new Date(),
      });
      const stop = await runFlow(fresh, params({ id_token_hint: hint.token }), { login: { subject: "somebody-else" } });
      expect(readResponse(stop).params.error).toBe("login_required");
    });

    test("prompt values: none with another value and unknown values are invalid_request; select_account is accepted", async () => {
      for (const prompt of ["none login", "none consent", "bogus"]) {
        const res = readResponse(await new Browser(env).navigate(authPath(params({ prompt }))));
        expect(res.params.error).toBe("invalid_request");
      }
      const select = await new Browser(env).navigate(authPath(params({ prompt: "select_account" })));
      expect(select.location).toStartWith("https://login.test/login");
      for (const maxAge of ["-1", "abc", "1.5"]) {
        expect(readResponse(await new Browser(env).navigate(authPath(params({ max_age: maxAge })))).params.error).toBe("invalid_request");
      }
    });
  });
}
