/**
 * Consent sessions (GET/DELETE /oauth2/auth/sessions/consent): Hydra's PreviousConsentSession
 * list with pagination, and revocation that takes the consent's tokens and codes with it
 * (tokens carry the consent challenge as request_id).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { getAuthorizationCode } from "../../src/flows/store.ts";
import { authorizationCodeSignature } from "../../src/oauth2/authorization-code.ts";
import { admin, Browser, createClient, nonce, readResponse, runFlow, startEnv, startTimeout, state, type Env } from "./kit.ts";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`consent sessions on ${backend}`, () => {
    let env: Env;
    let a: Record<string, any>;
    let b: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_sessions");
      a = await createClient(env, { audience: ["https://api.test"] });
      b = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const grant = async (client: Record<string, any>, subject: string, consent: Record<string, unknown> = {}) => {
      const res = readResponse(
        await runFlow(
          new Browser(env),
          { client_id: client.client_id, response_type: "code token", scope: "openid offline_access", state: state(), nonce: nonce() },
          { login: { subject }, consent: { grant_scope: ["openid", "offline_access"], remember: true, remember_for: 3600, ...consent } },
        ),
      );
      expect(res.params.access_token).toBeDefined();
      return res.params as { code: string; access_token: string };
    };
    const introspect = async (token: string) =>
      (await env.server.adminFetch("/oauth2/introspect", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token }) }).then((r) => r.json())) as Record<string, unknown>;

    test("list: Hydra's PreviousConsentSession, newest first, paginated with X-Total-Count and Link", async () => {
      await grant(a, "lister", { session: { access_token: { role: "admin" }, id_token: { email: "l@example.com" } }, grant_access_token_audience: ["https://api.test"] });
      await grant(b, "lister");
      const list = await admin(env, "/oauth2/auth/sessions/consent?subject=lister");
      expect(list.status).toBe(200);
      expect(list.headers.get("x-total-count")).toBe("2");
      expect(list.body).toHaveLength(2);
      expect(Object.keys(list.body[0])).toEqual(["grant_scope", "grant_access_token_audience", "session", "remember", "remember_for", "handled_at", "consent_request"]);
      const fromA = list.body.find((s: any) => s.consent_request.client.client_id === a.client_id);
      expect(fromA).toMatchObject({
        grant_scope: ["openid", "offline_access"],
        grant_access_token_audience: ["https://api.test"],
        session: { access_token: { role: "admin" }, id_token: { email: "l@example.com" } },
        remember: true,
        remember_for: 3600,
        consent_request: { subject: "lister", skip: false, requested_scope: ["openid", "offline_access"] },
      });
      expect(fromA.consent_request.challenge).toMatch(/^[0-9a-f]{32}$/);
      expect(fromA.consent_request.login_challenge).toMatch(/^[0-9a-f]{32}$/);
      expect(fromA.consent_request.client.client_secret).toBeUndefined();
      expect(Number.isNaN(Date.parse(fromA.handled_at))).toBe(false);

      const page = await admin(env, "/oauth2/auth/sessions/consent?subject=lister&limit=1&offset=0");
      expect(page.body).toHaveLength(1);
      expect(page.headers.get("link")).toBe(
        '</oauth2/auth/sessions/consent?limit=1&offset=1&subject=lister>; rel="next",</oauth2/auth/sessions/consent?limit=1&offset=1&subject=lister>; rel="last"',
      );
      const none = await admin(env, "/oauth2/auth/sessions/consent?subject=nobody");
      expect(none.status).toBe(200);
      expect(none.body).toEqual([]);
      const missing = await admin(env, "/oauth2/auth/sessions/consent");
      expect(missing.status).toBe(400);
      expect(missing.body.error).toBe("invalid_request");
    });

    test("rejected and skipped consents are not listed", async () => {
      const browser = new Browser(env);
      const p = () => ({ client_id: a.client_id, response_type: "code", scope: "openid", state: state() });
      await runFlow(browser, p(), { login: { subject: "skipper", remember: true }, consent: { grant_scope: ["openid"], remember: true } });
      // Second flow: consent skip=true (accepted again by the app) — not a new session.
      await runFlow(browser, p(), { login: { subject: "skipper" } });
      const list = await admin(env, "/oauth2/auth/sessions/consent?subject=skipper");
      expect(list.body).toHaveLength(1);
      expect(list.body[0].consent_request.skip).toBe(false);
    });

    test("DELETE ?subject=&client=: that client's consent goes, with its access tokens and unused codes; others stay", async () => {
      const fromA = await grant(a, "revokee");
      const fromB = await grant(b, "revokee");
      expect((await introspect(fromA.access_token)).active).toBe(true);
      const res = await admin(env, `/oauth2/auth/sessions/consent?subject=revokee&client=${a.client_id}`, { method: "DELETE" });
      expect(res.status).toBe(204);
      expect((await introspect(fromA.access_token)).active).toBe(false);
      expect(await getAuthorizationCode(env.server.deps.db, authorizationCodeSignature(env.server.deps, fromA.code)!)).toBeUndefined();
      expect((await introspect(fromB.access_token)).active).toBe(true);
      expect(await getAuthorizationCode(env.server.deps.db, authorizationCodeSignature(env.server.deps, fromB.code)!)).toBeDefined();
      const list = await admin(env, "/oauth2/auth/sessions/consent?subject=revokee");
      expect(list.body.map((s: any) => s.consent_request.client.client_id)).toEqual([b.client_id]);
    });

    test("DELETE ?subject=&all=true: every consent and token of the subject; the remembered consent is gone too", async () => {
      const fromA = await grant(a, "everything");
      const fromB = await grant(b, "everything");
      expect((await admin(env, "/oauth2/auth/sessions/consent?subject=everything&all=true", { method: "DELETE" })).status).toBe(204);
      expect((await introspect(fromA.access_token)).active).toBe(false);
      expect((await introspect(fromB.access_token)).active).toBe(false);
      expect((await admin(env, "/oauth2/auth/sessions/consent?subject=everything")).body).toEqual([]);
    });

    test("DELETE without client or all: 400; with nothing to delete: 204", async () => {
      const res = await admin(env, "/oauth2/auth/sessions/consent?subject=x", { method: "DELETE" });
      expect(res.status).toBe(400);
      expect(res.body.error_description).toContain("Query parameter both 'client' and 'all' is not defined but one of them should have been.");
      expect((await admin(env, "/oauth2/auth/sessions/consent?client=x", { method: "DELETE" })).status).toBe(400);
      expect((await admin(env, "/oauth2/auth/sessions/consent?subject=ghost&all=true", { method: "DELETE" })).status).toBe(204);
    });
  });
}
