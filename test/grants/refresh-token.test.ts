/**
 * The refresh_token grant over real HTTP, on PostgreSQL and PGlite, with openid-client v6 as
 * the relying party: rotation (one transaction, old access tokens gone), reuse detection
 * revoking the whole grant, 20 concurrent refreshes with and without a grace period, scope
 * narrowing and widening, client binding, lifespans, the re-issued ID token (OIDC Core §12.2),
 * and oauth2.refresh_token_hook against a real HTTP receiver on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { eq } from "drizzle-orm";
import * as oidc from "openid-client";
import { opaqueTokenSignature } from "../../src/oauth2/opaque-token.ts";
import { getRefreshToken } from "../../src/oauth2/store.ts";
import { refreshTokens } from "../../src/storage/schema/index.ts";
import { halfHash, jsonInit } from "../flows/kit.ts";
import { codeFlow, createClient, discover, introspect, oauthError, startGrantEnv, token, type GrantEnv } from "./support.ts";

const signatureOf = (env: GrantEnv, refreshToken: string) => {
  const { config } = env.server.deps;
  return opaqueTokenSignature(config.secrets.system, "refresh_token", config.oauth2.token_prefix.refresh_token, refreshToken)!;
};

const refresh = (env: GrantEnv, clientId: string, refreshToken: string, extra: Record<string, string> = {}) =>
  token(env, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: clientId, ...extra });

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`refresh_token on ${backend} (strict rotation, no grace period)`, () => {
    let env: GrantEnv;
    let client: Record<string, any>;
    let rp: oidc.Configuration;
    beforeAll(async () => {
      env = await startGrantEnv(backend, "grant_refresh");
      client = await createClient(env);
      rp = await discover(env, client.client_id);
    }, 60_000);
    afterAll(async () => {
      await env?.stop();
    });

    test("rotation: a new pair each time, the old access and refresh tokens are dead; the ID token keeps sub, auth_time, acr, sid", async () => {
      const { tokens: first } = await codeFlow(env, rp, {}, { login: { subject: "alice", acr: "urn:acr:pwd" }, consent: { grant_scope: ["openid", "offline_access", "profile"], session: { id_token: { name: "Alice" } } } });
      const original = first.claims()!;
      await Bun.sleep(1100); // so that iat differs
      const second = await oidc.refreshTokenGrant(rp, first.refresh_token!);
      expect(second.refresh_token).toStartWith("gth_rt_");
      expect(second.refresh_token).not.toBe(first.refresh_token);
      expect(second.access_token).not.toBe(first.access_token);
      expect(second.scope).toBe("openid offline_access profile");
      const claims = second.claims()!;
      expect(claims).toMatchObject({ sub: original.sub, auth_time: original.auth_time, acr: "urn:acr:pwd", sid: original.sid, name: "Alice", aud: [client.client_id], iss: env.issuer });
      expect(claims.nonce).toBeUndefined();
      expect(claims.at_hash).toBe(halfHash(second.access_token));
      expect(claims.iat).toBeGreaterThan(original.iat);
      expect(await introspect(env, first.access_token)).toEqual({ active: false });
      expect(await introspect(env, first.refresh_token!)).toEqual({ active: false });
      expect((await introspect(env, second.access_token)).active).toBe(true);
      const row = await getRefreshToken(env.server.deps.db, signatureOf(env, first.refresh_token!));
      expect(row).toMatchObject({ active: false, rotatedPair: undefined });
      expect(row!.usedAt).toBeInstanceOf(Date);
      // And again: a chain of rotations.
      const third = await oidc.refreshTokenGrant(rp, second.refresh_token!);
      expect(third.claims()!.sub).toBe("alice");
      expect(await introspect(env, second.access_token)).toEqual({ active: false });
    });

    test("reuse of a rotated refresh token: 400 invalid_grant, and every token of the grant is revoked", async () => {
      const { tokens } = await codeFlow(env, rp);
      const next = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      const replay = await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!));
      expect(replay).toMatchObject({ error: "invalid_grant", status: 400 });
      expect(replay.description).toContain("RFC 9700");
      expect(await introspect(env, next.access_token)).toEqual({ active: false });
      expect(await introspect(env, next.refresh_token!)).toEqual({ active: false });
      expect((await oauthError(oidc.refreshTokenGrant(rp, next.refresh_token!))).error).toBe("invalid_grant");
    });

    test("20 concurrent refreshes of one token: exactly one 200, the rest invalid_grant, and then the grant is revoked (RFC 9700 §4.14.2)", async () => {
      const { tokens } = await codeFlow(env, rp);
      const replies = await Promise.all(Array.from({ length: 20 }, () => refresh(env, client.client_id, tokens.refresh_token!)));
      const ok = replies.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      expect(replies.filter((r) => r.status === 400 && r.body.error === "invalid_grant")).toHaveLength(19);
      // The losers presented a spent token: the winner's pair is revoked with the rest.
      expect(await introspect(env, ok[0]!.body.access_token)).toEqual({ active: false });
      expect(await introspect(env, ok[0]!.body.refresh_token)).toEqual({ active: false });
    });

    test("scope: narrowing allowed (the refresh token keeps the grant's scope), widening refused without spending the token", async () => {
      const { tokens } = await codeFlow(env, rp);
      const wide = await refresh(env, client.client_id, tokens.refresh_token!, { scope: "openid offline_access profile email" });
      expect(wide.status).toBe(400);
      expect(wide.body.error).toBe("invalid_scope");
      expect(wide.body.error_description).toContain("'email' was not granted originally");
      const narrow = await oidc.refreshTokenGrant(rp, tokens.refresh_token!, { scope: "openid" });
      expect(narrow.scope).toBe("openid");
      expect(narrow.id_token).toBeDefined();
      expect((await introspect(env, narrow.access_token)).scope).toBe("openid");
      expect((await introspect(env, narrow.refresh_token!)).scope).toBe("openid offline_access profile");
      // Without openid: no ID token.
      const noOpenid = await refresh(env, client.client_id, narrow.refresh_token!, { scope: "profile" });
      expect(noOpenid.status).toBe(200);
      expect(noOpenid.body.scope).toBe("profile");
      expect(noOpenid.body.id_token).toBeUndefined();
      // Back to the whole grant when no scope is sent.
      const full = await oidc.refreshTokenGrant(rp, noOpenid.body.refresh_token);
      expect(full.scope).toBe("openid offline_access profile");
    });

    test("bound to its client: another client gets invalid_grant and the token is neither spent nor revoked", async () => {
      const other = await createClient(env);
      const { tokens } = await codeFlow(env, rp);
      const stolen = await refresh(env, other.client_id, tokens.refresh_token!);
      expect(stolen.body.error).toBe("invalid_grant");
      expect(stolen.body.error_description).toContain("does not match the ID during the initial token issuance");
      expect((await introspect(env, tokens.access_token)).active).toBe(true);
      expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toBeDefined();
    });

    test("a client that lost the refresh_token grant type: unauthorized_client", async () => {
      const c = await createClient(env);
      const { tokens } = await codeFlow(env, await discover(env, c.client_id));
      const patched = await env.server.adminFetch(`/clients/${c.client_id}`, jsonInit([{ op: "replace", path: "/grant_types", value: ["authorization_code"] }], "PATCH"));
      expect(patched.status).toBe(200);
      const res = await refresh(env, c.client_id, tokens.refresh_token!);
      expect(res.status).toBe(400);
      expect(res.body.error).toBe("unauthorized_client");
      expect(res.body.error_description).toContain("'refresh_token'");
    });

    test("an expired refresh token is invalid_grant, not reuse: the grant stays", async () => {
      const { tokens } = await codeFlow(env, rp);
      await env.server.deps.db.update(refreshTokens).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(refreshTokens.signature, signatureOf(env, tokens.refresh_token!)));
      const res = await refresh(env, client.client_id, tokens.refresh_token!);
      expect(res.body.error).toBe("invalid_grant");
      expect(res.body.error_description).toContain("expired");
      expect((await introspect(env, tokens.access_token)).active).toBe(true);
    });

    test("unknown, forged, missing refresh tokens; an access token in its place", async () => {
      const { tokens } = await codeFlow(env, rp);
      expect((await refresh(env, client.client_id, "gth_rt_nothing.here")).body.error).toBe("invalid_grant");
      expect((await refresh(env, client.client_id, `${tokens.refresh_token}x`)).body.error).toBe("invalid_grant");
      expect((await refresh(env, client.client_id, tokens.access_token)).body.error).toBe("invalid_grant");
      expect((await token(env, { grant_type: "refresh_token", client_id: client.client_id })).body.error).toBe("invalid_request");
      expect((await introspect(env, tokens.access_token)).active).toBe(true);
    });

    test("lifespans: ttl.refresh_token by default, per-client refresh_token_grant_* lifespans on refresh", async () => {
      const c = await createClient(env);
      const lifespans = await env.server.adminFetch(
        `/clients/${c.client_id}/lifespans`,
        jsonInit({ authorization_code_grant_refresh_token_lifespan: "2h", refresh_token_grant_access_token_lifespan: "5m", refresh_token_grant_refresh_token_lifespan: "3h" }),
      );
      expect(lifespans.status).toBe(200);
      const config = await discover(env, c.client_id);
      const { tokens } = await codeFlow(env, config);
      const now = Date.now() / 1000;
      expect(Math.abs((await introspect(env, tokens.refresh_token!)).exp - (now + 7200))).toBeLessThan(10);
      const next = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
      expect(next.expires_in).toBe(300);
      expect(Math.abs((await introspect(env, next.refresh_token!)).exp - (now + 3 * 3600))).toBeLessThan(10);
      // The default: ttl.refresh_token = 720h.
      const plain = await codeFlow(env, rp);
      expect(Math.abs((await introspect(env, plain.tokens.refresh_token!)).exp - (now + 720 * 3600))).toBeLessThan(10);
    });
  });

  describe(`refresh_token on ${backend} with rotation_grace_period 1m and ttl.refresh_token -1`, () => {
    let env: GrantEnv;
    let client: Record<string, any>;
    let rp: oidc.Configuration;
    beforeAll(async () => {
      env = await startGrantEnv(backend, "grant_refresh_grace", { ttl: { refresh_token: -1 }, oauth2: { grant: { refresh_token: { rotation_grace_period: "1m" } } } });
      client = await createClient(env);
      rp = await discover(env, client.client_id);
    }, 60_000);
    afterAll(async () => {
      await env?.stop();
    });

    test("20 concurrent refreshes and a later retry all get the SAME new pair, which works", async () => {
      const { tokens } = await codeFlow(env, rp);
      const replies = await Promise.all(Array.from({ length: 20 }, () => refresh(env, client.client_id, tokens.refresh_token!)));
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      const pairs = new Set(replies.map((r) => `${r.body.access_token} ${r.body.refresh_token}`));
      expect(pairs.size).toBe(1);
      const [access, refreshToken] = [...pairs][0]!.split(" ");
      // Each answer carries a valid ID token for the same access token.
      expect(replies.every((r) => typeof r.body.id_token === "string")).toBe(true);
      const retry = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      expect([retry.access_token, retry.refresh_token]).toEqual([access!, refreshToken!]);
      expect(retry.claims()!.at_hash).toBe(halfHash(access!));
      expect(retry.expires_in).toBeLessThanOrEqual(3600);
      expect((await introspect(env, access!)).active).toBe(true);
      expect(await introspect(env, tokens.access_token)).toEqual({ active: false });
      // ttl.refresh_token -1: no exp on the refresh token.
      const rt = await introspect(env, refreshToken!);
      expect(rt.active).toBe(true);
      expect(rt.exp).toBeUndefined();
      // The pair is sealed under the rotated token: the row does not hold it in clear.
      const row = await getRefreshToken(env.server.deps.db, signatureOf(env, tokens.refresh_token!));
      expect(row!.rotatedPair).toBeString();
      expect(row!.rotatedPair).not.toContain(refreshToken!.slice(7, 20));
      // The new pair rotates normally.
      const next = await oidc.refreshTokenGrant(rp, refreshToken!);
      expect(next.refresh_token).not.toBe(refreshToken);
    });

    test("within the grace period, once the new pair has been used, the old token is reuse: the grant is revoked", async () => {
      const { tokens } = await codeFlow(env, rp);
      const second = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      const third = await oidc.refreshTokenGrant(rp, second.refresh_token!);
      const replay = await oauthError(oidc.refreshTokenGrant(rp, tokens.refresh_token!));
      expect(replay.error).toBe("invalid_grant");
      expect(await introspect(env, third.access_token)).toEqual({ active: false });
      expect(await introspect(env, third.refresh_token!)).toEqual({ active: false });
    });

    test("after the grace period the rotated token is reuse: the grant is revoked and the kept pair dropped", async () => {
      const { tokens } = await codeFlow(env, rp);
      const second = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      const signature = signatureOf(env, tokens.refresh_token!);
      await env.server.deps.db.update(refreshTokens).set({ usedAt: new Date(Date.now() - 2 * 60_000) }).where(eq(refreshTokens.signature, signature));
      const late = await refresh(env, client.client_id, tokens.refresh_token!);
      expect(late.status).toBe(400);
      expect(late.body.error).toBe("invalid_grant");
      expect(await introspect(env, second.access_token)).toEqual({ active: false });
      expect(await introspect(env, second.refresh_token!)).toEqual({ active: false });
      expect((await getRefreshToken(env.server.deps.db, signature))!.rotatedPair).toBeUndefined();
    });

    test("another client presenting a rotated token within the grace period gets no pair: reuse", async () => {
      const other = await createClient(env);
      const { tokens } = await codeFlow(env, rp);
      const second = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
      const res = await refresh(env, other.client_id, tokens.refresh_token!);
      expect(res.body.error).toBe("invalid_grant");
      expect(res.body.access_token).toBeUndefined();
      expect(await introspect(env, second.access_token)).toEqual({ active: false });
    });
  });
}

describe("oauth2.refresh_token_hook (a real receiver on 127.0.0.1)", () => {
  let env: GrantEnv;
  let hook: ReturnType<typeof Bun.serve>;
  let client: Record<string, any>;
  let rp: oidc.Configuration;
  const received: Record<string, any>[] = [];
  let answer: () => Response = () => new Response(null, { status: 204 });

  beforeAll(async () => {
    hook = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(req) {
        received.push({ method: req.method, type: req.headers.get("content-type"), body: await req.json() });
        return answer();
      },
    });
    env = await startGrantEnv("PostgreSQL", "grant_refresh_hook", { oauth2: { refresh_token_hook: `http://127.0.0.1:${hook.port}/hook` } });
    client = await createClient(env);
    rp = await discover(env, client.client_id);
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
    hook?.stop(true);
  });

  const flow = () =>
    codeFlow(env, rp, {}, { consent: { grant_scope: ["openid", "offline_access", "profile"], session: { access_token: { tier: "silver" }, id_token: { name: "Alice" } } } });

  test("200: the answer replaces ext and the ID-token claims of the new tokens; the request is Hydra's body", async () => {
    const { tokens } = await flow();
    received.length = 0;
    answer = () => Response.json({ session: { access_token: { tier: "gold", seen: 1 }, id_token: { name: "Alice A.", sub: "not-this" } } });
    const next = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(received).toHaveLength(1);
    const sent = received[0]!;
    expect(sent.method).toBe("POST");
    expect(sent.type).toStartWith("application/json");
    expect(sent.body).toMatchObject({
      subject: "alice",
      client_id: client.client_id,
      granted_scopes: ["openid", "offline_access", "profile"],
      granted_audience: [],
      session: { extra: { tier: "silver" }, id_token: { id_token_claims: { sub: "alice", ext: { name: "Alice" } }, subject: "alice" } },
      requester: { client_id: client.client_id, granted_scopes: ["openid", "offline_access", "profile"], granted_audience: [], grant_types: ["authorization_code", "refresh_token", "implicit"] },
    });
    expect(next.claims()).toMatchObject({ name: "Alice A.", sub: "alice" });
    expect((await introspect(env, next.access_token)).ext).toEqual({ tier: "gold", seen: 1 });
    // 204 keeps what the last answer set.
    answer = () => new Response(null, { status: 204 });
    const after = await oidc.refreshTokenGrant(rp, next.refresh_token!);
    expect((await introspect(env, after.access_token)).ext).toEqual({ tier: "gold", seen: 1 });
    expect(after.claims()!.name).toBe("Alice A.");
  });

  test("403 → access_denied, 500 or a bad body → server_error; the refresh token is not spent by a failed hook", async () => {
    const { tokens } = await flow();
    for (const [res, error, status] of [
      [() => new Response("no", { status: 403 }), "access_denied", 403],
      [() => new Response("boom", { status: 500 }), "server_error", 500],
      [() => new Response("{not json", { status: 200 }), "server_error", 500],
      [() => Response.json({ session: { access_token: [] } }), "server_error", 500],
    ] as const) {
      answer = res;
      const reply = await refresh(env, client.client_id, tokens.refresh_token!);
      expect({ status: reply.status, error: reply.body.error }).toEqual({ status, error });
      expect(reply.headers.get("cache-control")).toBe("no-store");
    }
    answer = () => new Response(null, { status: 204 });
    expect((await oidc.refreshTokenGrant(rp, tokens.refresh_token!)).access_token).toBeDefined();
  });

  test("an unreachable hook is a server_error, and the grant survives it", async () => {
    const port = hook.port;
    hook.stop(true);
    try {
      const { tokens } = await flow();
      const reply = await refresh(env, client.client_id, tokens.refresh_token!);
      expect(reply.status).toBe(500);
      expect(reply.body.error).toBe("server_error");
    } finally {
      hook = Bun.serve({ hostname: "127.0.0.1", port, fetch: () => new Response(null, { status: 204 }) });
    }
  });
});
