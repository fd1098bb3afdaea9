/**
 * What one complete code flow with PKCE costs the database (BENCHMARKS.md item 5, issue #8 W4):
 * authorize → GET + accept login → redeem login verifier → GET + accept consent → redeem
 * consent verifier → token exchange. Counted on the server's own drizzle session (PostgreSQL):
 * every statement, every round trip (a statement, or a transaction's BEGIN and COMMIT), and
 * every commit that writes (a transaction, or a statement other than a SELECT outside one: a
 * read on its own flushes nothing). The bounds are today's counts: a change that adds a round
 * trip to every flow fails here.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PostgresJsPreparedQuery, PostgresJsSession } from "drizzle-orm/postgres-js/session";
import { Browser, createClient, readResponse, runFlow, startEnv, startTimeout, state, type Env } from "./kit.ts";

const flowsCounted = 3;

/** Counts statements and commits of every postgres.js drizzle session in this process while `on`. */
function countDatabaseWork() {
  const counts = { statements: 0, roundTrips: 0, writeCommits: 0, on: false };
  let depth = 0;
  const restore: (() => void)[] = [];
  const wrap = (proto: Record<string, any>, name: string, around: (original: (...a: unknown[]) => unknown) => (this: unknown, ...a: unknown[]) => unknown) => {
    const original = proto[name];
    proto[name] = around(original);
    restore.push(() => (proto[name] = original));
  };
  const statement = (original: (...a: unknown[]) => unknown) =>
    function (this: unknown, ...a: unknown[]) {
      if (counts.on) {
        counts.statements++;
        counts.roundTrips++;
        const text = String((this as { queryString?: unknown }).queryString ?? "");
        if (depth === 0 && !/^\s*select\b/i.test(text)) counts.writeCommits++;
      }
      return original.apply(this, a);
    };
  wrap(PostgresJsPreparedQuery.prototype as any, "execute", statement);
  wrap(PostgresJsPreparedQuery.prototype as any, "all", statement);
  wrap(PostgresJsSession.prototype as any, "transaction", (original) =>
    async function (this: unknown, ...a: unknown[]) {
      if (counts.on && depth === 0) {
        counts.writeCommits++;
        counts.roundTrips += 2;
      }
      depth++;
      try {
        return await original.apply(this, a);
      } finally {
        depth--;
      }
    },
  );
  return { counts, restore: () => restore.forEach((r) => r()) };
}

describe("database work of one complete code flow (PostgreSQL)", () => {
  let env: Env;
  let client: Record<string, any>;
  const work = countDatabaseWork();
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "flows_db_work");
    client = await createClient(env, { token_endpoint_auth_method: "none" });
  }, startTimeout);
  afterAll(async () => {
    work.restore();
    await env?.stop();
  });

  async function codeFlowWithToken(): Promise<void> {
    const verifier = `${crypto.randomUUID()}${crypto.randomUUID()}`;
    const challenge = new Bun.CryptoHasher("sha256").update(verifier).digest("base64url");
    const stop = await runFlow(new Browser(env), {
      client_id: client.client_id,
      response_type: "code",
      scope: "openid offline_access",
      state: state(),
      code_challenge: challenge,
      code_challenge_method: "S256",
    });
    const code = readResponse(stop).params.code;
    expect(code).toBeDefined();
    const res = await env.server.publicFetch("/oauth2/token", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", code: code!, redirect_uri: "https://client.test/cb", code_verifier: verifier, client_id: client.client_id }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect(typeof body.access_token).toBe("string");
    expect(typeof body.id_token).toBe("string");
    expect(typeof body.refresh_token).toBe("string");
  }

  test(`at most 13 statements, 13 round trips and 6 writing commits per flow (was 18, 24 and 6; before that 23 statements)`, async () => {
    // Warm-up: signing keys, prepared statements.
    await codeFlowWithToken();
    work.counts.on = true;
    for (let i = 0; i < flowsCounted; i++) await codeFlowWithToken();
    work.counts.on = false;
    const perFlow = {
      statements: work.counts.statements / flowsCounted,
      roundTrips: work.counts.roundTrips / flowsCounted,
      writeCommits: work.counts.writeCommits / flowsCounted,
    };
    console.log(`[db-work] per complete flow: ${perFlow.statements} statements, ${perFlow.roundTrips} round trips, ${perFlow.writeCommits} writing commits`);
    expect(perFlow.statements).toBeGreaterThan(0);
    expect(perFlow.statements).toBeLessThanOrEqual(13);
    expect(perFlow.roundTrips).toBeLessThanOrEqual(13);
    expect(perFlow.writeCommits).toBeLessThanOrEqual(6);
  }, 30_000);
});
