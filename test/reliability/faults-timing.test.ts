/**
 * @module Timing of client authentication at the token endpoint: an unknown client id and a
 * known id with a wrong secret must take indistinguishable time (no client enumeration by
 * timing). Measured interleaved over real HTTP on PostgreSQL; prints the medians and their
 * difference. RELIABILITY_LONG=1 measures more pairs.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, createClient, form, startOAuthServer, type OAuthServer } from "../oauth2/support.ts";
import { recordFigures } from "./figures.ts";

const long = process.env.RELIABILITY_LONG === "1";
const pairs = long ? 1000 : 200;
const warmup = 20;

let env: OAuthServer | undefined;

beforeAll(async () => {
  // bcrypt cost 4 (fastHashing) keeps 400+ verifications quick; the dummy hash uses the same cost.
  env = await startOAuthServer("postgres", "faults_timing", { log: { level: "error" } });
}, 60_000);

afterAll(async () => {
  await env?.stop();
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

test(
  `unknown client id and wrong secret: medians of ${pairs} interleaved token requests each differ by < 25%`,
  async () => {
    const server = env!.server;
    const client = await createClient(server, { grant_types: ["client_credentials"], token_endpoint_auth_method: "client_secret_basic" });
    const id = String(client.client_id);
    const unknownId = crypto.randomUUID();
    const secret = "wrong-secret-of-the-same-length-as-a-real-one";

    async function once(authorization: string): Promise<number> {
      const started = performance.now();
      const res = await server.publicFetch("/oauth2/token", {
        ...form({ grant_type: "client_credentials" }, { Authorization: authorization }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await res.json()) as { error?: string };
      const ms = performance.now() - started;
      // Both must be the same answer too, or timing is not the only tell.
      expect(res.status).toBe(401);
      expect(body.error).toBe("invalid_client");
      return ms;
    }

    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < warmup; i++) {
      await once(basic(unknownId, secret));
      await once(basic(id, secret));
    }
    // Interleaved, alternating which goes first, so drift (GC, other load) hits both alike.
    for (let i = 0; i < pairs; i++) {
      if (i % 2 === 0) {
        unknown.push(await once(basic(unknownId, secret)));
        wrong.push(await once(basic(id, secret)));
      } else {
        wrong.push(await once(basic(id, secret)));
        unknown.push(await once(basic(unknownId, secret)));
      }
    }
    const mu = median(unknown);
    const mw = median(wrong);
    const diff = Math.abs(mu - mw);
    const base = Math.max(mu, mw);
    console.log(
      `[faults] timing: ${pairs} pairs, median unknown id ${mu.toFixed(3)} ms, wrong secret ${mw.toFixed(3)} ms, ` +
        `difference ${diff.toFixed(3)} ms (${((diff / base) * 100).toFixed(1)}% of the larger median)`,
    );
    recordFigures("faults-timing", {
      pairs,
      medianUnknownClientMs: Number(mu.toFixed(3)),
      medianWrongSecretMs: Number(mw.toFixed(3)),
      differenceMs: Number(diff.toFixed(3)),
      differencePercent: Number(((diff / base) * 100).toFixed(1)),
    });
    expect(diff).toBeLessThan(0.25 * base);
  },
  long ? 240_000 : 60_000,
);
