/**
 * @module Process faults with real `gatehouse serve all` processes on one PostgreSQL database:
 * SIGTERM under load cuts no in-flight request; SIGKILL mid-load leaves no half-written row and
 * the restart replaces the stale admin socket; three instances on one database, the one that
 * started a flow killed, and the flow finishes on another (no per-process flow state).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { unseal } from "../../src/lib/crypto.ts";
import { sessionSealPurpose } from "../../src/oauth2/tokens.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { listenerFetch, testSecret } from "../helpers/server.ts";
import { Browser, acceptConsent, acceptLogin, authPath, challengeFrom, consentApp, issuer, loginApp, type Env } from "../flows/kit.ts";
import { freePorts, spawnServe, waitForAnswer, type ServeProcess } from "../keys/support.ts";
import { basic, form } from "../oauth2/support.ts";
import { figuresOf } from "./figures.ts";

const long = process.env.RELIABILITY_LONG === "1";
const loadMs = long ? 5000 : 1000;
const workers = long ? 16 : 8;
const figures = figuresOf("faults-process");

let pg: TestDatabase;
let dir: string;
const processes = new Set<ServeProcess>();

/** One environment for every instance: same DSN, secrets and issuer (instances are interchangeable). */
function instanceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    DSN: pg.dsn,
    SECRETS_SYSTEM: testSecret,
    URLS_SELF_ISSUER: issuer,
    URLS_LOGIN: loginApp,
    URLS_CONSENT: consentApp,
    OAUTH2_HASHERS_BCRYPT_COST: "4",
    LOG_LEVEL: "error",
    SERVE_SHUTDOWN_TIMEOUT: "15s",
    ...extra,
  };
}

async function start(extra: Record<string, string> = {}, ports?: number[]): Promise<ServeProcess> {
  const p = spawnServe(instanceEnv(extra), ports);
  processes.add(p);
  const adminBase = extra.SERVE_ADMIN_HOST?.startsWith("unix:") ? extra.SERVE_ADMIN_HOST : p.adminUrl;
  const ok = await waitForReady(p, adminBase);
  if (!ok) {
    p.proc.kill("SIGKILL");
    throw new Error(`gatehouse did not become ready:\n${p.stderr()}`);
  }
  return p;
}

