/**
 * flows/store.ts on both backends: what is stored (only signatures of challenges, verifiers
 * and codes), and the cleanup functions for the janitor.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "drizzle-orm";
import { flowSignatures } from "../../src/flows/challenge.ts";
import { deleteExpiredLoginSessions, deleteInactiveFlows, failRedeemedFlow, getFlowToRedeem, saveConsentRedeemed, upsertLoginSession } from "../../src/flows/store.ts";
import { rowsOf } from "../../src/storage/migrate.ts";
import { acceptLogin, admin, authPath, Browser, challengeFrom, createClient, jsonInit, readResponse, runFlow, startEnv, startTimeout, state, type Env } from "./kit.ts";

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`flow store on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_store");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });
    const p = () => ({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() });

    test("no challenge, verifier, CSRF value or code is stored in clear", async () => {
      const browser = new Browser(env);
      const start = await browser.navigate(authPath(p()));
      const loginChallenge = challengeFrom(start, "login");
      const redirectTo = await acceptLogin(env, loginChallenge);
      const loginVerifier = new URL(redirectTo).searchParams.get("login_verifier")!;
      const consentStop = await browser.navigate(redirectTo);
      const consentChallenge = challengeFrom(consentStop, "consent");
      const accepted = await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${consentChallenge}`, jsonInit({ grant_scope: ["openid"] }));
      const consentVerifier = new URL(accepted.body.redirect_to).searchParams.get("consent_verifier")!;
      const csrfValues = browser.setCookies.filter((c) => c.name.includes("csrf") && c.value).map((c) => c.value.split(".")[0]!);
      const code = readResponse(await browser.navigate(accepted.body.redirect_to)).params.code!;

      const dump = JSON.stringify(rowsOf(await env.server.deps.db.execute(sql`select f.*, c.* from oauth2_flows f left join oauth2_authorization_codes c on c.request_id = f.request_id`)));
      // The consent challenge becomes the tokens' request_id once spent (as Hydra); nothing else appears.
      for (const secret of [loginChallenge, loginVerifier, consentVerifier, ...csrfValues, code, code.split(".")[0]!]) {
        expect(dump.includes(secret)).toBe(false);
      }
      expect(csrfValues).toHaveLength(2);
    });

    test("deleteInactiveFlows: unfinished and failed flows go, completed ones (consent sessions) stay", async () => {
      const browser = new Browser(env);
      // One unfinished (login requested), one failed (login rejected and redeemed), one completed.
      await browser.navigate(authPath(p()));
      const rejected = challengeFrom(await browser.navigate(authPath(p())), "login");
      const denied = await admin(env, `/oauth2/auth/requests/login/reject?login_challenge=${rejected}`, jsonInit({}));
      await browser.navigate(denied.body.redirect_to);
      await runFlow(browser, p(), { login: { subject: "kept" } });
      const count = async () => Number(rowsOf<{ n: string | number }>(await env.server.deps.db.execute(sql`select count(*) as n from oauth2_flows where client_id = ${client.client_id}`))[0]!.n);
      const before = await count();
      const past = new Date(Date.now() - 3600_000);
      expect(await deleteInactiveFlows(env.server.deps.db, { unfinishedBefore: past, endedBefore: past }, 100)).toBe(0);
      const future = new Date(Date.now() + 3600_000);
      const deleted = await deleteInactiveFlows(env.server.deps.db, { unfinishedBefore: future, endedBefore: future }, 100);
      expect(deleted).toBeGreaterThanOrEqual(2);
      const left = rowsOf<{ state: string }>(await env.server.deps.db.execute(sql`select state from oauth2_flows where client_id = ${client.client_id}`));
      expect(left.every((r) => r.state === "consent_used")).toBe(true);
      expect(await count()).toBe(before - deleted);
      expect((await admin(env, "/oauth2/auth/sessions/consent?subject=kept")).body).toHaveLength(1);
    });

    test("deleteExpiredLoginSessions: only sessions whose remember_for ran out, in batches", async () => {
      const now = Date.now();
      for (let i = 0; i < 3; i++) {
        await upsertLoginSession(env.server.deps.db, { id: `expired-${i}`, subject: "s", authenticatedAt: new Date(now - 7200_000), remember: true, expiresAt: new Date(now - 3600_000) });
      }
      await upsertLoginSession(env.server.deps.db, { id: "valid", subject: "s", authenticatedAt: new Date(now), remember: true, expiresAt: new Date(now + 3600_000) });
      await upsertLoginSession(env.server.deps.db, { id: "forever", subject: "s", authenticatedAt: new Date(now), remember: true, expiresAt: undefined });
      expect(await deleteExpiredLoginSessions(env.server.deps.db, new Date(now), 2)).toBe(2);
      expect(await deleteExpiredLoginSessions(env.server.deps.db, new Date(now), 2)).toBe(1);
      expect(await deleteExpiredLoginSessions(env.server.deps.db, new Date(now), 2)).toBe(0);
      const ids = rowsOf<{ id: string }>(await env.server.deps.db.execute(sql`select id from oauth2_login_sessions where subject = 's' order by id`)).map((r) => r.id);
      expect(ids).toEqual(["forever", "valid"]);
    });

    test("a verifier is read, then claimed by one write that checks what was read: a re-answered consent or a second redemption writes nothing", async () => {
      const browser = new Browser(env);
      const start = await browser.navigate(authPath(p()));
      const redirectTo = await acceptLogin(env, challengeFrom(start, "login"));
      const consentChallenge = challengeFrom(await browser.navigate(redirectTo), "consent");
      const accepted = await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${consentChallenge}`, jsonInit({ grant_scope: ["openid"] }));
      const verifier = new URL(accepted.body.redirect_to).searchParams.get("consent_verifier")!;
      const db = env.server.deps.db;
      const now = env.server.deps.clock.now();
      const read = await getFlowToRedeem(db, "consentVerifier", flowSignatures(env.server.deps.config, "consent_verifier", verifier));
      expect(read?.flow.state).toBe("consent_accepted");
      const redeemed = { ...read!.flow, state: "consent_used" as const };

      // The consent app answers again (allowed until the verifier is redeemed) with a narrower grant.
      const again = await admin(env, `/oauth2/auth/requests/consent/accept?consent_challenge=${consentChallenge}`, jsonInit({ grant_scope: [] }));
      expect(again.status).toBe(200);
      expect(await saveConsentRedeemed(db, redeemed, consentChallenge, {}, now)).toBe(false);

      // Read again: the current answer is redeemed once; a second write with the same read loses.
      const current = await getFlowToRedeem(db, "consentVerifier", flowSignatures(env.server.deps.config, "consent_verifier", verifier));
      const next = { ...current!.flow, state: "consent_used" as const };
      expect(await saveConsentRedeemed(db, next, consentChallenge, {}, now)).toBe(true);
      expect(await saveConsentRedeemed(db, next, consentChallenge, {}, now)).toBe(false);
      expect(await failRedeemedFlow(db, current!.flow, now)).toBe(false);
      expect(await getFlowToRedeem(db, "consentVerifier", flowSignatures(env.server.deps.config, "consent_verifier", verifier))).toBeUndefined();
    });
  });
}
