/**
 * Every response type × response mode through the whole browser flow (authorize → login app →
 * consent app → authorization response), on PostgreSQL and PGlite: codes exist and are
 * single-use, tokens introspect, ID tokens verify against jwks.json with nonce, at_hash,
 * c_hash, sid and auth_time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { authorizationCodeSignature, redeemAuthorizationCode } from "../../src/oauth2/authorization-code.ts";
import { getAuthorizationCode } from "../../src/flows/store.ts";
import { Browser, createClient, startTimeout, halfHash, nonce, readResponse, runFlow, startEnv, state, verifyIdToken, type Env } from "../flows/kit.ts";

const responseTypes = ["code", "token", "id_token", "code id_token", "code token", "id_token token", "code id_token token"];
const modes = ["query", "fragment", "form_post", undefined] as const;

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`response types and modes on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "authz_types");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    for (const responseType of responseTypes) {
      for (const mode of modes) {
        const tokens = responseType !== "code";
        const label = `${responseType} / ${mode ?? "default"}`;
        test(label, async () => {
          const browser = new Browser(env);
          const s = state();
          const n = nonce();
          const stop = await runFlow(
            browser,
            {
              client_id: client.client_id,
              response_type: responseType,
              response_mode: mode,
              redirect_uri: "https://client.test/cb",
              scope: "openid profile",
              state: s,
              nonce: n,
            },
            { login: { subject: "alice", remember: true, remember_for: 3600, acr: "urn:acr:pwd", amr: ["pwd"] } },
          );
          const res = readResponse(stop);
          if (mode === "query" && tokens) {
            // Tokens never travel in a query: the request is refused (the error itself carries no token).
            expect(res.mode).toBe("query");
            expect(res.params.error).toBe("invalid_request");
            expect(res.params.error_description).toContain("Insecure response_mode 'query'");
            expect(res.params.access_token).toBeUndefined();
            expect(res.params.id_token).toBeUndefined();
            // Refused before any login: no login challenge was ever made.
            expect(stop.hops).toHaveLength(1);
            expect(res.params.state).toBe(s);
            return;
          }
          const expectedMode = mode ?? (responseType === "code" ? "query" : "fragment");
          expect(res.mode).toBe(expectedMode);
          expect(res.target).toBe("https://client.test/cb");
          expect(res.params.error).toBeUndefined();
          expect(res.params.state).toBe(s);
          expect(res.params.scope).toBe("openid profile");
          if (expectedMode === "form_post") {
            const csp = stop.response.headers.get("content-security-policy")!;
            expect(csp).toContain("default-src 'none'");
            expect(csp).toContain("form-action https://client.test");
            expect(stop.response.headers.get("cache-control")).toBe("no-store");
          } else {
            expect(stop.status).toBe(303);
          }

          const types = responseType.split(" ");
          if (types.includes("code")) {
            expect(res.params.code).toStartWith("gth_ac_");
            const signature = authorizationCodeSignature(env.server.deps, res.params.code!)!;
            const stored = await getAuthorizationCode(env.server.deps.db, signature);
            expect(stored).toMatchObject({ clientId: client.client_id, subject: "alice", grantedScope: ["openid", "profile"] });
            expect(stored!.requestId).toHaveLength(32);
            const first = await redeemAuthorizationCode(env.server.deps, env.server.deps.db, res.params.code!);
            expect(first.outcome).toBe("redeemed");
            if (first.outcome === "redeemed") {
              expect(first.session).toMatchObject({
                clientId: client.client_id,
                redirectUri: "https://client.test/cb",
                redirectUriGiven: true,
                nonce: n,
                subject: "alice",
                subjectIdentifier: "alice",
                acr: "urn:acr:pwd",
                amr: ["pwd"],
                grantedScope: ["openid", "profile"],
              });
            }
            expect((await redeemAuthorizationCode(env.server.deps, env.server.deps.db, res.params.code!)).outcome).toBe("reused");
          } else {
            expect(res.params.code).toBeUndefined();
          }
          if (types.includes("token")) {
            expect(res.params.access_token).toStartWith("gth_at_");
            expect(res.params.token_type).toBe("bearer");
            expect(Number(res.params.expires_in)).toBeGreaterThan(3500);
          } else {
            expect(res.params.access_token).toBeUndefined();
          }
          if (types.includes("id_token")) {
            const claims = await verifyIdToken(env, res.params.id_token!, client.client_id);
            expect(claims.sub).toBe("alice");
            expect(claims.nonce).toBe(n);
            expect(claims.aud).toEqual([client.client_id]);
            expect(claims.acr).toBe("urn:acr:pwd");
            expect(claims.amr).toEqual(["pwd"]);
            expect(typeof claims.sid).toBe("string");
            expect(typeof claims.auth_time).toBe("number");
            expect(Math.abs((claims.auth_time as number) - Date.now() / 1000)).toBeLessThan(10);
            if (types.includes("token")) expect(claims.at_hash).toBe(halfHash(res.params.access_token!));
            else expect(claims.at_hash).toBeUndefined();
            if (types.includes("code")) expect(claims.c_hash).toBe(halfHash(res.params.code!));
            else expect(claims.c_hash).toBeUndefined();
          } else {
            expect(res.params.id_token).toBeUndefined();
          }
        });
      }
    }
  });
}
