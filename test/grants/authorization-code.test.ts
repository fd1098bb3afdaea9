/**
 * The authorization_code grant over real HTTP, on PostgreSQL and PGlite, with openid-client v6
 * as the relying party (it checks iss, aud, nonce, state, signatures; we add at_hash/c_hash):
 * PKCE S256, the four client authentication methods, hybrid responses, refresh tokens only
 * for offline scopes and clients allowed to refresh, redirect_uri rules, single use under
 * 20 concurrent redemptions, and reuse revoking what the code issued.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, type CryptoKey } from "jose";
import * as oidc from "openid-client";
import { authorizationCodeSignature } from "../../src/oauth2/authorization-code.ts";
import { authorizationCodes } from "../../src/storage/schema/index.ts";
import { eq } from "drizzle-orm";
import { halfHash, readResponse, verifyIdToken } from "../flows/kit.ts";
import {
  authorize,
  basic,
  codeFlow,
  codeOf,
  createClient,
  discover,
  introspect,
  oauthError,
  redirectUri,
  startGrantEnv,
  token,
  runFlow,
  Browser,
  type GrantEnv,
} from "./support.ts";

const backends = ["PostgreSQL", "PGlite"] as const;

for (const backend of backends) {
  describe(`authorization_code on ${backend}`, () => {
    let env: GrantEnv;
    let publicClient: Record<string, any>;
    let rp: oidc.Configuration;
    beforeAll(async () => {
      env = await startGrantEnv(backend, "grant_code");
      publicClient = await createClient(env);
      rp = await discover(env, publicClient.client_id);
    }, 60_000);
    afterAll(async () => {
      await env?.stop();
    });

    test("public client + PKCE S256: tokens as openid-client checks them; at_hash, auth_time, sid, acr/amr, consent claims", async () => {
      const { flow, tokens } = await codeFlow(env, rp, {}, {
        login: { subject: "alice", acr: "urn:acr:mfa", amr: ["pwd", "otp"] },
        consent: { grant_scope: ["openid", "offline_access", "profile"], session: { id_token: { name: "Alice", sub: "evil", nonce: "x" }, access_token: { tier: "gold" } } },
      });
      expect(tokens.token_type).toBe("bearer");
      expect(tokens.scope).toBe("openid offline_access profile");
      expect(tokens.expires_in).toBe(3600);
      expect(tokens.access_token).toStartWith("gth_at_");
      expect(tokens.refresh_token).toStartWith("gth_rt_");
      const claims = tokens.claims()!;
      expect(claims).toMatchObject({ iss: env.issuer, sub: "alice", aud: [publicClient.client_id], nonce: flow.nonce, acr: "urn:acr:mfa", amr: ["pwd", "otp"], name: "Alice" });
      expect(claims.at_hash).toBe(halfHash(tokens.access_token));
      expect(typeof claims.sid).toBe("string");
      expect(Math.abs((claims.auth_time as number) - Date.now() / 1000)).toBeLessThan(30);
      // Verified again against jwks.json, with the kid.
      expect((await verifyIdToken(env, tokens.id_token!, publicClient.client_id)).sub).toBe("alice");
      const active = await introspect(env, tokens.access_token);
      expect(active).toMatchObject({ active: true, sub: "alice", client_id: publicClient.client_id, scope: "openid offline_access profile", ext: { tier: "gold" }, token_use: "access_token" });
      expect(active.obfuscated_subject).toBeUndefined();
      expect(await introspect(env, tokens.refresh_token!)).toMatchObject({ active: true, token_use: "refresh_token", sub: "alice" });
    });

    test("PKCE: a missing or wrong verifier is invalid_grant and does not spend the code; a verifier without a challenge too", async () => {
      const flow = await authorize(env, rp);
      const code = codeOf(flow);
      const base = { grant_type: "authorization_code", code, redirect_uri: redirectUri, client_id: publicClient.client_id };
      const missing = await token(env, base);
      expect(missing.status).toBe(400);
      expect(missing.body.error).toBe("invalid_grant");
      expect(missing.body.error_description).toContain("'code_verifier' parameter is missing");
      const wrong = await token(env, { ...base, code_verifier: oidc.randomPKCECodeVerifier() });
      expect(wrong.body.error).toBe("invalid_grant");
      expect(wrong.body.error_description).toContain("did not match the code verifier");
      const short = await token(env, { ...base, code_verifier: "too-short" });
      expect(short.body.error).toBe("invalid_grant");
      // Failed attempts issued nothing and spent nothing: the right verifier still works once.
      const ok = await token(env, { ...base, code_verifier: flow.verifier });
      expect(ok.status).toBe(200);
      expect((await token(env, { ...base, code_verifier: flow.verifier })).body.error).toBe("invalid_grant");

      // RFC 9700 §4.8.2: no code_challenge in the request, a code_verifier at the token endpoint.
      const plain = await authorize(env, rp, { code_challenge: "", code_challenge_method: "" });
      const downgrade = await token(env, { ...base, code: codeOf(plain), code_verifier: flow.verifier });
      expect(downgrade.body.error).toBe("invalid_grant");
      expect(downgrade.body.error_description).toContain("RFC 9700");
      // Without PKCE at all (not enforced by config) a public client may redeem.
      expect((await token(env, { ...base, code: codeOf(plain) })).status).toBe(200);
    });

    test("redirect_uri: required and identical when the request had one; optional (but checked) when it had none", async () => {
      const flow = await authorize(env, rp);
      const base = { grant_type: "authorization_code", code: codeOf(flow), client_id: publicClient.client_id, code_verifier: flow.verifier };
      const none = await token(env, base);
      expect(none.body.error).toBe("invalid_grant");
      expect(none.body.error_description).toContain("'redirect_uri' parameter is required");
      const other = await token(env, { ...base, redirect_uri: "https://client.test/cb/other" });
      expect(other.body.error).toBe("invalid_grant");
      expect(other.body.error_description).toContain("does not match the one from the authorize request");
      expect((await token(env, { ...base, redirect_uri: redirectUri })).status).toBe(200);

      // The authorization request without redirect_uri: the client's only one was used.
      const implicitUri = await authorize(env, rp, { redirect_uri: "" });
      const withoutUri = { ...base, code: codeOf(implicitUri), code_verifier: implicitUri.verifier };
      expect((await token(env, { ...withoutUri, redirect_uri: "https://evil.test/cb" })).body.error).toBe("invalid_grant");
      expect((await token(env, withoutUri)).status).toBe(200);
    });

    test("the code is the client's: another client gets invalid_grant and the code stays redeemable", async () => {
      const other = await createClient(env);
      const flow = await authorize(env, rp);
      const params = { grant_type: "authorization_code", code: codeOf(flow), redirect_uri: redirectUri, code_verifier: flow.verifier };
      const stolen = await token(env, { ...params, client_id: other.client_id });
      expect(stolen.body.error).toBe("invalid_grant");
      expect(stolen.body.error_description).toContain("does not match the one from the authorize request");
      expect((await token(env, { ...params, client_id: publicClient.client_id })).status).toBe(200);
    });

    test("confidential clients: client_secret_basic, client_secret_post, private_key_jwt", async () => {
      const pair = await generateKeyPair("ES256", { extractable: true });
      const jwk = { ...(await exportJWK(pair.publicKey)), kid: "rp-es", alg: "ES256", use: "sig" };
      const clients = [
        { auth: oidc.ClientSecretBasic("basic-secret-123456"), body: { client_secret: "basic-secret-123456", token_endpoint_auth_method: "client_secret_basic" } },
        { auth: oidc.ClientSecretPost("post-secret-1234567"), body: { client_secret: "post-secret-1234567", token_endpoint_auth_method: "client_secret_post" } },
        {
          auth: oidc.PrivateKeyJwt({ key: pair.privateKey as CryptoKey, kid: "rp-es" }),
          body: { token_endpoint_auth_method: "private_key_jwt", token_endpoint_auth_signing_alg: "ES256", jwks: { keys: [jwk] } },
        },
      ];
      for (const { auth, body } of clients) {
        const c = await createClient(env, body);
        const config = await discover(env, c.client_id, auth);
        const { tokens } = await codeFlow(env, config);
        expect(tokens.claims()!.aud).toEqual([c.client_id]);
        expect(tokens.refresh_token).toBeDefined();
        expect((await introspect(env, tokens.access_token)).client_id).toBe(c.client_id);
      }
      // The confidential client must authenticate: a bare client_id is refused before the grant runs.
      const c = await createClient(env, { client_secret: "basic-secret-123456", token_endpoint_auth_method: "client_secret_basic" });
      const flow = await authorize(env, await discover(env, c.client_id, oidc.ClientSecretBasic("basic-secret-123456")));
      const bare = await token(env, { grant_type: "authorization_code", code: codeOf(flow), redirect_uri: redirectUri, client_id: c.client_id, code_verifier: flow.verifier });
      expect(bare.status).toBe(401);
      expect(bare.body.error).toBe("invalid_client");
      const right = await token(env, { grant_type: "authorization_code", code: codeOf(flow), redirect_uri: redirectUri, code_verifier: flow.verifier }, { Authorization: basic(c.client_id, "basic-secret-123456") });
      expect(right.status).toBe(200);
    });

    test("refresh tokens: offline_access or offline granted AND the client may refresh; otherwise none", async () => {
      const offline = await codeFlow(env, rp, { scope: "openid offline" });
      expect(offline.tokens.refresh_token).toStartWith("gth_rt_");
      const online = await codeFlow(env, rp, { scope: "openid profile" });
      expect(online.tokens.refresh_token).toBeUndefined();
      // Requested, but the consent app did not grant it.
      const notGranted = await codeFlow(env, rp, {}, { consent: { grant_scope: ["openid", "profile"] } });
      expect(notGranted.tokens.refresh_token).toBeUndefined();
      const noRefreshGrant = await createClient(env, { grant_types: ["authorization_code"] });
      const withoutGrant = await codeFlow(env, await discover(env, noRefreshGrant.client_id));
      expect(withoutGrant.tokens.scope).toContain("offline_access");
      expect(withoutGrant.tokens.refresh_token).toBeUndefined();
    });

    test("without openid: no ID token (plain OAuth 2.0)", async () => {
      const flow = await authorize(env, rp, { scope: "offline_access profile" });
      const res = await token(env, { grant_type: "authorization_code", code: codeOf(flow), redirect_uri: redirectUri, client_id: publicClient.client_id, code_verifier: flow.verifier });
      expect(res.status).toBe(200);
      expect(res.body.id_token).toBeUndefined();
      expect(res.body.refresh_token).toBeDefined();
      expect(res.headers.get("cache-control")).toBe("no-store");
    });

    test("reuse after success: invalid_grant, and the access and refresh tokens of that code are revoked", async () => {
      const { flow, tokens } = await codeFlow(env, rp);
      const again = await oauthError(oidc.authorizationCodeGrant(rp, flow.callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce }));
      expect(again).toMatchObject({ error: "invalid_grant", status: 400 });
      expect(again.description).toContain("already been used");
      expect(await introspect(env, tokens.access_token)).toEqual({ active: false });
      expect(await introspect(env, tokens.refresh_token!)).toEqual({ active: false });
      expect((await token(env, { grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: publicClient.client_id })).body.error).toBe("invalid_grant");
    });

    test("20 concurrent redemptions of one code: exactly one succeeds, and its tokens end up revoked", async () => {
      const flow = await authorize(env, rp);
      const params = { grant_type: "authorization_code", code: codeOf(flow), redirect_uri: redirectUri, client_id: publicClient.client_id, code_verifier: flow.verifier };
      const replies = await Promise.all(Array.from({ length: 20 }, () => token(env, params)));
      const ok = replies.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      expect(replies.filter((r) => r.status === 400 && r.body.error === "invalid_grant")).toHaveLength(19);
      expect(replies.every((r) => r.status === 200 || r.status === 400)).toBe(true);
      // The losers saw a spent code: RFC 6749 §4.1.2 / §10.5, the winner's tokens are revoked.
      expect(await introspect(env, ok[0]!.body.access_token)).toEqual({ active: false });
      expect(await introspect(env, ok[0]!.body.refresh_token)).toEqual({ active: false });
    });

    test("an expired code is invalid_grant (ttl.auth_code), an unknown or forged one too", async () => {
      const flow = await authorize(env, rp);
      const signature = authorizationCodeSignature(env.server.deps, codeOf(flow))!;
      await env.server.deps.db.update(authorizationCodes).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(authorizationCodes.signature, signature));
      const params = { grant_type: "authorization_code", redirect_uri: redirectUri, client_id: publicClient.client_id, code_verifier: flow.verifier };
      const expired = await token(env, { ...params, code: codeOf(flow) });
      expect(expired.body.error).toBe("invalid_grant");
      expect(expired.body.error_description).toContain("expired");
      expect((await token(env, { ...params, code: `${codeOf(flow)}x` })).body.error).toBe("invalid_grant");
      expect((await token(env, { ...params, code: "gth_ac_nothing.here" })).body.error).toBe("invalid_grant");
      const missing = await token(env, params);
      expect(missing.body).toMatchObject({ error: "invalid_request" });
    });

    test("hybrid code id_token with openid-client: c_hash checked by it; sub and sid the same in both ID tokens", async () => {
      const config = await discover(env, publicClient.client_id, oidc.None(), {}, [oidc.useCodeIdTokenResponseType]);
      const flow = await authorize(env, config);
      expect(flow.callback.hash).toContain("id_token=");
      const front = await verifyIdToken(env, new URLSearchParams(flow.callback.hash.slice(1)).get("id_token")!, publicClient.client_id);
      expect(front.c_hash).toBe(halfHash(new URLSearchParams(flow.callback.hash.slice(1)).get("code")!));
      const tokens = await oidc.authorizationCodeGrant(config, flow.callback, { pkceCodeVerifier: flow.verifier, expectedState: flow.state, expectedNonce: flow.nonce });
      const back = tokens.claims()!;
      expect([back.sub, back.sid, back.auth_time]).toEqual([front.sub, front.sid as string, front.auth_time as number]);
      expect(back.at_hash).toBe(halfHash(tokens.access_token));
    });

    for (const responseType of ["code token", "code id_token token"]) {
      test(`hybrid ${responseType}: at_hash/c_hash verified with jose; both access tokens belong to the code's grant`, async () => {
        const verifier = oidc.randomPKCECodeVerifier();
        const nonce = oidc.randomNonce();
        const stop = await runFlow(new Browser(env), {
          client_id: publicClient.client_id,
          response_type: responseType,
          redirect_uri: redirectUri,
          scope: "openid offline_access",
          state: "state-hybrid-1",
          nonce,
          code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
          code_challenge_method: "S256",
        });
        const res = readResponse(stop);
        expect(res.mode).toBe("fragment");
        const { code, access_token: frontToken, id_token: frontIdToken } = res.params;
        if (responseType.includes("id_token")) {
          const front = await verifyIdToken(env, frontIdToken!, publicClient.client_id);
          expect(front.nonce).toBe(nonce);
          expect(front.c_hash).toBe(halfHash(code!));
          expect(front.at_hash).toBe(halfHash(frontToken!));
        } else {
          expect(frontIdToken).toBeUndefined();
        }
        const back = await token(env, { grant_type: "authorization_code", code: code!, redirect_uri: redirectUri, client_id: publicClient.client_id, code_verifier: verifier });
        expect(back.status).toBe(200);
        const idClaims = await verifyIdToken(env, back.body.id_token, publicClient.client_id);
        expect(idClaims.sub).toBe("alice");
        expect(idClaims.nonce).toBe(nonce);
        expect(idClaims.at_hash).toBe(halfHash(back.body.access_token));
        expect((await introspect(env, frontToken!)).active).toBe(true);
        // Reusing the code revokes everything of the grant: the front-channel token too.
        expect((await token(env, { grant_type: "authorization_code", code: code!, redirect_uri: redirectUri, client_id: publicClient.client_id, code_verifier: verifier })).body.error).toBe("invalid_grant");
        expect((await introspect(env, frontToken!)).active).toBe(false);
        expect((await introspect(env, back.body.access_token)).active).toBe(false);
      });
    }

    test("discovery lists authorization_code and refresh_token from the grant registry", async () => {
      const meta = rp.serverMetadata();
      expect(meta.grant_types_supported).toEqual(["authorization_code", "implicit", "client_credentials", "refresh_token"]);
      expect(meta.userinfo_endpoint).toBe(`${env.issuer}userinfo`);
    });
  });
}

describe("PKCE enforced for public clients (oauth2.pkce.enforced_for_public_clients)", () => {
  let env: GrantEnv;
  beforeAll(async () => {
    env = await startGrantEnv("PostgreSQL", "grant_code_pkce", { oauth2: { pkce: { enforced_for_public_clients: true } } });
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  test("a public client without a challenge gets no code; a confidential one does, and redeems it without a verifier", async () => {
    const pub = await createClient(env);
    const refused = await new Browser(env).navigate(`/oauth2/auth?${new URLSearchParams({ client_id: pub.client_id, response_type: "code", scope: "openid", state: "state-123", redirect_uri: redirectUri })}`);
    expect(readResponse(refused).params.error).toBe("invalid_request");
    const conf = await createClient(env, { client_secret: "conf-secret-12345", token_endpoint_auth_method: "client_secret_post" });
    const config = await discover(env, conf.client_id, oidc.ClientSecretPost("conf-secret-12345"));
    const flow = await authorize(env, config, { code_challenge: "", code_challenge_method: "" });
    const tokens = await oidc.authorizationCodeGrant(config, flow.callback, { expectedState: flow.state, expectedNonce: flow.nonce });
    expect(tokens.access_token).toBeDefined();
  });
});

describe("JWT access tokens on PGlite (strategies.access_token=jwt)", () => {
  let env: GrantEnv;
  beforeAll(async () => {
    env = await startGrantEnv("PGlite", "grant_code_jwt", { strategies: { access_token: "jwt" } });
  }, 60_000);
  afterAll(async () => {
    await env?.stop();
  });

  test("the implicit `token` response and the code grant both issue JWTs inside their transaction without deadlocking PGlite", async () => {
    const c = await createClient(env);
    // The first access token of a fresh server: the signing key is not cached yet.
    const implicit = readResponse(
      await Promise.race([
        runFlow(new Browser(env), { client_id: c.client_id, response_type: "token", redirect_uri: redirectUri, scope: "openid", state: "jwt-state" }),
        Bun.sleep(4_000).then(() => {
          throw new Error("the implicit flow hung");
        }),
      ]),
    );
    expect(implicit.params.access_token!.split(".")).toHaveLength(3);
    const { tokens } = await codeFlow(env, await discover(env, c.client_id));
    expect(tokens.access_token.split(".")).toHaveLength(3);
    const payload = JSON.parse(Buffer.from(tokens.access_token.split(".")[1]!, "base64url").toString());
    expect(payload).toMatchObject({ sub: "alice", client_id: c.client_id, iss: env.issuer, scp: ["openid", "offline_access", "profile"] });
    expect((await introspect(env, tokens.access_token)).active).toBe(true);
  });
});
