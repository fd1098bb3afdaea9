/**
 * @module The compiled binary, copied alone into an empty folder: version, migrate sql,
 * serve on PostgreSQL (TCP + Unix socket), the embedded and in-memory databases, and
 * immunity to a stray .env / bunfig.toml.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import pkg from "../../package.json" with { type: "json" };
import { gitCommit, outfile } from "../../build.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/db.ts";

const repoRoot = join(import.meta.dir, "..", "..");
const secret = "binary-test-secret-0123456789";
/** A first embedded start runs PGlite's initdb (~3-5 s); leave room for a loaded CI box. */
const readyTimeoutMs = 60_000;

let work: string;
let bin: string;
let expectedCommit: string;
let buildMs: number;
let pg: TestDatabase | undefined;
let unmigrated: TestDatabase | undefined;
const spawned = new Set<Subprocess>();

interface Run {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout: Promise<string>;
  stderr: Promise<string>;
  startedAt: number;
}

/** Spawns the copied binary with exactly `env` (nothing inherited) and a hard time limit. */
function spawnBinary(args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs: number; binary?: string }): Run {
  const startedAt = performance.now();
  const proc = Bun.spawn([options.binary ?? bin, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: options.timeoutMs,
    killSignal: "SIGKILL",
  });
  spawned.add(proc);
  return { proc, stdout: new Response(proc.stdout).text(), stderr: new Response(proc.stderr).text(), startedAt };
}

async function finished(run: Run) {
  const code = await run.proc.exited;
  return { code, signal: run.proc.signalCode, stdout: await run.stdout, stderr: await run.stderr };
}

async function runBinary(args: string[], options: { cwd: string; env: Record<string, string>; timeoutMs?: number; binary?: string }) {
  return finished(spawnBinary(args, { timeoutMs: 30_000, ...options }));
}

/** Polls until `probe` answers 200; fails early if the process dies. Returns ms since spawn. */
async function waitReady(run: Run, probe: () => Promise<Response>, timeoutMs = readyTimeoutMs): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (let attempt = 0; attempt < 100_000 && performance.now() < deadline; attempt++) {
    if (run.proc.exitCode !== null || run.proc.signalCode !== null) {
      const out = await finished(run);
      throw new Error(`gatehouse exited (${out.code ?? out.signal}) before it was ready:\n${out.stdout}${out.stderr}`);
    }
    const res = await probe().catch(() => undefined);
    if (res?.status === 200) return performance.now() - run.startedAt;
    await Bun.sleep(20);
  }
  run.proc.kill("SIGKILL");
  const out = await finished(run);
  throw new Error(`gatehouse not ready within ${timeoutMs} ms:\n${out.stdout}${out.stderr}`);
}

/** SIGTERM, then waits (bounded) for the exit code. */
async function stop(run: Run, timeoutMs = 20_000) {
  run.proc.kill("SIGTERM");
  const exited = await Promise.race([run.proc.exited, Bun.sleep(timeoutMs).then(() => "timeout" as const)]);
  if (exited === "timeout") run.proc.kill("SIGKILL");
  return { ...(await finished(run)), timedOut: exited === "timeout" };
}

function get(url: string, init: RequestInit = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
}

/** Same idea as Unix fetch in test/helpers/server.ts: Bun's `unix` fetch option. */
function getUnix(socket: string, path: string) {
  return fetch(`http://localhost${path}`, { unix: socket, signal: AbortSignal.timeout(2000) } as RequestInit);
}

async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** No DSN, no data dir: only what a deployment sets. PATH for nothing in particular; HOME kept out of the repo. */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work, NO_COLOR: "1", SECRETS_SYSTEM: secret, ...extra };
}

/** Like Hydra's `migrate sql <dsn>`, migrate needs no secret: prove it by giving none. */
function migrateEnv(): Record<string, string> {
  const env = baseEnv();
  delete env.SECRETS_SYSTEM;
  return env;
}

async function tcpEnv(extra: Record<string, string> = {}) {
  const publicPort = await freePort();
  const adminPort = await freePort();
  return {
    publicPort,
    adminPort,
    env: baseEnv({
      SERVE_PUBLIC_HOST: "127.0.0.1",
      SERVE_PUBLIC_PORT: String(publicPort),
      SERVE_ADMIN_HOST: "127.0.0.1",
      SERVE_ADMIN_PORT: String(adminPort),
      ...extra,
    }),
  };
}

