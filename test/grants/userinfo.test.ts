/**
 * GET and POST /userinfo over real HTTP, on PostgreSQL and PGlite: the bearer token in the
 * header or (POST) the form body, never the query; RFC 6750 errors with their
 * WWW-Authenticate challenges; Hydra's claims; signed userinfo (RS256) verified with jose and
 * openid-client; pairwise subjects the same in ID tokens, userinfo, JWT-less introspection
 * (obfuscated_subject) and after a refresh; CORS; and discovery telling the ID-token algorithm
 * that is really used (ES256 first-start keys).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import * as oidc from "openid-client";
import { verifyIdToken } from "../flows/kit.ts";
import { getAuthorizationCode } from "../../src/flows/store.ts";
import { authorizationCodeSignature } from "../../src/oauth2/authorization-code.ts";
import { authorize, codeFlow, createClient, discover, introspect, startGrantEnv, token, userinfoRequest, type GrantEnv } from "./support.ts";

const form = (params: Record<string, string>, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
  body: new URLSearchParams(params).toString(),
});
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

const consent = {
  grant_scope: ["openid", "offline_access", "profile"],
  session: { id_token: { name: "Alice", email: "alice@example.com", nonce: "not-this" }, access_token: { tier: "gold" } },
};

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`/userinfo on ${backend}`, () => {
    let env: GrantEnv;
    let client: Record<string, any>;
    let rp: oidc.Configuration;
    let tokens: Awaited<ReturnType<typeof codeFlow>>["tokens"];
    beforeAll(async () => {
      env = await startGrantEnv(backend, "grant_userinfo", { serve: { public: { cors: { enabled: true, allowed_origins: ["https://spa.example"] } } } });
      client = await createClient(env);
      rp = await discover(env, client.client_id);
      ({ tokens } = await codeFlow(env, rp, {}, { login: { subject: "alice", acr: "urn:acr:pwd", amr: ["pwd"] }, consent }));
    }, 60_000);
    afterAll(async () => {
      await env?.stop();
    });

    const expected = (): Record<string, unknown> => ({
      sub: "alice",
      name: "Alice",
      email: "alice@example.com",
      acr: "urn:acr:pwd",
      amr: ["pwd"],
      auth_time: tokens.claims()!.auth_time,
      rat: tokens.claims()!.rat,
      iss: env.issuer,
      aud: [client.client_id],
    });

    test("GET with the Authorization header (openid-client fetchUserInfo): Hydra's claims, no nonce/sid/at_hash/exp/jti", async () => {
      const claims = await oidc.fetchUserInfo(rp, tokens.access_token, "alice");
      expect({ ...claims } as Record<string, unknown>).toEqual(expected());
      const res = await userinfoRequest(env, { headers: bearer(tokens.access_token) });
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(res.headers.get("cache-control")).toBe("no-store");
    });

    test("POST with the header, and POST with access_token in the form body (RFC 6750 §2.2)", async () => {
      const header = await userinfoRequest(env, { method: "POST", headers: bearer(tokens.access_token) });
      expect(header.status).toBe(200);
      expect(header.body).toEqual(expected());
      const body = await userinfoRequest(env, form({ access_token: tokens.access_token }));
      expect(body.status).toBe(200);
      expect(body.body).toEqual(expected());
      // HEAD answers like GET, without a body.
      expect((await env.server.publicFetch("/userinfo", { method: "HEAD", headers: bearer(tokens.access_token) })).status).toBe(200);
    });

    test("errors: RFC 6750 §3 challenges, JSON bodies, never a 5xx", async () => {
      const none = await userinfoRequest(env);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toBe("Bearer");
      expect(none.body.error).toBe("invalid_token");
      const unknown = await userinfoRequest(env, { headers: bearer("gth_at_nothing.here") });
      expect(unknown.status).toBe(401);
      expect(unknown.headers.get("www-authenticate")).toBe('Bearer error="invalid_token", error_description="The access token is malformed or not known to this server."');
      expect(unknown.body).toEqual({
        error: "invalid_token",
        error_description: "The access token provided is expired, revoked, malformed, or invalid for other reasons. The access token is malformed or not known to this server.",
      });
      const refreshToken = await userinfoRequest(env, { headers: bearer(tokens.refresh_token!) });
      expect(refreshToken.status).toBe(401);
      expect(refreshToken.headers.get("www-authenticate")).toContain("Only access tokens are allowed");
      // The query is refused outright (RFC 6750 §2.3, RFC 9700): 400 invalid_request.
      const query = await userinfoRequest(env, {}, `?access_token=${encodeURIComponent(tokens.access_token)}`);
      expect(query.status).toBe(400);
      expect(query.body.error).toBe("invalid_request");
      expect(query.headers.get("www-authenticate")).toStartWith('Bearer error="invalid_request", error_description="Access tokens are not accepted in the URI query');
      const twice = await userinfoRequest(env, form({ access_token: tokens.access_token }, bearer(tokens.access_token)));
      expect(twice.status).toBe(400);
      expect(twice.body.error).toBe("invalid_request");
      const basicScheme = await userinfoRequest(env, { headers: { Authorization: "Basic Zm9vOmJhcg==" } });
      expect(basicScheme.status).toBe(401);
      expect(basicScheme.headers.get("www-authenticate")).toBe("Bearer");
      const repeated = await userinfoRequest(env, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: "access_token=a&access_token=b" });
      expect(repeated.status).toBe(400);
      const json = await userinfoRequest(env, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ access_token: tokens.access_token }) });
      expect(json.status).toBe(401);
      // openid-client surfaces the challenge.
      const err = await oidc.fetchUserInfo(rp, "gth_at_nothing.here", "alice").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
      expect((err as oidc.WWWAuthenticateChallengeError).cause[0]).toMatchObject({ scheme: "bearer", parameters: { error: "invalid_token" } });
    });

    test("a revoked access token is invalid_token", async () => {
      const { tokens: own } = await codeFlow(env, rp);
      expect((await userinfoRequest(env, { headers: bearer(own.access_token) })).status).toBe(200);
      await oidc.tokenRevocation(rp, own.access_token);
      const res = await userinfoRequest(env, { headers: bearer(own.access_token) });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
    });

    test("after a refresh the new access token answers the same claims", async () => {
      const { tokens: own } = await codeFlow(env, rp, {}, { login: { subject: "alice", acr: "urn:acr:pwd", amr: ["pwd"] }, consent });
      const next = await oidc.refreshTokenGrant(rp, own.refresh_token!);
      const claims = await oidc.fetchUserInfo(rp, next.access_token, "alice");
      expect(claims).toMatchObject({ sub: "alice", name: "Alice", email: "alice@example.com", auth_time: own.claims()!.auth_time });
    });

    test("userinfo_signed_response_alg RS256: application/jwt signed with the ID-token key (jose and openid-client verify it)", async () => {
      const signed = await createClient(env, { userinfo_signed_response_alg: "RS256" });
      const config = await discover(env, signed.client_id, oidc.None(), { userinfo_signed_response_alg: "RS256" });
      const { tokens: own } = await codeFlow(env, config, {}, { consent });
      const res = await env.server.publicFetch("/userinfo", { headers: bearer(own.access_token) });
      expect(res.headers.get("content-type")).toBe("application/jwt");
      const jwt = await res.text();
      const jwks = createRemoteJWKSet(new URL(`${env.server.publicUrl}/.well-known/jwks.json`));
      const { payload, protectedHeader } = await jwtVerify(jwt, jwks, { issuer: env.issuer, audience: signed.client_id });
      expect(protectedHeader).toMatchObject({ alg: "RS256", kid: decodeProtectedHeader(own.id_token!).kid });
      expect(payload).toMatchObject({ sub: "alice", name: "Alice", aud: [signed.client_id] });
      expect(typeof payload.jti).toBe("string");
      expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(30);
      const viaRp = await oidc.fetchUserInfo(config, own.access_token, "alice");
      expect(viaRp.name).toBe("Alice");
    });

    test("a token without a user session (client_credentials): sub is the client", async () => {
      const machine = await createClient(env, { grant_types: ["client_credentials"], client_secret: "machine-secret-123", token_endpoint_auth_method: "client_secret_post", scope: "read" });
      const cc = await token(env, { grant_type: "client_credentials", client_id: machine.client_id, client_secret: "machine-secret-123", scope: "read" });
      const res = await userinfoRequest(env, { headers: bearer(cc.body.access_token) });
      expect(res.body).toEqual({ sub: machine.client_id, iss: env.issuer, aud: [machine.client_id] });
    });

    test("CORS on /userinfo for allowed origins, including the preflight", async () => {
      const res = await userinfoRequest(env, { headers: { ...bearer(tokens.access_token), Origin: "https://spa.example" } });
      expect(res.headers.get("access-control-allow-origin")).toBe("https://spa.example");
      const failed = await userinfoRequest(env, { headers: { Origin: "https://spa.example" } });
      expect(failed.status).toBe(401);
      expect(failed.headers.get("access-control-allow-origin")).toBe("https://spa.example");
      const preflight = await env.server.publicFetch("/userinfo", { method: "OPTIONS", headers: { Origin: "https://spa.example", "Access-Control-Request-Method": "GET" } });
      expect(preflight.status).toBe(204);
      expect((await userinfoRequest(env, { headers: { ...bearer(tokens.access_token), Origin: "https://evil.example" } })).headers.get("access-control-allow-origin")).toBeNull();
    });

    test("discovery: userinfo_signing_alg_values_supported none and RS256; id_token_signing_alg_values_supported RS256", async () => {
      const meta = rp.serverMetadata();
      expect(meta.userinfo_signing_alg_values_supported).toEqual(["none", "RS256"]);
      expect(meta.id_token_signing_alg_values_supported).toEqual(["RS256"]);
    });
  });
}

describe("pairwise subjects", () => {
  let env: GrantEnv;
  const salt = "pairwise-salt-for-grant-tests";
  beforeAll(async () => {
    env = await startGrantEnv("PostgreSQL", "grant_pairwise", { oidc: { subject_identifiers: { supported_types: ["public", "pairwise"], pairwise: { salt } } } });
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  test("the same pairwise sub in the ID token, userinfo and the refreshed ID token; introspection has sub = the local subject and obfuscated_subject", async () => {
    const client = await createClient(env, { subject_type: "pairwise", redirect_uris: ["https://client.test/cb"] });
    const rp = await discover(env, client.client_id);
    const flow = await authorize(env, rp, {}, { login: { subject: "alice" } });
    // The code row holds the local subject, as token rows do (the client's view is in its sealed session).
    const codeRow = await getAuthorizationCode(env.server.deps.db, authorizationCodeSignature(env.server.deps, flow.callback.searchParams.get("code")!)!);
    expect(codeRow!.subject).toBe("alice");
    const tokens = await oidc.authorizationCodeGrant(rp, flow.callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
    const pairwise = createHash("sha256").update(`client.test${"alice"}${salt}`).digest("hex");
    expect(tokens.claims()!.sub).toBe(pairwise);
    expect((await oidc.fetchUserInfo(rp, tokens.access_token, pairwise)).sub).toBe(pairwise);
    const seen = await introspect(env, tokens.access_token);
    expect(seen).toMatchObject({ active: true, sub: "alice", obfuscated_subject: pairwise });
    expect(await introspect(env, tokens.refresh_token!)).toMatchObject({ sub: "alice", obfuscated_subject: pairwise });
    const next = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    expect(next.claims()!.sub).toBe(pairwise);
    expect((await oidc.fetchUserInfo(rp, next.access_token, pairwise)).sub).toBe(pairwise);
    expect(await introspect(env, next.access_token)).toMatchObject({ sub: "alice", obfuscated_subject: pairwise });
    // The code row follows the convention too: consent revocation by the local subject finds the grant.
    const revoked = await env.server.adminFetch(`/oauth2/auth/sessions/consent?subject=alice&client=${client.client_id}`, { method: "DELETE" });
    expect(revoked.status).toBe(204);
    expect(await introspect(env, next.access_token)).toEqual({ active: false });
  });

  test("force_subject_identifier: the client sees the forced value everywhere", async () => {
    const client = await createClient(env, { subject_type: "pairwise", redirect_uris: ["https://client.test/cb"] });
    const rp = await discover(env, client.client_id);
    const { tokens } = await codeFlow(env, rp, {}, { login: { subject: "bob", force_subject_identifier: "forced-bob" } });
    expect(tokens.claims()!.sub).toBe("forced-bob");
    expect((await oidc.fetchUserInfo(rp, tokens.access_token, "forced-bob")).sub).toBe("forced-bob");
    expect(await introspect(env, tokens.access_token)).toMatchObject({ sub: "bob", obfuscated_subject: "forced-bob" });
  });
});

describe("ES256 first-start keys (keys.first_start.algorithm)", () => {
  let env: GrantEnv;
  beforeAll(async () => {
    env = await startGrantEnv("PGlite", "grant_es256", { keys: { first_start: { algorithm: "ES256" } } });
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  test("discovery says ES256 for ID tokens and only none for userinfo; ID tokens are ES256; RS256 userinfo is a clear server_error", async () => {
    const client = await createClient(env);
    const rp = await discover(env, client.client_id, oidc.None(), { id_token_signed_response_alg: "ES256" });
    expect(rp.serverMetadata().id_token_signing_alg_values_supported).toEqual(["ES256"]);
    expect(rp.serverMetadata().userinfo_signing_alg_values_supported).toEqual(["none"]);
    const { tokens } = await codeFlow(env, rp);
    expect(decodeProtectedHeader(tokens.id_token!).alg).toBe("ES256");
    expect((await verifyIdToken(env, tokens.id_token!, client.client_id)).sub).toBe("alice");
    const signed = await createClient(env, { userinfo_signed_response_alg: "RS256" });
    const own = await codeFlow(env, await discover(env, signed.client_id, oidc.None(), { id_token_signed_response_alg: "ES256" }));
    const res = await userinfoRequest(env, { headers: bearer(own.tokens.access_token) });
    expect(res.status).toBe(500);
    expect(res.body.error).toBe("server_error");
  });
});
