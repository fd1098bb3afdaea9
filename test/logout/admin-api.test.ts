/**
 * The admin side of logout (hydra-v1 §1.2): GET /oauth2/auth/requests/logout, PUT
 * …/logout/accept and …/logout/reject with Hydra's bodies and statuses (404 unknown, rejected
 * or expired; 410 used; 409 answered twice), challenges stored only as HMACs; the Hydra SDK
 * 1.11.8 running a logout; discovery's logout fields; and the janitor removing old requests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AdminApi, Configuration } from "@ory/hydra-client";
import { sql } from "drizzle-orm";
import { runJanitor } from "../../src/janitor/janitor.ts";
import { logoutRequests } from "../../src/storage/schema/index.ts";
import { admin, Browser, readResponse, startTimeout, type Env } from "../flows/kit.ts";
import { createRp, errorPage, login, logoutChallengeOf, logoutPath, promptNone, startLogoutEnv } from "./kit.ts";

const registered = "https://client.test/logout";
const path = "/oauth2/auth/requests/logout";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`logout requests (admin API) on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startLogoutEnv(backend, "logout_admin");
      // A confidential client: its secret must never show in a logout request.
      client = await createRp(env, { client_secret: "a-secret-that-must-not-leak", token_endpoint_auth_method: "client_secret_basic" });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    /** A fresh logout request for a fresh login: its challenge, sid and the hint used. */
    async function newRequest(subject: string, params: Record<string, string> = {}) {
      const browser = new Browser(env);
      const { idToken, sid } = await login(browser, client, subject);
      const start = await browser.request(logoutPath({ id_token_hint: idToken, post_logout_redirect_uri: registered, state: "s1", ...params }));
      return { browser, challenge: logoutChallengeOf(start), sid, idToken };
    }

    test("GET: Hydra's LogoutRequest, the client without its secret; only HMACs are stored", async () => {
      const { challenge, sid, idToken } = await newRequest("ann");
      expect(challenge).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      const got = await admin(env, `${path}?logout_challenge=${challenge}`);
      expect(got.status).toBe(200);
      expect(Object.keys(got.body).sort()).toEqual(["challenge", "client", "request_url", "rp_initiated", "sid", "subject"]);
      expect(got.body).toMatchObject({ challenge, subject: "ann", sid, rp_initiated: true, client: { client_id: client.client_id } });
      expect(got.body.client).not.toHaveProperty("client_secret");
      expect(JSON.stringify(got.body)).not.toContain("a-secret-that-must-not-leak");
      const requestUrl = new URL(got.body.request_url);
      expect(`${requestUrl.origin}${requestUrl.pathname}`).toBe(`${env.server.deps.config.urls.self.public}oauth2/sessions/logout`.replace(/\/$/, ""));
      expect(requestUrl.searchParams.get("id_token_hint")).toBe(idToken);
      // The legacy ?challenge= works too.
      expect((await admin(env, `${path}?challenge=${challenge}`)).body.challenge).toBe(challenge);
      // Stored as an HMAC, never in clear.
      const rows = await env.server.deps.db.select().from(logoutRequests);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.some((r) => r.challenge === challenge || r.challenge.includes(challenge))).toBe(false);
    });

    test("accept: 200 redirect_to the end-session endpoint; again: 409; after use: GET and accept 410 with redirect_to", async () => {
      const { browser, challenge } = await newRequest("ben");
      const accepted = await admin(env, `${path}/accept?logout_challenge=${challenge}`, { method: "PUT" });
      expect(accepted.status).toBe(200);
      expect(Object.keys(accepted.body)).toEqual(["redirect_to"]);
      const redirectTo = new URL(accepted.body.redirect_to);
      expect(`${redirectTo.origin}${redirectTo.pathname}`).toBe(`${env.server.deps.config.urls.self.public}oauth2/sessions/logout`);
      expect(redirectTo.searchParams.get("logout_verifier")).toMatch(/^[0-9a-f-]{36}$/);
      // Still visible until the verifier is used.
      const visible = await admin(env, `${path}?logout_challenge=${challenge}`);
      expect(visible.status).toBe(200);
      const twice = await admin(env, `${path}/accept?logout_challenge=${challenge}`, { method: "PUT" });
      expect(twice.status).toBe(409);
      expect((await admin(env, `${path}/reject?logout_challenge=${challenge}`, { method: "PUT" })).status).toBe(409);

      expect((await browser.request(accepted.body.redirect_to)).headers.get("location")).toBe(`${registered}?state=s1`);
      const gone = await admin(env, `${path}?logout_challenge=${challenge}`);
      expect(gone.status).toBe(410);
      expect(gone.body).toEqual({ redirect_to: visible.body.request_url });
      expect((await admin(env, `${path}/accept?logout_challenge=${challenge}`, { method: "PUT" })).status).toBe(410);
    });

    test("reject: 204, then the request is invisible (404) and the user stays logged in", async () => {
      const { browser, challenge } = await newRequest("cid");
      const rejected = await env.server.adminFetch(`${path}/reject?logout_challenge=${challenge}`, {
        method: "PUT",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ error: "ignored", error_description: "Hydra ignores the body" }),
      });
      expect(rejected.status).toBe(204);
      expect(await rejected.text()).toBe("");
      expect((await admin(env, `${path}?logout_challenge=${challenge}`)).status).toBe(404);
      expect((await admin(env, `${path}/accept?logout_challenge=${challenge}`, { method: "PUT" })).status).toBe(404);
      expect((await admin(env, `${path}/reject?logout_challenge=${challenge}`, { method: "PUT" })).status).toBe(404);
      expect(readResponse(await promptNone(browser, client, "cid")).params.id_token).toBeDefined();
    });

    test("unknown challenge: 404 on all three; missing challenge: 400", async () => {
      for (const [method, p] of [
        ["GET", path],
        ["PUT", `${path}/accept`],
        ["PUT", `${path}/reject`],
      ] as const) {
        const unknown = await admin(env, `${p}?logout_challenge=00000000-0000-4000-8000-000000000000`, { method });
        expect({ p, status: unknown.status, error: unknown.body.error }).toEqual({ p, status: 404, error: "Not Found" });
        expect((await admin(env, `${p}?logout_challenge=${"x".repeat(1000)}`, { method })).status).toBe(404);
        const missing = await admin(env, p, { method });
        expect({ p, status: missing.status, error: missing.body.error }).toEqual({ p, status: 400, error: "invalid_request" });
      }
    });

    test("expiry (ttl.login_consent_request, unlike Hydra v1): an expired request is 404; an expired verifier ends on the error page", async () => {
      const db = env.server.deps.db;
      const expire = () => db.update(logoutRequests).set({ expiresAt: sql`now() - interval '1 second'` }).where(sql`${logoutRequests.subject} = 'dee'`);
      const unanswered = await newRequest("dee");
      await expire();
      expect((await admin(env, `${path}?logout_challenge=${unanswered.challenge}`)).status).toBe(404);
      expect((await admin(env, `${path}/accept?logout_challenge=${unanswered.challenge}`, { method: "PUT" })).status).toBe(404);

      const answered = await newRequest("dee");
      const redirectTo = (await admin(env, `${path}/accept?logout_challenge=${answered.challenge}`, { method: "PUT" })).body.redirect_to;
      await expire();
      const res = await answered.browser.request(redirectTo);
      expect(res.headers.get("location")!.split("?")[0]).toBe(errorPage(env));
      expect(readResponse(await promptNone(answered.browser, client, "dee")).params.id_token).toBeDefined();
    });

    test("the janitor's requests group deletes logout requests older than the request lifespan", async () => {
      await newRequest("eve");
      const db = env.server.deps.db;
      const total = async () => (await db.select().from(logoutRequests)).length;
      const before = await total();
      const options = (now: Date) => ({
        cutoffs: { now, notAfter: now, refreshGraceMs: 0 },
        limit: 10_000,
        batchSize: 2,
        groups: new Set(["requests"] as const),
        requestLifespanMs: 30 * 60_000,
      });
      const young = await runJanitor(db, options(new Date()));
      expect(young.find((r) => r.table === "oauth2_logout_requests")!.deleted).toBe(0);
      expect(await total()).toBe(before);
      const later = await runJanitor(db, options(new Date(Date.now() + 31 * 60_000)));
      expect(later.find((r) => r.table === "oauth2_logout_requests")!.deleted).toBe(before);
      expect(await total()).toBe(0);
    });

    test("discovery: end_session_endpoint and the four logout flags", async () => {
      const doc = (await (await env.server.publicFetch("/.well-known/openid-configuration")).json()) as Record<string, unknown>;
      expect(doc).toMatchObject({
        end_session_endpoint: `${env.server.deps.config.urls.self.issuer}oauth2/sessions/logout`,
        frontchannel_logout_supported: true,
        frontchannel_logout_session_supported: true,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
      });
    });
  });
}

