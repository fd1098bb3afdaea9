/**
 * The janitor's "requests" group and the rotation-pair cleanup, through POST /oauth2/flush and
 * runJanitor, on PostgreSQL and PGlite: flows that can no longer complete go once older than
 * the request lifespan, completed flows (consent sessions) stay, expired login sessions go,
 * and a refresh token's rotation pair is emptied after the grace period.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq, inArray } from "drizzle-orm";
import * as oidc from "openid-client";
import { flowSignature } from "../../src/flows/challenge.ts";
import { upsertLoginSession } from "../../src/flows/store.ts";
import { runJanitor } from "../../src/janitor/janitor.ts";
import { opaqueTokenSignature } from "../../src/oauth2/opaque-token.ts";
import { getRefreshToken } from "../../src/oauth2/store.ts";
import { flows, loginSessions, refreshTokens } from "../../src/storage/schema/index.ts";
import { admin, authPath, challengeFrom } from "../flows/kit.ts";
import { Browser, codeFlow, createClient, discover, startGrantEnv, type GrantEnv } from "./support.ts";

const hour = 3600_000;

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`janitor requests group on ${backend}`, () => {
    let env: GrantEnv;
    let client: Record<string, any>;
    let rp: oidc.Configuration;
    beforeAll(async () => {
      env = await startGrantEnv(backend, "grant_janitor", { oauth2: { grant: { refresh_token: { rotation_grace_period: "1m" } } } });
      client = await createClient(env);
      rp = await discover(env, client.client_id);
    }, 60_000);
    afterAll(async () => {
      await env?.stop();
    });
    const db = () => env.server.deps.db;
    const flush = () => env.server.adminFetch("/oauth2/flush", { method: "POST" });

    /** Starts a flow and leaves it waiting for the login app; returns its login challenge. */
    async function unfinishedFlow(): Promise<string> {
      const stop = await new Browser(env).navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: oidc.randomState() }));
      return challengeFrom(stop, "login");
    }

    test("flush deletes stale unfinished flows, keeps young ones and completed ones (the consent sessions)", async () => {
      const stale = await unfinishedFlow();
      const young = await unfinishedFlow();
      const { tokens } = await codeFlow(env, rp, {}, { login: { subject: "keeper" }, consent: { grant_scope: ["openid", "offline_access", "profile"], remember: true } });
      // Every flow of this client is made 2 h old (ttl.login_consent_request is 30 min), then `young` young again.
      await db().update(flows).set({ requestedAt: new Date(Date.now() - 2 * hour) }).where(eq(flows.clientId, client.client_id));
      await db().update(flows).set({ requestedAt: new Date() }).where(eq(flows.loginChallenge, flowSignature(env.server.deps.config, "login_challenge", young)));
      const states = async () => (await db().select({ state: flows.state }).from(flows).where(eq(flows.clientId, client.client_id))).map((f) => f.state).sort();
      expect(await states()).toEqual(["consent_used", "login_requested", "login_requested"]);

      expect((await flush()).status).toBe(204);
      expect(await states()).toEqual(["consent_used", "login_requested"]);
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${stale}`)).status).toBe(404);
      expect((await admin(env, `/oauth2/auth/requests/login?login_challenge=${young}`)).status).toBe(200);
      // The completed flow is still the consent session, and its tokens still work.
      expect((await admin(env, "/oauth2/auth/sessions/consent?subject=keeper")).body).toHaveLength(1);
      expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toBeDefined();
    });

    test("expired login sessions go; live and browser-session ones stay", async () => {
      const now = Date.now();
      await upsertLoginSession(db(), { id: `expired-${backend}`, subject: "s", authenticatedAt: new Date(now - 3 * hour), remember: true, expiresAt: new Date(now - hour) });
      await upsertLoginSession(db(), { id: `live-${backend}`, subject: "s", authenticatedAt: new Date(now - hour), remember: true, expiresAt: new Date(now + hour) });
      // remember_for 0: a remembered login that lasts the browser session has no expiry.
      await upsertLoginSession(db(), { id: `browser-${backend}`, subject: "s", authenticatedAt: new Date(now - hour), remember: true, expiresAt: undefined });
      const reports = await runJanitor(db(), {
        cutoffs: { now: new Date(), notAfter: new Date(), refreshGraceMs: 60_000 },
        limit: 100,
        batchSize: 10,
        groups: new Set(["requests"]),
        requestLifespanMs: 30 * 60_000,
      });
      expect(reports.find((r) => r.table === "oauth2_login_sessions")).toMatchObject({ name: "login sessions", deleted: 1 });
      const left = (await db().select({ id: loginSessions.id }).from(loginSessions).where(inArray(loginSessions.id, [`expired-${backend}`, `live-${backend}`, `browser-${backend}`]))).map((r) => r.id).sort();
      expect(left).toEqual([`browser-${backend}`, `live-${backend}`]);
    });

    test("a rotation pair is kept during the grace period and emptied by the janitor after it; the row stays for reuse detection", async () => {
      const { tokens } = await codeFlow(env, rp);
      await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      const { config } = env.server.deps;
      const signature = opaqueTokenSignature(config.secrets.system, "refresh_token", config.oauth2.token_prefix.refresh_token, tokens.refresh_token!)!;
      expect((await getRefreshToken(db(), signature))!.rotatedPair).toBeString();
      expect((await flush()).status).toBe(204);
      expect((await getRefreshToken(db(), signature))!.rotatedPair).toBeString();
      await db().update(refreshTokens).set({ usedAt: new Date(Date.now() - 2 * 60_000) }).where(eq(refreshTokens.signature, signature));
      expect((await flush()).status).toBe(204);
      const row = await getRefreshToken(db(), signature);
      expect(row).toMatchObject({ active: false, rotatedPair: undefined });
    });
  });
}
