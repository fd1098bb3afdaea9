/**
 * Front-Channel Logout 1.0 (the page: one hidden iframe per client that received tokens in
 * the session, iss/sid when the client asks, HTML-escaped, a CSP framing exactly those
 * origins) and Back-Channel Logout 1.0 (a logout token POSTed to a real receiver on
 * 127.0.0.1, verified with jose against /.well-known/jwks.json; slow and failing receivers
 * never hold the user; failures logged and counted) — also for a login that was not
 * remembered (Hydra misses it, #3132), and for DELETE /oauth2/auth/sessions/login.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import type { LogObject } from "consola";
import { admin, Browser, readResponse, startTimeout, type Env } from "../flows/kit.ts";
import {
  backchannelLogoutEvent,
  logoutTokenLifetimeSeconds,
} from "../../src/flows/back-channel.ts";
import {
  createRp,
  decodeProtectedHeader,
  login,
  logout,
  metric,
  promptNone,
  sessionCookie,
  startLogoutEnv,
  startReceiver,
  verifyLogoutToken,
  type Receiver,
} from "./kit.ts";

const salt = "logout-pairwise-salt";
const registered = "https://client.test/logout";
const ok = 'gatehouse_backchannel_logout_total{result="ok"}';
const failed = 'gatehouse_backchannel_logout_total{result="error"}';

const unescapeHtml = (s: string) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)));

function cspDirectives(header: string | null): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of (header ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) out.set(name, values);
  }
  return out;
}

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`front- and back-channel logout on ${backend}`, () => {
    let env: Env;
    let receiver: Receiver;
    const logs: string[] = [];
    beforeAll(async () => {
      receiver = startReceiver();
      env = await startLogoutEnv(backend, "logout_channels", { oidc: { subject_identifiers: { supported_types: ["public", "pairwise"], pairwise: { salt } } } });
      env.server.deps.log.addReporter({ log: (entry: LogObject) => void logs.push(entry.args.map(String).join(" ")) });
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
      receiver?.stop();
    });

    test("front-channel page: iframes for exactly the session's clients, iss/sid when required, escaped, strict CSP", async () => {
      const a = await createRp(env, { frontchannel_logout_uri: "https://rp-a.test/fc?x=1&y=2", frontchannel_logout_session_required: true });
      const b = await createRp(env, { frontchannel_logout_uri: "https://rp-b.test:8443/logout" });
      const sameOrigin = await createRp(env, { frontchannel_logout_uri: "https://rp-a.test/other", frontchannel_logout_session_required: true });
      const noUri = await createRp(env);
      const notLoggedIn = await createRp(env, { frontchannel_logout_uri: "https://rp-c.test/fc" });
      const browser = new Browser(env);
      const first = await login(browser, a, "fc-user");
      for (const c of [b, sameOrigin, noUri]) expect((await login(browser, c, "fc-user")).sid).toBe(first.sid);
      // Another session of the same user, elsewhere, is not part of this logout.
      await login(new Browser(env), notLoggedIn, "fc-user");

      const evilState = `"><script>alert(1)</script>&'`;
      const { res, body } = await logout(browser, { id_token_hint: first.idToken, post_logout_redirect_uri: registered, state: evilState });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-store");
      expect(res.headers.getSetCookie().some((c) => c.startsWith(`${sessionCookie}=;`) && /Max-Age=0/.test(c))).toBe(true);

      const issuer = env.server.deps.config.urls.self.issuer;
      const frames = [...body.matchAll(/<iframe src="([^"]*)" hidden title="logout"><\/iframe>/g)].map((m) => unescapeHtml(m[1]!));
      const withSession = (uri: string) => {
        const u = new URL(uri);
        u.searchParams.set("iss", issuer);
        u.searchParams.set("sid", first.sid);
        return u.toString();
      };
      expect(frames.sort()).toEqual([withSession("https://rp-a.test/fc?x=1&y=2"), withSession("https://rp-a.test/other"), "https://rp-b.test:8443/logout"].sort());
      expect(body.match(/<iframe/g)!.length).toBe(3);
      // & in attributes is escaped; nothing of the state can open a tag or leave the attribute.
      expect(body).toContain("https://rp-a.test/fc?x=1&#38;y=2&#38;iss=");
      expect(body).not.toContain("<script>alert");
      const link = /<a id="continue" href="([^"]*)">/.exec(body)![1]!;
      const expectedTarget = new URL(registered);
      expectedTarget.searchParams.set("state", evilState);
      expect(unescapeHtml(link)).toBe(expectedTarget.toString());
      expect(new URL(unescapeHtml(link)).searchParams.get("state")).toBe(evilState);

      const csp = cspDirectives(res.headers.get("content-security-policy"));
      expect(csp.get("default-src")).toEqual(["'none'"]);
      expect(csp.get("frame-src")!.sort()).toEqual(["https://rp-a.test", "https://rp-b.test:8443"]);
      expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
      // The one inline script is allowed by its hash, nothing else runs.
      const scripts = [...body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
      expect(scripts.length).toBe(1);
      expect(csp.get("script-src")).toEqual([`'sha256-${createHash("sha256").update(scripts[0]!).digest("base64")}'`]);
      expect(res.headers.get("content-security-policy")).not.toContain("unsafe");
      expect(scripts[0]).toContain("setTimeout(go, 7000)");
      expect(readResponse(await promptNone(browser, a)).params.error).toBe("login_required");
    });

    test("back-channel: one logout token per client of the session, verified against jwks.json (typ, iss, aud, events, sid, sub, jti, no nonce)", async () => {
      const p = await createRp(env, { backchannel_logout_uri: `${receiver.url}/ok/p` });
      const pairwise = await createRp(env, { subject_type: "pairwise", backchannel_logout_uri: `${receiver.url}/no-content`, backchannel_logout_session_required: true });
      const absent = await createRp(env, { backchannel_logout_uri: `${receiver.url}/ok/absent` });
      const browser = new Browser(env);
      const first = await login(browser, p, "bc-user");
      const second = await login(browser, pairwise, "bc-user");
      expect(second.sid).toBe(first.sid);
      expect(second.claims.sub).toBe(createHash("sha256").update(`client.testbc-user${salt}`).digest("hex"));
      const okBefore = await metric(env, ok);

      const { res, ms } = await logout(browser, { id_token_hint: first.idToken, post_logout_redirect_uri: registered, state: "bc" });
      // No front-channel URI: a redirect at once.
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe(`${registered}?state=bc`);
      expect(ms).toBeLessThan(1000);

      const [toP] = await receiver.waitFor("/ok/p");
      const [toPairwise] = await receiver.waitFor("/no-content");
      for (const [hit, client, sub] of [
        [toP!, p, "bc-user"],
        [toPairwise!, pairwise, second.claims.sub],
      ] as const) {
        expect(hit.contentType).toBe("application/x-www-form-urlencoded");
        expect([...hit.form.keys()]).toEqual(["logout_token"]);
        const token = hit.form.get("logout_token")!;
        expect(decodeProtectedHeader(token)).toMatchObject({ typ: "logout+jwt", alg: "RS256" });
        const claims = await verifyLogoutToken(env, token, client.client_id);
        expect(claims.aud).toEqual([client.client_id]);
        expect(claims.sub).toBe(sub);
        expect(claims.sid).toBe(first.sid);
        expect(claims.events).toEqual({ [backchannelLogoutEvent]: {} });
        expect(claims.exp! - claims.iat!).toBe(logoutTokenLifetimeSeconds);
        expect(typeof claims.jti).toBe("string");
        expect(claims).not.toHaveProperty("nonce");
      }
      expect(new Set([toP, toPairwise].map((h) => JSON.parse(Buffer.from(h!.form.get("logout_token")!.split(".")[1]!, "base64url").toString()).jti)).size).toBe(2);
      // Counted; the client without consent in this session heard nothing.
      for (let i = 0; i < 100 && (await metric(env, ok)) < okBefore + 2; i++) await Bun.sleep(20);
      expect(await metric(env, ok)).toBe(okBefore + 2);
      expect(receiver.received.filter((r) => r.path === "/ok/absent")).toEqual([]);
      expect(absent.client_id).toBeDefined();
    });

    test("a login that was not remembered still gets front- and back-channel logout (Hydra #3132)", async () => {
      const client = await createRp(env, { frontchannel_logout_uri: "https://rp-n.test/fc", frontchannel_logout_session_required: true, backchannel_logout_uri: `${receiver.url}/ok/not-remembered` });
      const browser = new Browser(env);
      const { idToken, sid } = await login(browser, client, "forgetful", { remember: false });
      expect(browser.cookies.has(sessionCookie)).toBe(false);
      const { res, body } = await logout(browser, { id_token_hint: idToken, post_logout_redirect_uri: registered });
      expect(res.status).toBe(200);
      expect(unescapeHtml(/<iframe src="([^"]*)"/.exec(body)![1]!)).toBe(`https://rp-n.test/fc?iss=${encodeURIComponent(env.server.deps.config.urls.self.issuer)}&sid=${sid}`);
      const [hit] = await receiver.waitFor("/ok/not-remembered");
      expect((await verifyLogoutToken(env, hit!.form.get("logout_token")!, client.client_id)).sid).toBe(sid);
    });

    test("DELETE /oauth2/auth/sessions/login?subject= and ?sid= send back-channel logout for the sessions they end", async () => {
      const client = await createRp(env, { backchannel_logout_uri: `${receiver.url}/ok/admin` });
      const hits = () => receiver.received.filter((r) => r.path === "/ok/admin").length;
      const sam1 = new Browser(env);
      const sam2 = new Browser(env);
      const s1 = await login(sam1, client, "sam");
      const s2 = await login(sam2, client, "sam", { remember: false });
      const before = hits();
      expect((await admin(env, "/oauth2/auth/sessions/login?subject=sam", { method: "DELETE" })).status).toBe(204);
      const bySubject = (await receiver.waitFor("/ok/admin", before + 2)).slice(before);
      const sids = await Promise.all(bySubject.map(async (h) => (await verifyLogoutToken(env, h.form.get("logout_token")!, client.client_id)).sid));
      expect(sids.sort()).toEqual([s1.sid, s2.sid].sort());
      expect(readResponse(await promptNone(sam1, client)).params.error).toBe("login_required");

      const tom1 = new Browser(env);
      const tom2 = new Browser(env);
      const t1 = await login(tom1, client, "tom");
      await login(tom2, client, "tom");
      // A sid of another subject ends nothing.
      const mark = hits();
      expect((await admin(env, `/oauth2/auth/sessions/login?sid=${t1.sid}&subject=sam`, { method: "DELETE" })).status).toBe(204);
      expect((await admin(env, `/oauth2/auth/sessions/login?sid=${t1.sid}`, { method: "DELETE" })).status).toBe(204);
      const bySid = (await receiver.waitFor("/ok/admin", mark + 1)).slice(mark);
      await Bun.sleep(200);
      expect(hits()).toBe(mark + 1);
      expect((await verifyLogoutToken(env, bySid[0]!.form.get("logout_token")!, client.client_id)).sid).toBe(t1.sid);
      expect(readResponse(await promptNone(tom1, client)).params.error).toBe("login_required");
      expect(readResponse(await promptNone(tom2, client, "tom")).params.id_token).toBeDefined();
      // Neither subject nor sid: 400, as before.
      expect((await admin(env, "/oauth2/auth/sessions/login", { method: "DELETE" })).status).toBe(400);
    });

    if (backend === "PostgreSQL") {
      test("a slow receiver (10 s) does not delay the logout; it times out after 5 s; a failing one (500) is logged and counted", async () => {
        const slow = await createRp(env, { backchannel_logout_uri: `${receiver.url}/slow` });
        const failing = await createRp(env, { backchannel_logout_uri: `${receiver.url}/fail?secret-looking=query` });
        const browser = new Browser(env);
        const { idToken } = await login(browser, slow, "slowpoke");
        await login(browser, failing, "slowpoke");
        const errorsBefore = await metric(env, failed);
        const okBefore = await metric(env, ok);

        const { res, ms } = await logout(browser, { id_token_hint: idToken, post_logout_redirect_uri: registered });
        expect(res.headers.get("location")).toBe(registered);
        expect(ms).toBeLessThan(1000);
        const [failHit] = await receiver.waitFor("/fail");
        await receiver.waitFor("/slow");
        for (let i = 0; i < 200 && (await metric(env, failed)) < errorsBefore + 1; i++) await Bun.sleep(20);
        expect(await metric(env, failed)).toBe(errorsBefore + 1);
        const line = logs.find((l) => l.includes(`"${failing.client_id}"`))!;
        expect(line).toContain("status 500");
        expect(line).toContain(`${receiver.url}/fail`);
        expect(line).not.toContain("secret-looking");
        const token = failHit!.form.get("logout_token")!;
        expect(logs.some((l) => l.includes(token) || l.includes(token.split(".")[2]!))).toBe(false);

        // The slow one is given up on after 5 s, counted as an error too.
        for (let i = 0; i < 400 && (await metric(env, failed)) < errorsBefore + 2; i++) await Bun.sleep(25);
        expect(await metric(env, failed)).toBe(errorsBefore + 2);
        expect(logs.find((l) => l.includes(`"${slow.client_id}"`))).toContain("no answer within 5000 ms");
        expect(await metric(env, ok)).toBe(okBefore);
      }, 30_000);
    }
  });
}
