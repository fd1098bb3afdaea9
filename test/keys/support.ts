/**
 * @module What the keys and discovery tests share: one server per backend (PostgreSQL on a
 * fresh database, PGlite in memory), and real `gatehouse` processes for the CLI and start-up tests.
 */
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type StartOptions, type TestServer } from "../helpers/server.ts";

export const backendNames = ["postgres", "pglite"] as const;
export type BackendName = (typeof backendNames)[number];

export interface Backends {
  servers: Record<BackendName, TestServer>;
  pg: TestDatabase;
  stop(): Promise<void>;
}

/** A PostgreSQL-backed and a PGlite-backed server with the same config (PGlite costs ~3 s: one per file). */
export async function startBackends(label: string, config: StartOptions["config"] = {}): Promise<Backends> {
  const pg = await createTestDatabase(label);
  await (await openMigrated(pg.dsn)).close();
  const [postgres, pglite] = await Promise.all([startTestServer({ dsn: pg.dsn, config }), startTestServer({ dsn: "memory", config })]);
  return {
    servers: { postgres, pglite },
    pg,
    async stop() {
      await Promise.all([postgres.stop(), pglite.stop()]);
      await pg.drop();
    },
  };
}

/** Members that make a JWK secret (RFC 7517 §9.2, RFC 7518 §6). */
export const secretMembers = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] as const;

export function postJson(body: unknown, method = "POST"): RequestInit {
  return { method, headers: { "Content-Type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) };
}

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const bunBin = `${repoRoot}node_modules/.bin/bun`;

/** A minimal environment: nothing of the test runner's own env leaks into a child. */
export function childEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", TZ: "UTC", NO_COLOR: "1", ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `gatehouse <args>` as a real process (bounded by a timeout). */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<CliResult> {
  const proc = Bun.spawn([bunBin, "src/main.ts", ...args], { cwd: repoRoot, env: childEnv(env), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Ports the kernel just handed out and released (good enough on loopback for a test). */
export function freePorts(n: number): number[] {
  const listeners = Array.from({ length: n }, () => Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }));
  const ports = listeners.map((l) => l.port);
  for (const l of listeners) l.stop(true);
  return ports;
}

export interface ServeProcess {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  publicUrl: string;
  adminUrl: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * `gatehouse serve all --dangerous-force-http` on 127.0.0.1, configured by environment as an
 * operator would. Several processes: take all their ports from one freePorts call, so that
 * no port released by one call is handed out again by the next.
 */
export function spawnServe(env: Record<string, string>, ports = freePorts(2)): ServeProcess {
  const [publicPort, adminPort] = ports as [number, number];
  const proc = Bun.spawn([bunBin, "src/main.ts", "serve", "all", "--dangerous-force-http"], {
    cwd: repoRoot,
    env: childEnv({
      SERVE_PUBLIC_HOST: "127.0.0.1",
      SERVE_PUBLIC_PORT: String(publicPort),
      SERVE_ADMIN_HOST: "127.0.0.1",
      SERVE_ADMIN_PORT: String(adminPort),
      LOG_LEVEL: "info",
      ...env,
    }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let err = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) err += decoder.decode(chunk);
  })();
  void new Response(proc.stdout).text();
  return {
    proc,
    publicUrl: `http://127.0.0.1:${publicPort}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    stderr: () => err,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** Polls a URL until it answers (any status) or the time is up; returns the last response. */
export async function waitForAnswer(url: string, timeoutMs = 30_000, until: (res: Response) => boolean = () => true): Promise<Response | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: Response | undefined;
  while (Date.now() < deadline) {
    try {
      last = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (until(last)) return last;
    } catch {
      // not listening yet
    }
    await Bun.sleep(100);
  }
  return last;
}
