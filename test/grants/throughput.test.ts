/**
 * Short sequential loops that report complete authorization-code flows per second (authorize
 * → login accept → consent accept → token: 7 HTTP requests each, PKCE S256, public client)
 * and refresh-token rotations per second, on each backend. Bounded in count and time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as oidc from "openid-client";
import { authorize, codeOf, createClient, discover, redirectUri, startGrantEnv, token, type GrantEnv } from "./support.ts";

const maxFlows = 60;
const maxFlowMs = 15_000;
const maxRefreshes = 500;
const maxRefreshMs = 10_000;

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`grant throughput on ${backend}`, () => {
    let env: GrantEnv;
    let client: Record<string, any>;
    let rp: oidc.Configuration;
    beforeAll(async () => {
      env = await startGrantEnv(backend, "grant_throughput");
      client = await createClient(env);
      rp = await discover(env, client.client_id);
    }, 60_000);
    afterAll(async () => {
      await env?.stop();
    });

    const oneFlow = async () => {
      const flow = await authorize(env, rp);
      const res = await token(env, { grant_type: "authorization_code", code: codeOf(flow), redirect_uri: redirectUri, client_id: client.client_id, code_verifier: flow.verifier });
      if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${res.text}`);
      return res.body;
    };

    test("sequential complete authorization-code flows, then sequential refresh rotations", async () => {
      await oneFlow(); // warm-up (signing-key caches, JIT)
      let started = performance.now();
      let flows = 0;
      let last: Record<string, any> = {};
      while (flows < maxFlows && performance.now() - started < maxFlowMs) {
        last = await oneFlow();
        expect(last.id_token).toBeString();
        flows++;
      }
      const flowSeconds = (performance.now() - started) / 1000;

      started = performance.now();
      let rotations = 0;
      let refreshToken = last.refresh_token as string;
      while (rotations < maxRefreshes && performance.now() - started < maxRefreshMs) {
        const res = await token(env, { grant_type: "refresh_token", refresh_token: refreshToken, client_id: client.client_id });
        expect(res.status).toBe(200);
        refreshToken = res.body.refresh_token;
        rotations++;
      }
      const refreshSeconds = (performance.now() - started) / 1000;
      console.log(
        `[throughput] ${backend}: ${flows} complete code flows in ${flowSeconds.toFixed(2)} s = ${(flows / flowSeconds).toFixed(1)} flows/s; ` +
          `${rotations} refresh rotations in ${refreshSeconds.toFixed(2)} s = ${(rotations / refreshSeconds).toFixed(1)} rotations/s (sequential, ID token each)`,
      );
      expect(flows).toBeGreaterThan(5);
      expect(rotations).toBeGreaterThan(20);
    }, 45_000);
  });
}
