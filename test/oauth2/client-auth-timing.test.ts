/**
 * Client authentication must not reveal whether a client id exists: an unknown id and a wrong
 * secret both pay the full hash cost (bcrypt at the default cost 10). Not a statistical test:
 * each case is checked against the measured cost of one bcrypt verification.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { basic, createClient, form, startOAuthServer, tokenRequest, type OAuthServer } from "./support.ts";

let s: OAuthServer;
let hashMs: number;

beforeAll(async () => {
  s = await startOAuthServer("postgres", "auth_timing", { oauth2: { hashers: { bcrypt: { cost: 10 } } } });
  await createClient(s.server, { client_id: "timed", client_secret: "timed-secret-1234567890", grant_types: ["client_credentials"] });
  const hash = await Bun.password.hash("reference", { algorithm: "bcrypt", cost: 10 });
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await Bun.password.verify("wrong", hash);
    samples.push(performance.now() - t);
  }
  hashMs = Math.min(...samples);
}, 60_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

async function timed(authorization: string): Promise<{ ms: number; status: number }> {
  const t = performance.now();
  const res = await tokenRequest(s.server, form({ grant_type: "client_credentials" }, { Authorization: authorization }));
  return { ms: performance.now() - t, status: res.status };
}

test("unknown client and wrong secret both take the hash cost; a verified secret is then cached", async () => {
  expect(hashMs).toBeGreaterThan(10);
  for (let i = 0; i < 3; i++) {
    const unknown = await timed(basic(`ghost-${i}`, "timed-secret-1234567890"));
    const wrong = await timed(basic("timed", `wrong-${i}`));
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(unknown.ms).toBeGreaterThan(hashMs * 0.6);
    expect(wrong.ms).toBeGreaterThan(hashMs * 0.6);
  }
  const first = await timed(basic("timed", "timed-secret-1234567890"));
  expect(first.status).toBe(200);
  expect(first.ms).toBeGreaterThan(hashMs * 0.6);
  // The verification cache: the same secret again costs an HMAC, not a bcrypt.
  const cached = await timed(basic("timed", "timed-secret-1234567890"));
  expect(cached.status).toBe(200);
  expect(cached.ms).toBeLessThan(hashMs * 0.5);
  // A wrong secret is never served from the cache.
  const wrongAfter = await timed(basic("timed", "wrong-after"));
  expect(wrongAfter.status).toBe(401);
  expect(wrongAfter.ms).toBeGreaterThan(hashMs * 0.6);
}, 30_000);
