/**
 * The admin login/consent request endpoints (Hydra v1 consent/handler.go): exact wire bodies,
 * 400/404/409/410, legacy `challenge`, unknown body fields, repeated consent answers.
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
  issuer,
  jsonInit,
  q,
  readResponse,
  startEnv,
  startTimeout,
  state,
  type Env,
} from "./kit.ts";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`admin login/consent requests on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_admin");
      // A confidential client: its secret must never show in a login or consent request.
      client = await createClient(env, { token_endpoint_auth_method: "client_secret_basic", client_secret: "a-secret-of-sufficient-length" });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const start = async (browser: Browser, extra: Record<string, string> = {}) => {
      const s = state();
      const stop = await browser.navigate(
        authPath({ client_id: client.client_id, response_type: "code", scope: "openid offline_access", state: s, audience: "", ...extra }),
      );
      return { challenge: challengeFrom(stop, "login"), state: s, stop };
    };

    test("GET login request: Hydra's LoginRequest, client without secret; legacy `challenge` works too", async () => {
      const browser = new Browser(env);
      const { challenge, stop } = await start(browser, { login_hint: "alice@example.com", ui_locales: "de en", acr_values: "1 2", display: "page" });
      expect(stop.status).toBe(302);
      expect(stop.location).toStartWith("https://login.test/login?login_challenge=");
      expect(challenge).toMatch(/^[0-9a-f]{32}$/);
      const got = await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`);
      expect(got.status).toBe(200);
      expect(got.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(Object.keys(got.body)).toEqual([
        "challenge",
        "requested_scope",
        "requested_access_token_audience",
        "skip",
        "subject",
        "oidc_context",
        "client",
        "request_url",
        "session_id",
      ]);
      expect(got.body).toMatchObject({
        challenge,
        requested_scope: ["openid", "offline_access"],
        requested_access_token_audience: [],
        skip: false,
        subject: "",
        oidc_context: { acr_values: ["1", "2"], display: "page", login_hint: "alice@example.com", ui_locales: ["de", "en"] },
      });
      expect(got.body.client.client_id).toBe(client.client_id);
      expect(got.body.client.client_secret).toBeUndefined();
      expect(got.body.request_url).toStartWith(`${issuer}oauth2/auth?client_id=${client.client_id}&`);
      expect(got.body.session_id).toMatch(/^[0-9a-f-]{36}$/);
      const legacy = await admin(env, `/oauth2/auth/requests/login?challenge=${challenge}`);
      expect(legacy.status).toBe(200);
      expect(legacy.body.challenge).toBe(challenge);
    });

    test("400 without a challenge, 404 for an unknown one (Hydra's bodies)", async () => {
      for (const path of ["/oauth2/auth/requests/login", "/oauth2/auth/requests/consent", "/oauth2/auth/requests/login/accept"]) {
        const res = await admin(env, path, path.endsWith("accept") ? jsonInit({ subject: "a" }) : undefined);
        expect(res.status).toBe(400);
        expect(res.body).toEqual({
          error: "invalid_request",
          error_description:
            "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. Query parameter 'challenge' is not defined but should have been.",
        });
      }
      for (const [path, init] of [
        ["/oauth2/auth/requests/login?login_challenge=00000000000000000000000000000000", undefined],
        ["/oauth2/auth/requests/consent?consent_challenge=00000000000000000000000000000000", undefined],
        ["/oauth2/auth/requests/login/accept?login_challenge=nope", jsonInit({ subject: "a" })],
        ["/oauth2/auth/requests/login/reject?login_challenge=nope", jsonInit({})],
        ["/oauth2/auth/requests/consent/accept?consent_challenge=nope", jsonInit({})],
        ["/oauth2/auth/requests/consent/reject?consent_challenge=nope", jsonInit({})],
      ] as const) {
        const res = await admin(env, path, init);
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ error: "Not Found", error_description: "Unable to locate the requested resource" });
      }
    });

    test("accept login: 200 redirect_to with a login_verifier; a second answer is 409; after redemption GET is 410", async () => {
      const browser = new Browser(env);
      const { challenge } = await start(browser);
      const accepted = await admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, jsonInit({ subject: "alice", remember: false }));
      expect(accepted.status).toBe(200);
      expect(Object.keys(accepted.body)).toEqual(["redirect_to"]);
      const redirectTo = new URL(accepted.body.redirect_to);
      expect(redirectTo.origin + redirectTo.pathname).toBe(`${issuer}oauth2/auth`);
      expect(redirectTo.searchParams.get("login_verifier")).toMatch(/^[0-9a-f]{32}$/);
      expect(redirectTo.searchParams.get("client_id")).toBe(client.client_id);
      // Still visible until the verifier is redeemed.
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`)).status).toBe(200);
      const again = await admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${challenge}`, jsonInit({ subject: "alice" }));
      expect(again.status).toBe(409);
      expect(again.body.error).toBe("Conflict");
      const reject = await admin(env, `/oauth2/auth/requests/login/reject?login_challenge=${challenge}`, jsonInit({}));
      expect(reject.status).toBe(409);

      const stop = await browser.navigate(accepted.body.redirect_to);
      const consentChallenge = challengeFrom(stop, "consent");
      const gone = await admin(env, `/oauth2/auth/requests/login?login_challenge=${challenge}`);
      expect(gone.status).toBe(410);
      expect(gone.body).toEqual({ redirect_to: expect.stringContaining(`${issuer}oauth2/auth?client_id=`) });
      expect(gone.body.redirect_to).not.toContain("login_verifier");
      expect(consentChallenge).toMatch(/^[0-9a-f]{32}$/);
    });

    test("accept login body: unknown fields, wrong types, empty subject and negative remember_for are 400", async () => {
      const browser = new Browser(env);
      const { challenge } = await start(browser);
      const url = `/oauth2/auth/requests/login/accept?login_challenge=${challenge}`;
      for (const [body, hint] of [
        [{ subject: "alice", unknown: 1 }, "json: unknown field 'unknown'"],
        [{ subject: 5 }, "json: field 'subject'"],
        [{ subject: "alice", remember: "yes" }, "json: field 'remember'"],
        [{ subject: "alice", remember_for: -1 }, "json: field 'remember_for'"],
        [{ subject: "alice", amr: "pwd" }, "json: field 'amr'"],
        [{}, "Field 'subject' must not be empty."],
        [{ subject: "" }, "Field 'subject' must not be empty."],
      ] as const) {
        const res = await admin(env, url, jsonInit(body));
        expect(res.status).toBe(400);
        expect(res.body.error).toBe("invalid_request");
        expect(res.body.error_description).toContain(hint);
      }
      for (const raw of ["", "not json", "[1]"]) {
        const res = await admin(env, url, { method: "PUT", headers: { "Content-Type": "application/json" }, body: raw });
        expect(res.status).toBe(400);
        expect(res.body.error_description).toContain("Unable to decode body because");
      }
      // None of it answered the request.
      expect((await admin(env, url, jsonInit({ subject: "alice" }))).status).toBe(200);
    });

    test("GET consent request: Hydra's ConsentRequest with login_challenge, acr, amr, context", async () => {
      const browser = new Browser(env);
      const { challenge } = await start(browser);
      const redirectTo = await acceptLogin(env, challenge, { subject: "bob", acr: "urn:mace:incommon:iap:silver", amr: ["pwd", "otp"], context: { tenant: "t1" } });
      const consentChallenge = challengeFrom(await browser.navigate(redirectTo), "consent");
      const got = await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${consentChallenge}`);
      expect(got.status).toBe(200);
      expect(Object.keys(got.body)).toEqual([
        "challenge",
        "requested_scope",
        "requested_access_token_audience",
        "skip",
        "subject",
        "oidc_context",
        "client",
        "request_url",
        "login_challenge",
        "login_session_id",
        "acr",
        "amr",
        "context",
      ]);
      expect(got.body).toMatchObject({
        challenge: consentChallenge,
        requested_scope: ["openid", "offline_access"],
        requested_access_token_audience: [],
        skip: false,
        subject: "bob",
        oidc_context: {},
        login_challenge: challenge,
        acr: "urn:mace:incommon:iap:silver",
        amr: ["pwd", "otp"],
        context: { tenant: "t1" },
      });
      expect(got.body.client.client_secret).toBeUndefined();
      expect((await admin(env, `/oauth2/auth/requests/consent?challenge=${consentChallenge}`)).body.challenge).toBe(consentChallenge);
    });

    test("accept consent may be repeated (same verifier, last answer wins) until redeemed; then 409 and GET 410", async () => {
      const browser = new Browser(env);
      const { challenge, state: s } = await start(browser);
      const consentChallenge = challengeFrom(await browser.navigate(await acceptLogin(env, challenge)), "consent");
      const url = `/oauth2/auth/requests/consent/accept?consent_challenge=${consentChallenge}`;
      const first = await admin(env, url, jsonInit({ grant_scope: ["openid"] }));
      const second = await admin(env, url, jsonInit({ grant_scope: ["openid", "offline_access"], handled_at: "2020-01-01T00:00:00Z" }));
      expect(first.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.body.redirect_to).toBe(first.body.redirect_to);
      expect(new URL(first.body.redirect_to).searchParams.get("consent_verifier")).toMatch(/^[0-9a-f]{32}$/);
      const bad = await admin(env, url, jsonInit({ grant_scope: ["openid"], nope: true }));
      expect(bad.status).toBe(400);
      const badSession = await admin(env, url, jsonInit({ session: { access_token: {}, other: {} } }));
      expect(badSession.status).toBe(400);

      const res = readResponse(await browser.navigate(first.body.redirect_to));
      expect(res.params.state).toBe(s);
      expect(res.params.scope).toBe("openid offline_access");
      const after = await admin(env, url, jsonInit({ grant_scope: ["openid"] }));
      expect(after.status).toBe(409);
      expect(after.body).toEqual({
        error: "Conflict",
        error_description: "Unable to insert or update resource because a resource with that value exists already The consent request was already used and can no longer be changed.",
      });
      expect((await admin(env, `/oauth2/auth/requests/consent/reject?consent_challenge=${consentChallenge}`, jsonInit({}))).status).toBe(409);
      const gone = await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${consentChallenge}`);
      expect(gone.status).toBe(410);
      expect(Object.keys(gone.body)).toEqual(["redirect_to"]);
    });

    test("reject login with custom error fields: delivered to the client (status_code has no effect on a redirect)", async () => {
      const browser = new Browser(env);
      const { challenge, state: s } = await start(browser);
      const rejected = await admin(
        env,
        `/oauth2/auth/requests/login/reject?login_challenge=${challenge}`,
        jsonInit({ error: "access_denied", error_description: "The user said no", error_hint: "Try again later", status_code: 403, error_debug: "secret-debug" }),
      );
      expect(rejected.status).toBe(200);
      expect(new URL(rejected.body.redirect_to).searchParams.get("login_verifier")).toMatch(/^[0-9a-f]{32}$/);
      const res = readResponse(await browser.navigate(rejected.body.redirect_to));
      expect(res.target).toBe("https://client.test/cb");
      expect(res.params).toEqual({ error: "access_denied", error_description: "The user said no Try again later", state: s });
    });

    test("reject login and consent with an empty body: Hydra's default error names", async () => {
      const browser = new Browser(env);
      const first = await start(browser);
      const rejected = await admin(env, `/oauth2/auth/requests/login/reject?login_challenge=${first.challenge}`, jsonInit({}));
      expect(readResponse(await browser.navigate(rejected.body.redirect_to)).params).toEqual({ error: "login request denied", state: first.state });

      const second = await start(browser);
      const consentChallenge = challengeFrom(await browser.navigate(await acceptLogin(env, second.challenge)), "consent");
      const denied = await admin(
        env,
        `/oauth2/auth/requests/consent/reject?consent_challenge=${q(consentChallenge)}`,
        jsonInit({ error: "consent_required", error_description: "No consent", status_code: 401 }),
      );
      expect(denied.status).toBe(200);
      expect(readResponse(await browser.navigate(denied.body.redirect_to)).params).toEqual({
        error: "consent_required",
        error_description: "No consent",
        state: second.state,
      });
      const third = await start(browser);
      const consent3 = challengeFrom(await browser.navigate(await acceptLogin(env, third.challenge)), "consent");
      const plain = await admin(env, `/oauth2/auth/requests/consent/reject?consent_challenge=${q(consent3)}`, jsonInit({}));
      expect(readResponse(await browser.navigate(plain.body.redirect_to)).params).toEqual({ error: "consent request denied", state: third.state });
      // A reject after an accept changes the answer (still before redemption).
      const fourth = await start(browser);
      const consent4 = challengeFrom(await browser.navigate(await acceptLogin(env, fourth.challenge)), "consent");
      await acceptConsent(env, consent4);
      const changed = await admin(env, `/oauth2/auth/requests/consent/reject?consent_challenge=${q(consent4)}`, jsonInit({ error: "access_denied" }));
      expect(readResponse(await browser.navigate(changed.body.redirect_to)).params.error).toBe("access_denied");
    });
  });
}