const measured: Record<string, string> = {};

beforeAll(async () => {
  expectedCommit = gitCommit();
  const started = performance.now();
  // Through the package.json script, exactly as a release is built (~1-2 s; the limit is generous).
  const built = Bun.spawnSync([process.execPath, "run", "build"], { cwd: repoRoot, stdout: "pipe", stderr: "pipe", timeout: 120_000 });
  buildMs = performance.now() - started;
  if (built.exitCode !== 0) throw new Error(`bun run build failed (${built.exitCode}):\n${built.stdout}${built.stderr}`);
  work = mkdtempSync(join(tmpdir(), "gatehouse-binary-"));
  bin = join(work, "gatehouse");
  copyFileSync(outfile, bin);
  // Two databases: one to migrate with the binary, one left behind on purpose.
  [pg, unmigrated] = await Promise.all([createTestDatabase("binary"), createTestDatabase("binary_unmigrated")]);
}, 180_000);

afterAll(async () => {
  for (const proc of spawned) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  await Promise.all([...spawned].map((p) => Promise.race([p.exited, Bun.sleep(5000)])));
  await Promise.all([pg?.drop(), unmigrated?.drop()]);
  if (work) rmSync(work, { recursive: true, force: true });
  if (Object.keys(measured).length > 0) console.log(`binary: ${Object.entries(measured).map(([k, v]) => `${k} ${v}`).join(", ")}`);
}, 60_000);

test("the build makes one self-contained executable", () => {
  const bytes = readFileSync(bin);
  measured.size = `${(bytes.length / 1024 / 1024).toFixed(1)} MiB`;
  measured.build = `${Math.round(buildMs)} ms`;
  expect(statSync(bin).mode & 0o111).not.toBe(0);
  // Nothing in it may point back at the build tree (node_modules, drizzle/): the copy
  // alone in `work` has to carry its migrations and PGlite's wasm/data inside.
  expect(bytes.includes(repoRoot)).toBe(false);
});

test("`gatehouse version` prints the version and the commit baked in at build time", async () => {
  const out = await runBinary(["version"], { cwd: work, env: baseEnv() });
  expect(out.code).toBe(0);
  expect(out.stdout).toBe(`Version:    ${pkg.version}\nGit Hash:   ${expectedCommit}\n`);
});

describe("PostgreSQL", () => {
  test("`migrate sql <dsn> --yes` applies the embedded migrations; again is a no-op", async () => {
    const first = await runBinary(["migrate", "sql", pg!.dsn, "--yes"], { cwd: work, env: migrateEnv() });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("Pending");
    expect(first.stdout).toContain("Successfully applied migrations!");

    const status = await runBinary(["migrate", "status", pg!.dsn], { cwd: work, env: migrateEnv() });
    expect(status.code).toBe(0);
    const rows = status.stdout.trim().split("\n").slice(1);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toMatch(/\sApplied$/);

    const again = await runBinary(["migrate", "sql", pg!.dsn, "--yes"], { cwd: work, env: migrateEnv() });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain("All migrations are already applied.");
    expect(again.stdout).not.toContain("Pending");
  }, 60_000);

  test("`serve all`: public on TCP, admin on a 0770 Unix socket; SIGTERM exits 0 and removes the socket", async () => {
    const publicPort = await freePort();
    const socket = join(work, "admin.sock");
    const run = spawnBinary(["serve", "all", "--dangerous-force-http"], {
      cwd: work,
      env: baseEnv({
        DSN: pg!.dsn,
        SERVE_PUBLIC_HOST: "127.0.0.1",
        SERVE_PUBLIC_PORT: String(publicPort),
        SERVE_ADMIN_HOST: `unix:${socket}`,
        SERVE_ADMIN_SOCKET_MODE: "770",
      }),
      timeoutMs: 90_000,
    });
    const readyMs = await waitReady(run, () => getUnix(socket, "/health/ready"));
    measured["ready (postgres)"] = `${Math.round(readyMs)} ms`;
    await Bun.sleep(500);
    measured["idle RSS (postgres)"] = `${Math.round(rssKiB(run.proc.pid) / 1024)} MiB`;

    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o770);
    const alive = await get(`http://127.0.0.1:${publicPort}/health/alive`);
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ status: "ok" });
    const ready = await getUnix(socket, "/health/ready");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok" });
    const version = await getUnix(socket, "/version");
    expect(version.status).toBe(200);
    expect(await version.json()).toEqual({ version: pkg.version });

    const out = await stop(run);
    expect(out.timedOut).toBe(false);
    expect(out.code).toBe(0);
    expect(existsSync(socket)).toBe(false);
  }, 120_000);

  test("`serve` refuses a database with pending migrations and names `gatehouse migrate sql`", async () => {
    const { env } = await tcpEnv({ DSN: unmigrated!.dsn });
    const out = await runBinary(["serve", "all", "--dangerous-force-http"], { cwd: work, env, timeoutMs: 60_000 });
    expect(out.signal).toBeNull();
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain("pending migration");
    expect(out.stderr).toContain("gatehouse migrate sql");
  }, 90_000);
});

