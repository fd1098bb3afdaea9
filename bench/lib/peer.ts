/**
 * @module The peer as the harness runs it: oidc-provider (bench/peer, pinned, installed with
 * `npm ci` from its lockfile when missing) on the machine's Node.js, with PostgreSQL
 * (bench/peer/pg-adapter.mjs) or its default memory adapter, an RS256-2048 key.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair } from "jose";
import { benchClients } from "./gatehouse.ts";
import { freePort, runCommand, spawnManaged, waitReady, type Managed } from "./processes.ts";

export const peerDir = join(import.meta.dir, "..", "peer");

export async function ensurePeerInstalled(log: (s: string) => void): Promise<void> {
  if (existsSync(join(peerDir, "node_modules", "oidc-provider", "package.json"))) return;
  log("bench/peer/node_modules missing: npm ci (oidc-provider, pinned by bench/peer/package-lock.json)");
  const out = await runCommand(["npm", "ci", "--no-audit", "--no-fund"], { cwd: peerDir, timeoutMs: 600_000 });
  if (out.code !== 0) throw new Error(`npm ci in bench/peer failed (${out.code}):\n${out.stdout}${out.stderr}`);
}

export function peerVersion(): string {
  return (JSON.parse(readFileSync(join(peerDir, "node_modules", "oidc-provider", "package.json"), "utf8")) as { version: string }).version;
}

export async function nodeVersion(): Promise<string> {
  const out = await runCommand(["node", "--version"], { timeoutMs: 10_000 });
  return out.stdout.trim();
}

/** An RS256 key of the same size as Gatehouse's first-start keys (keys.first_start.rsa_bits 2048). */
export async function writePeerKey(path: string): Promise<void> {
  const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const jwk = await exportJWK(privateKey);
  writeFileSync(path, JSON.stringify({ ...jwk, kid: "bench-rs256", alg: "RS256", use: "sig" }));
}

export function writePeerClients(path: string, secretOf: (id: string) => string): void {
  const { machine, app } = benchClients(secretOf);
  writeFileSync(path, JSON.stringify([machine, app]));
}

export interface PeerServer {
  managed: Managed;
  url: string;
  startupMs: number;
}

export async function startPeer(options: {
  storage: "postgres" | "memory";
  dsn?: string;
  jwkPath: string;
  clientsPath: string;
  logFile: string;
}): Promise<PeerServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const managed = spawnManaged("oidc-provider", ["node", join(peerDir, "server.mjs")], {
    cwd: peerDir,
    logFile: options.logFile,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      PEER_PORT: String(port),
      PEER_STORAGE: options.storage,
      PEER_DSN: options.dsn,
      PEER_JWK: options.jwkPath,
      PEER_CLIENTS: options.clientsPath,
    },
  });
  const startupMs = await waitReady(managed, `${url}/health/ready`);
  return { managed, url, startupMs };
}
