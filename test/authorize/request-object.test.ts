/**
 * Request objects (OIDC Core §6): `request` signed RS256 (client jwks) and ES256 (client
 * jwks_uri), unsigned `none`, by reference through `request_uri`; their parameters win over
 * the query's; bad signatures, foreign client_ids, expired objects, unregistered request URIs
 * and the client's enforced algorithm are refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWTPayload } from "jose";
import { admin, authPath, Browser, challengeFrom, createClient, issuer, nonce, readResponse, runFlow, startEnv, startTimeout, state, verifyIdToken, type Env } from "../flows/kit.ts";

/** A relying party's own web server: its JWKS and its request objects (plain http on loopback, as tests run). */
let rp: ReturnType<typeof Bun.serve>;
const published = new Map<string, string>();
const fetched: string[] = [];

let rsa: CryptoKeyPair;
let ec: CryptoKeyPair;
let ecJwks: string;

beforeAll(async () => {
  rsa = await generateKeyPair("RS256");
  ec = await generateKeyPair("ES256");
  ecJwks = JSON.stringify({ keys: [{ ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" }] });
  rp = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      fetched.push(path);
      if (path === "/jwks.json") return new Response(ecJwks, { headers: { "Content-Type": "application/json" } });
      if (path === "/slow") return Bun.sleep(5000).then(() => new Response("late"));
      if (path === "/redirect") return Response.redirect(`http://127.0.0.1:${rp.port}/request/ok`, 302);
      const body = published.get(path);
      return body ? new Response(body, { headers: { "Content-Type": "application/oauth-authz-req+jwt" } }) : new Response("not found", { status: 404 });
    },
  });
});
afterAll(() => {
  rp?.stop(true);
});

const rpUrl = (path: string) => `http://127.0.0.1:${rp.port}${path}`;

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`request objects on ${backend}`, () => {
    let env: Env;
    let rsaClient: Record<string, any>;
    let ecClient: Record<string, any>;
    let noneClient: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "authz_reqobj");
      rsaClient = await createClient(env, {
        redirect_uris: ["https://client.test/cb", "https://client.test/other"],
        jwks: { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" }] },
      });
      ecClient = await createClient(env, { jwks_uri: rpUrl("/jwks.json"), request_uris: [rpUrl("/request/ec")] });
      noneClient = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const signRsa = (claims: JWTPayload, kid = "rsa-1") => new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid }).setIssuedAt().setExpirationTime("5m").setAudience(issuer).setIssuer(rsaClient.client_id).sign(rsa.privateKey);

    test("signed RS256 `request`: its parameters win (redirect_uri, state, nonce, scope), the query keeps openid", async () => {
      const s = state();
      const n = nonce();
      const request = await signRsa({
        client_id: rsaClient.client_id,
        response_type: "code id_token",
        redirect_uri: "https://client.test/other",
        state: s,
        nonce: n,
        scope: "profile",
        max_age: 3600,
      });
      const stop = await runFlow(new Browser(env), {
        client_id: rsaClient.client_id,
        response_type: "code id_token",
        scope: "openid",
        redirect_uri: "https://client.test/cb",
        state: "outer-state-ignored",
        request,
      });
      const res = readResponse(stop);
      expect(res.target).toBe("https://client.test/other");
      expect(res.params.state).toBe(s);
      const claims = await verifyIdToken(env, res.params.id_token!, rsaClient.client_id);
      expect(claims.nonce).toBe(n);
      expect(res.params.scope).toBe("profile openid");
    });

    test("signed ES256 `request_uri` with keys from the client's jwks_uri", async () => {
      const s = state();
      published.set(
        "/request/ec",
        await new SignJWT({ client_id: ecClient.client_id, response_type: "code", state: s, scope: "openid", redirect_uri: "https://client.test/cb" })
          .setProtectedHeader({ alg: "ES256", kid: "ec-1" })
          .setIssuedAt()
          .sign(ec.privateKey),
      );
      const res = readResponse(await runFlow(new Browser(env), { client_id: ecClient.client_id, response_type: "code", scope: "openid", request_uri: rpUrl("/request/ec") }));
      expect(res.params.state).toBe(s);
      expect(res.params.code).toBeDefined();
    });

    test("unsigned (`none`) request objects, by value and by reference", async () => {
      const s = state();
      const request = new UnsecuredJWT({ client_id: noneClient.client_id, state: s, login_hint: "zoe@example.com" }).encode();
      const start = await new Browser(env).navigate(authPath({ client_id: noneClient.client_id, response_type: "code", scope: "openid", request }));
      const login = await admin(env, `/oauth2/auth/requests/login?login_challenge=${challengeFrom(start, "login")}`);
      expect(login.body.oidc_context.login_hint).toBe("zoe@example.com");
      published.set("/request/none", new UnsecuredJWT({ state: s }).encode());
      const byRef = readResponse(await runFlow(new Browser(env), { client_id: noneClient.client_id, response_type: "code", scope: "openid", request_uri: rpUrl("/request/none") }));
      expect(byRef.params.state).toBe(s);
    });

    test("refused request objects: the error goes to the query's (valid) redirect URI", async () => {
      const { privateKey: stranger } = await generateKeyPair("RS256");
      const s = state();
      const base = { client_id: rsaClient.client_id, response_type: "code", scope: "openid", redirect_uri: "https://client.test/cb", state: s };
      const cases: [string, string, string][] = [
        ["bad signature", await new SignJWT({ state: s }).setProtectedHeader({ alg: "RS256", kid: "rsa-1" }).sign(stranger), "invalid_request_object"],
        ["another client's", await signRsa({ client_id: "someone-else" }), "invalid_request_object"],
        ["expired", await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "rsa-1" }).setExpirationTime(Math.floor(Date.now() / 1000) - 600).sign(rsa.privateKey), "invalid_request_object"],
        ["for another audience", await new SignJWT({}).setProtectedHeader({ alg: "RS256", kid: "rsa-1" }).setAudience("https://other-op.test/").sign(rsa.privateKey), "invalid_request_object"],
        ["a mismatching response_type", await signRsa({ response_type: "token" }), "invalid_request_object"],
        ["not a JWT", "not-a-jwt", "invalid_request_object"],
        ["HS256", await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).sign(new Uint8Array(32)), "invalid_request_object"],
      ];
      for (const [label, request, error] of cases) {
        const res = readResponse(await new Browser(env).navigate(authPath({ ...base, request })));
        expect({ label, target: res.target, error: res.params.error, state: res.params.state }).toEqual({ label, target: "https://client.test/cb", error, state: s });
      }
      const both = readResponse(await new Browser(env).navigate(authPath({ ...base, request: "a.b.c", request_uri: rpUrl("/request/none") })));
      expect(both.params.error).toBe("invalid_request");
      // The object's redirect_uri is checked like the query's: an unregistered one is the error page.
      const elsewhere = await new Browser(env).navigate(authPath({ ...base, request: await signRsa({ redirect_uri: "https://evil.test/cb" }) }));
      expect(elsewhere.status).toBe(500);
      expect(elsewhere.hops.some((h) => (h.location ?? "").includes("evil.test"))).toBe(false);
    });

    test("request_uri: only a registered one when the client lists some; fetch failures; no redirects followed", async () => {
      const base = { client_id: ecClient.client_id, response_type: "code", scope: "openid", redirect_uri: "https://client.test/cb", state: state() };
      const unregistered = readResponse(await new Browser(env).navigate(authPath({ ...base, request_uri: rpUrl("/request/none") })));
      expect(unregistered.params.error).toBe("invalid_request_uri");
      expect(unregistered.params.error_description).toContain("is not whitelisted by the OAuth 2.0 Client");
      const noneBase = { ...base, client_id: noneClient.client_id };
      for (const path of ["/missing", "/redirect"]) {
        const res = readResponse(await new Browser(env).navigate(authPath({ ...noneBase, request_uri: rpUrl(path) })));
        expect(res.params.error).toBe("invalid_request_uri");
      }
      const started = Date.now();
      const slow = readResponse(await new Browser(env).navigate(authPath({ ...noneBase, request_uri: rpUrl("/slow") })));
      expect(slow.params.error).toBe("invalid_request_uri");
      expect(Date.now() - started).toBeLessThan(4500);
      expect(fetched).not.toContain("/request/ok");
    }, 15_000);

    test("a client that registered request_object_signing_alg accepts nothing else", async () => {
      const strict = await createClient(env, {
        request_object_signing_alg: "RS256",
        jwks: { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" }] },
      });
      const res = readResponse(
        await new Browser(env).navigate(
          authPath({ client_id: strict.client_id, response_type: "code", scope: "openid", state: state(), request: new UnsecuredJWT({}).encode() }),
        ),
      );
      expect(res.params.error).toBe("invalid_request_object");
      expect(res.params.error_description).toContain("enforces signing algorithm 'RS256'");
    });
  });
}
