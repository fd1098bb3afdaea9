/**
 * @module What the live-flow fuzzer (fuzz.test.ts, long run) found, kept as fixed cases: an
 * unpaired UTF-16 surrogate spelled in JSON (`"\udfff"`) reached jsonb as an escape PostgreSQL
 * refuses (500 on client creation, login accept and reject); a remember_for beyond the integer
 * column failed at store time (500 on consent accept, and on the later /oauth2/auth for login
 * accept); a consent challenge with a NUL reached the UPDATE that stores it as request_id (500
 * on consent accept/reject). Surrogates are now read as U+FFFD, as Go's decoder does (Hydra);
 * remember_for over 2^31-1 is a 400; a challenge with a NUL is unknown (404).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { acceptLogin, admin, authPath, Browser, challengeFrom, createClient, jsonInit, q, startEnv, startTimeout, state, type Env } from "../flows/kit.ts";

/** JSON text with a lone surrogate escape: JSON.stringify would write a well-formed string. */
const withLoneSurrogate = (json: string) => ({ method: "PUT", headers: { "Content-Type": "application/json" }, body: json.replaceAll("LONE", "\\udfff") });

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`fuzz findings on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "reliability_fuzz_findings");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const loginChallenge = async (browser: Browser) =>
      challengeFrom(await browser.navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state(), prompt: "login" })), "login");

    test("an unpaired surrogate in a client, a login accept or a login reject is stored as U+FFFD, not a 500", async () => {
      const created = await admin(env, "/clients", { ...withLoneSurrogate('{"client_name":"aLONEb","metadata":{"kLONE":"v"}}'), method: "POST" });
      expect(created.status).toBe(201);
      expect(created.body.client_name).toBe("a\ufffdb");
      expect(created.body.metadata).toEqual({ "k\ufffd": "v" });

      const browser = new Browser(env);
      const accepted = await admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${q(await loginChallenge(browser))}`, withLoneSurrogate('{"subject":"sLONE","context":{"a":"LONE"}}'));
      expect(accepted.status).toBe(200);
      const consent = challengeFrom(await browser.navigate(accepted.body.redirect_to), "consent");
      const seen = await admin(env, `/oauth2/auth/requests/consent?consent_challenge=${q(consent)}`);
      expect(seen.body.subject).toBe("s\ufffd");
      expect(seen.body.context).toEqual({ a: "\ufffd" });

      const rejected = await admin(env, `/oauth2/auth/requests/login/reject?login_challenge=${q(await loginChallenge(new Browser(env)))}`, withLoneSurrogate('{"error":"login_required","error_hint":"LONE","error_debug":"LONE"}'));
      expect(rejected.status).toBe(200);
    });

    test("a login or consent challenge with a NUL appended is 404 on GET, accept and reject, never a 500", async () => {
      const browser = new Browser(env);
      const login = await loginChallenge(browser);
      for (const path of ["login", "login/accept", "login/reject"]) {
        const res = await admin(env, `/oauth2/auth/requests/${path}?login_challenge=${q(`${login}\0`)}`, path === "login" ? {} : jsonInit(path.endsWith("reject") ? { error: "access_denied" } : { subject: "alice" }));
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
      const consent = challengeFrom(await browser.navigate(await acceptLogin(env, login)), "consent");
      for (const path of ["consent", "consent/accept", "consent/reject"]) {
        const res = await admin(env, `/oauth2/auth/requests/${path}?consent_challenge=${q(`${consent}\0`)}`, path === "consent" ? {} : jsonInit(path.endsWith("reject") ? { error: "access_denied" } : { grant_scope: ["openid"] }));
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
    });

    test("remember_for beyond 2^31-1 is a 400 on login and consent accept; 2^31-1 is fine", async () => {
      const browser = new Browser(env);
      const login = await loginChallenge(browser);
      const tooLong = await admin(env, `/oauth2/auth/requests/login/accept?login_challenge=${q(login)}`, jsonInit({ subject: "alice", remember: true, remember_for: 2 ** 31 }));
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.error_description).toContain("remember_for");
      const consent = challengeFrom(await browser.navigate(await acceptLogin(env, login, { subject: "alice", remember: true, remember_for: 2 ** 31 - 1 })), "consent");
      const consentTooLong = await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${q(consent)}`, jsonInit({ grant_scope: ["openid"], remember: true, remember_for: 2 ** 40 }));
      expect(consentTooLong.status).toBe(400);
      const ok = await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${q(consent)}`, jsonInit({ grant_scope: ["openid"], remember: true, remember_for: 2 ** 31 - 1 }));
      expect(ok.status).toBe(200);
      const done = await browser.navigate(ok.body.redirect_to);
      expect(done.location).toStartWith("https://client.test/cb?code=");
    });
  });
}