describe("Hydra SDK 1.11.8 (AdminApi) runs a logout", () => {
  let env: Env;
  beforeAll(async () => {
    env = await startLogoutEnv("PostgreSQL", "logout_sdk");
  }, startTimeout);
  afterAll(async () => {
    await env?.stop();
  });

  test("getLogoutRequest, acceptLogoutRequest; rejectLogoutRequest; errors as AxiosErrors with Hydra's statuses", async () => {
    const hydra = new AdminApi(new Configuration({ basePath: env.server.adminUrl }));
    const client = await createRp(env);
    const browser = new Browser(env);
    const { idToken, sid } = await login(browser, client, "sdk-user");
    const challenge = logoutChallengeOf(await browser.request(logoutPath({ id_token_hint: idToken, post_logout_redirect_uri: registered, state: "sdk" })));

    const request = (await hydra.getLogoutRequest(challenge)).data;
    expect(request).toMatchObject({ challenge, subject: "sdk-user", sid, rp_initiated: true, client: { client_id: client.client_id } });
    const completed = (await hydra.acceptLogoutRequest(challenge)).data;
    const done = await browser.request(completed.redirect_to);
    expect(done.headers.get("location")).toBe(`${registered}?state=sdk`);
    expect(readResponse(await promptNone(browser, client)).params.error).toBe("login_required");
    await expect(hydra.getLogoutRequest(challenge)).rejects.toMatchObject({ response: { status: 410 } });

    const other = new Browser(env);
    await login(other, client, "sdk-user-2");
    const second = logoutChallengeOf(await other.request(logoutPath({})));
    expect((await hydra.getLogoutRequest(second)).data).toMatchObject({ challenge: second, subject: "sdk-user-2", rp_initiated: false });
    expect((await hydra.rejectLogoutRequest(second, { error: "no" })).status).toBe(204);
    await expect(hydra.acceptLogoutRequest(second)).rejects.toMatchObject({ response: { status: 404 } });
    // The Hydra v1 admin session API, subject variant.
    expect((await hydra.revokeAuthenticationSession("sdk-user-2")).status).toBe(204);
    expect(readResponse(await promptNone(other, client)).params.error).toBe("login_required");
  });
});