describe("embedded database", () => {
  test("no DSN: ./gatehouse-data in the cwd survives a restart, and is locked while in use", async () => {
    const cwd = join(work, "embedded");
    mkdirSync(cwd);
    const dataDir = join(cwd, "gatehouse-data");

    const first = await tcpEnv();
    const run1 = spawnBinary(["serve", "all", "--dangerous-force-http"], { cwd, env: first.env, timeoutMs: 120_000 });
    const readyMs = await waitReady(run1, () => get(`http://127.0.0.1:${first.publicPort}/health/ready`));
    measured["ready (embedded, first start)"] = `${Math.round(readyMs)} ms`;
    expect((await get(`http://127.0.0.1:${first.adminPort}/health/ready`)).status).toBe(200);
    expect(readFileSync(join(dataDir, "gatehouse.pid"), "utf8").trim()).toBe(String(run1.proc.pid));
    const stopped1 = await stop(run1);
    expect(stopped1.timedOut).toBe(false);
    expect(stopped1.code).toBe(0);
    expect(existsSync(join(dataDir, "gatehouse.pid"))).toBe(false);

    // The migrations the first start applied are on disk: a new process reads them back.
    const status = await runBinary(["migrate", "status", "-e"], { cwd, env: baseEnv(), timeoutMs: 60_000 });
    expect(status.code).toBe(0);
    const rows = status.stdout.trim().split("\n").slice(1);
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toMatch(/\sApplied$/);

    const second = await tcpEnv();
    const run2 = spawnBinary(["serve", "all", "--dangerous-force-http"], { cwd, env: second.env, timeoutMs: 120_000 });
    const restartMs = await waitReady(run2, () => get(`http://127.0.0.1:${second.publicPort}/health/ready`));
    measured["ready (embedded, restart)"] = `${Math.round(restartMs)} ms`;
    await Bun.sleep(500);
    measured["idle RSS (embedded)"] = `${Math.round(rssKiB(run2.proc.pid) / 1024)} MiB`;

    const intruder = await tcpEnv();
    const rival = await runBinary(["serve", "all", "--dangerous-force-http"], { cwd, env: intruder.env, timeoutMs: 60_000 });
    expect(rival.signal).toBeNull();
    expect(rival.code).not.toBe(0);
    expect(rival.stderr).toContain(`is in use by process ${run2.proc.pid}`);
    // The rival must not have taken or removed the lock of the running server.
    expect(readFileSync(join(dataDir, "gatehouse.pid"), "utf8").trim()).toBe(String(run2.proc.pid));
    expect((await get(`http://127.0.0.1:${second.publicPort}/health/ready`)).status).toBe(200);

    const stopped2 = await stop(run2);
    expect(stopped2.timedOut).toBe(false);
    expect(stopped2.code).toBe(0);
  }, 240_000);

  test("DSN=memory starts from nothing and writes no data directory", async () => {
    const cwd = join(work, "memory");
    mkdirSync(cwd);
    const { env, publicPort, adminPort } = await tcpEnv({ DSN: "memory" });
    const run = spawnBinary(["serve", "all", "--dangerous-force-http"], { cwd, env, timeoutMs: 120_000 });
    await waitReady(run, () => get(`http://127.0.0.1:${publicPort}/health/ready`));
    expect((await get(`http://127.0.0.1:${adminPort}/health/ready`)).status).toBe(200);
    const out = await stop(run);
    expect(out.code).toBe(0);
    expect(existsSync(join(cwd, "gatehouse-data"))).toBe(false);
  }, 180_000);
});

