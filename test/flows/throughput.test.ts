/**
 * A short sequential loop of complete authorize → login → consent → code flows (6 HTTP
 * requests each: authorize, GET+accept login, redirect back, GET+accept consent, redirect
 * back), to report flows per second on each backend. Bounded in count and time.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Browser, createClient, readResponse, runFlow, startEnv, startTimeout, state, type Env } from "./kit.ts";

const maxFlows = 60;
const maxMs = 15_000;

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`flow throughput on ${backend}`, () => {
    let env: Env;
    let client: Record<string, any>;
    beforeAll(async () => {
      env = await startEnv(backend, "flows_throughput");
      client = await createClient(env);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    test("sequential complete code flows", async () => {
      // One warm-up flow (signing-key cache, JIT).
      await runFlow(new Browser(env), { client_id: client.client_id, response_type: "code", scope: "openid", state: state() });
      const started = performance.now();
      let done = 0;
      while (done < maxFlows && performance.now() - started < maxMs) {
        const res = readResponse(await runFlow(new Browser(env), { client_id: client.client_id, response_type: "code", scope: "openid", state: state() }));
        expect(res.params.code).toBeDefined();
        done++;
      }
      const seconds = (performance.now() - started) / 1000;
      console.log(`[throughput] ${backend}: ${done} complete code flows in ${seconds.toFixed(2)} s = ${(done / seconds).toFixed(1)} flows/s (sequential, one client)`);
      expect(done).toBeGreaterThan(5);
    }, 30_000);
  });
}
