/**
 * @module Gatehouse as the harness runs it: the compiled binary (dist/gatehouse, rebuilt when
 * older than the sources), `migrate sql`, `serve all` with production settings on
 * 127.0.0.1, clients seeded through the admin API.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { freePort, runCommand, spawnManaged, waitReady, type Managed } from "./processes.ts";

export const repoRoot = join(import.meta.dir, "..", "..");
export const binary = join(repoRoot, "dist", "gatehouse");

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Builds dist/gatehouse with `bun run build` when it is missing or older than what it is built from. */
export async function ensureBinary(log: (s: string) => void): Promise<void> {
  const inputs = ["src", "drizzle", "build.ts", "package.json", "bun.lock"].map((p) => join(repoRoot, p)).filter(existsSync);
  const newest = Math.max(...inputs.map(newestMtime));
  if (existsSync(binary) && statSync(binary).mtimeMs >= newest) return;
  log(existsSync(binary) ? "dist/gatehouse is older than src/: rebuilding (bun run build)" : "dist/gatehouse missing: building (bun run build)");
  const out = await runCommand([process.execPath, "run", "build"], { cwd: repoRoot, timeoutMs: 300_000 });
  if (out.code !== 0) throw new Error(`bun run build failed (${out.code}):\n${out.stdout}${out.stderr}`);
  log(out.stdout.trim());
}

export async function gatehouseVersion(): Promise<string> {
  const out = await runCommand([binary, "version"], { timeoutMs: 30_000, env: { PATH: process.env.PATH } });
  return out.stdout.trim().replace(/\s+/g, " ");
}

export async function migrate(dsn: string): Promise<void> {
  const out = await runCommand([binary, "migrate", "sql", dsn, "--yes"], { timeoutMs: 120_000, env: { PATH: process.env.PATH, NO_COLOR: "1" } });
  if (out.code !== 0) throw new Error(`gatehouse migrate sql failed (${out.code}):\n${out.stdout}${out.stderr}`);
}

export interface GatehouseServer {
  managed: Managed;
  publicUrl: string;
  adminUrl: string;
  startupMs: number;
}

export const loginUrl = "https://login.bench.invalid/login";
export const consentUrl = "https://consent.bench.invalid/consent";

/**
 * `gatehouse serve all --dangerous-force-http` with production settings: opaque (or JWT)
 * access tokens, RS256-2048 first-start keys, log level warn, default pool (10). Plain HTTP
 * because everything is on loopback; TLS would measure the TLS stack, not Gatehouse.
 */
export async function startGatehouse(options: {
  dsn: string;
  accessTokens: "opaque" | "jwt";
  secret: string;
  logFile: string;
  extraArgs?: string[];
  /** Instead of dist/gatehouse (bench/profile.ts runs the sources under `bun --cpu-prof`). */
  command?: string[];
}): Promise<GatehouseServer> {
  const publicPort = await freePort();
  const adminPort = await freePort();
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const managed = spawnManaged("gatehouse", [...(options.command ?? [binary]), "serve", "all", "--dangerous-force-http", ...(options.extraArgs ?? [])], {
    cwd: repoRoot,
    logFile: options.logFile,
    // Exactly this environment: nothing of the caller's leaks into the server's config.
    env: {
      PATH: process.env.PATH,
      NO_COLOR: "1",
      DSN: options.dsn,
      SECRETS_SYSTEM: options.secret,
      URLS_SELF_ISSUER: `${publicUrl}/`,
      URLS_LOGIN: loginUrl,
      URLS_CONSENT: consentUrl,
      SERVE_PUBLIC_HOST: "127.0.0.1",
      SERVE_PUBLIC_PORT: String(publicPort),
      SERVE_ADMIN_HOST: "127.0.0.1",
      SERVE_ADMIN_PORT: String(adminPort),
      STRATEGIES_ACCESS_TOKEN: options.accessTokens,
      KEYS_FIRST_START_ALGORITHM: "RS256",
      KEYS_FIRST_START_RSA_BITS: "2048",
      LOG_LEVEL: "warn",
    },
  });
  const startupMs = await waitReady(managed, `${publicUrl}/health/ready`);
  // The admin listener opens in the same start; wait for it too (not part of the startup time).
  await waitReady(managed, `${adminUrl}/health/ready`);
  return { managed, publicUrl, adminUrl, startupMs };
}

async function adminJson(url: string, init: RequestInit & { expect: number }): Promise<any> {
  const res = await fetch(url, { ...init, headers: { "Content-Type": "application/json", ...init.headers }, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (res.status !== init.expect) throw new Error(`${init.method ?? "GET"} ${url}: ${res.status} ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : undefined;
}

export interface BenchClient {
  clientId: string;
  secret: string;
}

export interface SeededClients {
  /** client_credentials (W1, W2), client_secret_basic. */
  machine: BenchClient;
  /** authorization_code + refresh_token with PKCE (W4, W5, W7), client_secret_basic. */
  app: BenchClient;
  /** Clients in the store in total (W8 lists them). */
  total: number;
}

export const redirectUri = "https://client.bench.invalid/cb";
export const machineScope = "read write";
export const appScope = "openid offline_access";

/** The same two clients the peer gets, plus public clients so that W8's list is a real page. */
export function benchClients(secretOf: (id: string) => string) {
  return {
    machine: {
      client_id: "bench-machine",
      client_secret: secretOf("bench-machine"),
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
      scope: machineScope,
      token_endpoint_auth_method: "client_secret_basic",
    },
    app: {
      client_id: "bench-app",
      client_secret: secretOf("bench-app"),
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      redirect_uris: [redirectUri],
      scope: `${appScope} read write`,
      token_endpoint_auth_method: "client_secret_basic",
    },
  };
}

/** Public clients (no secret to hash) that only fill the W8 list. */
export const fillerClients = 23;

export async function seedGatehouse(adminUrl: string, secretOf: (id: string) => string): Promise<SeededClients> {
  const { machine, app } = benchClients(secretOf);
  for (const body of [machine, app]) await adminJson(`${adminUrl}/clients`, { method: "POST", body: JSON.stringify(body), expect: 201 });
  for (let i = 0; i < fillerClients; i++) {
    await adminJson(`${adminUrl}/clients`, {
      method: "POST",
      expect: 201,
      body: JSON.stringify({
        client_id: `bench-filler-${String(i).padStart(2, "0")}`,
        client_name: `Filler client ${i}`,
        redirect_uris: [`https://filler-${i}.bench.invalid/cb`],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        scope: "openid offline_access",
        token_endpoint_auth_method: "none",
      }),
    });
  }
  return {
    machine: { clientId: machine.client_id, secret: machine.client_secret },
    app: { clientId: app.client_id, secret: app.client_secret },
    total: 2 + fillerClients,
  };
}

/** Gatehouse's Prometheus text, for the long run's per-window numbers. */
export async function scrapeMetrics(adminUrl: string): Promise<string> {
  const res = await fetch(`${adminUrl}/metrics/prometheus`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}