async function waitForReady(p: ServeProcess, adminBase: string, timeoutMs = 30_000): Promise<boolean> {
  const fetchAdmin = listenerFetch(adminBase);
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (p.proc.exitCode !== null || p.proc.signalCode !== null) return false;
    const res = await fetchAdmin("/health/ready", { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
    if (res?.status === 200) return true;
    await Bun.sleep(50);
  }
  return false;
}

async function createCcClient(adminBase: string): Promise<{ id: string; secret: string }> {
  const res = await listenerFetch(adminBase)("/clients", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ grant_types: ["client_credentials"], token_endpoint_auth_method: "client_secret_basic" }),
  });
  if (res.status !== 201) throw new Error(`client: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { client_id: string; client_secret: string };
  return { id: body.client_id, secret: body.client_secret };
}

beforeAll(async () => {
  pg = await createTestDatabase("faults_process");
  await (await openMigrated(pg.dsn)).close();
  dir = mkdtempSync(join(tmpdir(), "gatehouse-faults-"));
}, 60_000);

afterAll(async () => {
  for (const p of processes) if (p.proc.exitCode === null && p.proc.signalCode === null) p.proc.kill("SIGKILL");
  await Promise.all([...processes].map((p) => p.proc.exited));
  await pg?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

/** Requests made this long before the signal have certainly reached the server (loopback, one write). */
const sentMarginMs = 20;

test(
  "SIGTERM under load: every request sent before the signal gets its full answer",
  async () => {
    // bcrypt cost 11 for this process: a wrong secret is always verified in full (never cached),
    // so those requests are still being worked on when the signal comes.
    const p = await start({ OAUTH2_HASHERS_BCRYPT_COST: "11" });
    const client = await createCcClient(p.adminUrl);
    const good = basic(client.id, client.secret);
    const wrong = basic(client.id, `${client.secret}x`);
    let signalled = 0;
    const sent: { sentAt: number; doneAt: number; answer: string }[] = [];
    const hardStop = performance.now() + 30_000;
    const one = async (auth: string, expected: number) => {
      const rec = { sentAt: performance.now(), doneAt: 0, answer: "" };
      sent.push(rec);
      try {
        const res = await fetch(`${p.publicUrl}/oauth2/token`, { ...form({ grant_type: "client_credentials" }, { Authorization: auth }), signal: AbortSignal.timeout(20_000) });
        const body = (await res.json()) as { access_token?: unknown; error?: unknown };
        const whole = expected === 200 ? typeof body.access_token === "string" : body.error === "invalid_client";
        rec.answer = `${res.status}${res.status === expected && whole ? "" : " unexpected"}`;
      } catch (err) {
        rec.answer = `transport ${(err as Error).name}: ${(err as Error).message.slice(0, 60)}`;
      }
      rec.doneAt = performance.now();
    };
    const worker = async (w: number) => {
      for (let i = 0; i < 100_000 && !signalled && performance.now() < hardStop; i++) await (w % 2 ? one(wrong, 401) : one(good, 200));
    };
    const load = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
    await Bun.sleep(loadMs);
    signalled = performance.now();
    p.proc.kill("SIGTERM");
    const exit = await Promise.race([p.proc.exited, Bun.sleep(20_000).then(() => "timeout" as const)]);
    await load;
    const before = sent.filter((r) => r.sentAt < signalled - sentMarginMs);
    const inFlight = before.filter((r) => r.doneAt > signalled);
    const edge = sent.filter((r) => r.sentAt >= signalled - sentMarginMs);
    const tally = (rs: typeof sent) => {
      const out: Record<string, number> = {};
      for (const r of rs) out[r.answer] = (out[r.answer] ?? 0) + 1;
      return out;
    };
    console.log(
      `[faults] SIGTERM: ${before.length} requests sent before the signal ${JSON.stringify(tally(before))}, ` +
        `${inFlight.length} of them still in flight at the signal (answered up to ${Math.round(Math.max(0, ...inFlight.map((r) => r.doneAt - signalled)))} ms later); ` +
        `${edge.length} sent in the last ${sentMarginMs} ms ${JSON.stringify(tally(edge))}; exit ${String(exit)} after ${Math.round(performance.now() - signalled)} ms`,
    );
    figures.add("sigterm", {
      loadMs,
      workers,
      sentBeforeSignal: before.length,
      answersBeforeSignal: tally(before),
      inFlightAtSignal: inFlight.length,
      lastAnsweredAfterSignalMs: Math.round(Math.max(0, ...inFlight.map((r) => r.doneAt - signalled))),
      sentAtEdge: edge.length,
      exitCode: exit,
    });
    expect(exit).toBe(0);
    expect(inFlight.length).toBeGreaterThan(0);
    for (const answer of Object.keys(tally(before))) expect(answer).toMatch(/^(200|401)$/);
  },
  60_000,
);

test(
  "SIGKILL mid-load, restart: no half-written token or client, the stale admin socket is replaced",
  async () => {
    const socket = join(dir, "admin.sock");
    const ports = freePorts(2);
    const env = { SERVE_ADMIN_HOST: `unix:${socket}` };
    const first = await start(env, ports);
    const admin = `unix:${socket}`;
    const client = await createCcClient(admin);
    const auth = basic(client.id, client.secret);
    let killed = false;
    const acknowledged: string[] = [];
    let clientsCreated = 0;
    const hardStop = performance.now() + 30_000;
    const worker = async (w: number) => {
      for (let i = 0; i < 100_000 && !killed && performance.now() < hardStop; i++) {
        try {
          if (w % 4 === 0) {
            await createCcClient(admin);
            clientsCreated++;
          } else {
            const res = await fetch(`${first.publicUrl}/oauth2/token`, { ...form({ grant_type: "client_credentials" }, { Authorization: auth }), signal: AbortSignal.timeout(10_000) });
            if (res.status === 200) acknowledged.push(((await res.json()) as { access_token: string }).access_token);
          }
        } catch {
          // the kill cuts these: expected
        }
      }
    };
    const load = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
    await Bun.sleep(loadMs);
    first.proc.kill("SIGKILL");
    killed = true;
    await first.proc.exited;
    await load;
    // The dead process left its socket file behind.
    expect(existsSync(socket) && statSync(socket).isSocket()).toBe(true);

    const second = await start(env, ports);
    expect(statSync(socket).isSocket()).toBe(true);
    // Every row is whole: each token's session opens and parses, each client reads back complete.
    const sql = postgres(pg.dsn, { max: 1, onnotice: () => {} });
    try {
      const tokens = await sql<{ signature: string; session: string; client_id: string }[]>`select signature, session, client_id from oauth2_access_tokens where client_id = ${client.id}`;
      let broken = 0;
      for (const t of tokens) {
        try {
          const text = t.session.startsWith("{") ? t.session : unseal([testSecret], t.session, sessionSealPurpose);
          const session = JSON.parse(text) as unknown;
          if (!session || typeof session !== "object") broken++;
        } catch {
          broken++;
        }
      }
      const clients = await sql<{ id: string }[]>`select id from oauth2_clients`;
      let incomplete = 0;
      for (const c of clients) {
        const res = await listenerFetch(admin)(`/clients/${encodeURIComponent(c.id)}`, { signal: AbortSignal.timeout(5000) });
        const body = (await res.json()) as { client_id?: string; grant_types?: unknown };
        if (res.status !== 200 || body.client_id !== c.id || !Array.isArray(body.grant_types)) incomplete++;
      }
      // Every acknowledged token is still active on the new process.
      let inactive = 0;
      for (const token of acknowledged) {
        const res = await listenerFetch(admin)("/oauth2/introspect", { ...form({ token }), signal: AbortSignal.timeout(5000) });
        if (res.status !== 200 || ((await res.json()) as { active?: boolean }).active !== true) inactive++;
      }
      console.log(
        `[faults] SIGKILL: ${tokens.length} token rows (${broken} broken), ${clients.length} clients (${incomplete} incomplete; ${clientsCreated} acknowledged), ` +
          `${acknowledged.length} acknowledged tokens (${inactive} inactive after restart)`,
      );
      figures.add("sigkill", { tokenRows: tokens.length, brokenTokenRows: broken, clients: clients.length, incompleteClients: incomplete, clientsAcknowledged: clientsCreated, tokensAcknowledged: acknowledged.length, inactiveAfterRestart: inactive });
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(tokens.length).toBeGreaterThanOrEqual(acknowledged.length);
      expect(broken).toBe(0);
      expect(clients.length).toBeGreaterThanOrEqual(clientsCreated + 1);
      expect(incomplete).toBe(0);
      expect(inactive).toBe(0);
    } finally {
      await sql.end();
    }
    await second.stop();
    expect(existsSync(socket)).toBe(false);
  },
  90_000,
);

/** kit.ts's Browser and login/consent helpers against a spawned instance. */
function envOf(p: ServeProcess): Env {
  const server = { deps: { config: { urls: { self: { issuer } } } }, publicUrl: p.publicUrl, adminFetch: listenerFetch(p.adminUrl) };
  return { name: "PostgreSQL", server, stop: () => p.stop() } as unknown as Env;
}

test(
  "three instances on one database: a flow begun on A (killed) completes on B and C",
  async () => {
    const ports = freePorts(6);
    const [a, b, c] = await Promise.all([start({}, ports.slice(0, 2)), start({}, ports.slice(2, 4)), start({}, ports.slice(4, 6))]);
    const envA = envOf(a);
    const envB = envOf(b);
    const envC = envOf(c);
    const created = await listenerFetch(a.adminUrl)("/clients", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        redirect_uris: ["https://client.test/cb"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        scope: "openid offline_access",
        token_endpoint_auth_method: "client_secret_post",
      }),
    });
    expect(created.status).toBe(201);
    const client = (await created.json()) as { client_id: string; client_secret: string };
    const verifier = "v".repeat(43) + crypto.randomUUID().replace(/-/g, "");
    const challenge = Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))).toString("base64url");

    // On A: authorize, the login app accepts.
    const onA = new Browser(envA);
    const toLogin = await onA.navigate(
      authPath({ client_id: client.client_id, response_type: "code", redirect_uri: "https://client.test/cb", scope: "openid offline_access", state: "s".repeat(16), code_challenge: challenge, code_challenge_method: "S256" }),
    );
    const loginRedirect = await acceptLogin(envA, challengeFrom(toLogin, "login"));
    a.proc.kill("SIGKILL");
    await a.proc.exited;

    // On B, with the same cookies: the redirect chain continues; the consent app (talking to C) accepts.
    const onB = new Browser(envB);
    for (const [k, v] of onA.cookies) onB.cookies.set(k, v);
    const toConsent = await onB.navigate(loginRedirect);
    const consentRedirect = await acceptConsent(envC, challengeFrom(toConsent, "consent"));
    const back = await onB.navigate(consentRedirect);
    expect(back.location?.startsWith("https://client.test/cb?")).toBe(true);
    const code = new URL(back.location!).searchParams.get("code");
    expect(code).toBeTruthy();

    // Token exchange on C, refresh on B.
    const exchange = await fetch(`${c.publicUrl}/oauth2/token`, {
      ...form({ grant_type: "authorization_code", code: code!, redirect_uri: "https://client.test/cb", client_id: client.client_id, client_secret: client.client_secret, code_verifier: verifier }),
      signal: AbortSignal.timeout(10_000),
    });
    const tokens = (await exchange.json()) as Record<string, string>;
    expect(exchange.status).toBe(200);
    expect(typeof tokens.access_token).toBe("string");
    expect(typeof tokens.id_token).toBe("string");
    const refreshed = await fetch(`${b.publicUrl}/oauth2/token`, {
      ...form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token!, client_id: client.client_id, client_secret: client.client_secret }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(refreshed.status).toBe(200);
    console.log(`[faults] three instances: flow A(login, killed) -> B(consent redirect) -> C(consent accept, code exchange) -> B(refresh): ok`);
    figures.add("threeInstances", { instances: 3, flowCompletedAcrossInstances: true });
    await Promise.all([b.stop(), c.stop()]);
  },
  90_000,
);