test("RS256 JWTs from the binary verify against its jwks.json, signed through OpenSSL where libcrypto.so.3 is installed", async () => {
  const cwd = join(work, "jwt");
  mkdirSync(cwd);
  const { env, publicPort, adminPort } = await tcpEnv({ DSN: "memory", STRATEGIES_ACCESS_TOKEN: "jwt", LOG_LEVEL: "debug" });
  const run = spawnBinary(["serve", "all", "--dangerous-force-http"], { cwd, env, timeoutMs: 120_000 });
  try {
    await waitReady(run, () => get(`http://127.0.0.1:${publicPort}/health/ready`));
    const created = await get(`http://127.0.0.1:${adminPort}/clients`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: "binary-jwt", client_secret: "binary-jwt-secret-0123456789", grant_types: ["client_credentials"], response_types: ["token"] }),
    });
    expect(created.status).toBe(201);
    const res = await get(`http://127.0.0.1:${publicPort}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa("binary-jwt:binary-jwt-secret-0123456789")}` },
      body: "grant_type=client_credentials",
    });
    const body = (await res.json()) as { access_token: string };
    expect(res.status).toBe(200);
    const jwks = createLocalJWKSet((await (await get(`http://127.0.0.1:${publicPort}/.well-known/jwks.json`)).json()) as JSONWebKeySet);
    const { payload, protectedHeader } = await jwtVerify(body.access_token, jwks);
    expect(protectedHeader).toMatchObject({ alg: "RS256", typ: "at+jwt" });
    expect(payload.client_id).toBe("binary-jwt");
  } finally {
    const out = await stop(run);
    expect(out.code).toBe(0);
    // bun:ffi must work inside `bun build --compile` output: the signer says which library it loaded.
    if (existsSync("/usr/lib/x86_64-linux-gnu/libcrypto.so.3")) expect(`${out.stdout}${out.stderr}`).toContain("RSA signatures (RS256/384/512) via libcrypto.so.3");
  }
}, 180_000);

test("a .env and a bunfig.toml beside the binary change nothing", async () => {
  const cwd = join(work, "stray");
  mkdirSync(cwd);
  const binary = join(cwd, "gatehouse");
  copyFileSync(bin, binary);
  const marker = join(cwd, "preload-ran");
  // If .env were read, serve would get a secret and an in-memory database and start.
  writeFileSync(join(cwd, ".env"), `SECRETS_SYSTEM=dotenv-secret-0123456789abcdef\nDSN=memory\nLOG_LEVEL=debug\n`);
  writeFileSync(join(cwd, "evil-preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "x");\nconsole.log("EVIL PRELOAD");\n`);
  writeFileSync(join(cwd, "bunfig.toml"), `preload = ["./evil-preload.ts", "./no-such-preload.ts"]\nlogLevel = "debug"\n`);

  const version = await runBinary(["version"], { cwd, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd }, binary });
  expect(version.code).toBe(0);
  expect(version.stdout).toBe(`Version:    ${pkg.version}\nGit Hash:   ${expectedCommit}\n`);
  expect(version.stderr).toBe("");

  const { env } = await tcpEnv();
  delete env.SECRETS_SYSTEM;
  const serve = await runBinary(["serve", "all", "--dangerous-force-http"], { cwd, env, binary, timeoutMs: 30_000 });
  expect(serve.signal).toBeNull();
  expect(serve.code).not.toBe(0);
  expect(serve.stderr).toContain("secrets.system: required");
  expect(serve.stdout).not.toContain("EVIL PRELOAD");
  expect(existsSync(marker)).toBe(false);
  expect(existsSync(join(cwd, "gatehouse-data"))).toBe(false);
}, 60_000);
