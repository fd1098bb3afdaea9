/**
 * @module Graceful stop: in-flight requests finish, new connections are refused, the
 * database is closed and socket files removed; and the real `serve all` process on
 * SIGTERM/SIGINT (exit 0), its access log, and a clear failure on a bad socket group.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { json } from "../../src/server/http.ts";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { listenerFetch, startTestServer, testSecret } from "../helpers/server.ts";
import { captureLog, freePort, startListener, testConfig, waitFor } from "./kit.ts";

const root = join(import.meta.dir, "../..");
const bun = join(root, "node_modules/.bin/bun");

let pg: TestDatabase;
let database: Database;
let dir: string;

beforeAll(async () => {
  pg = await createTestDatabase("shutdown");
  database = await openMigrated(pg.dsn);
  dir = mkdtempSync(join(tmpdir(), "gh-stop-"));
});

afterAll(async () => {
  await database?.close();
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** A listener with /slow that signals when it starts and answers after `ms`. */
async function slowListener(ms: number) {
  let entered!: () => void;
  const inHandler = new Promise<void>((resolve) => (entered = resolve));
  const captured = captureLog();
  const l = await startListener({
    loaded: testConfig(pg.dsn),
    database,
    log: captured.log,
    routes: () => ({
      "/slow": {
        GET: async () => {
          entered();
          await Bun.sleep(ms);
          return json({ done: true });
        },
      },
    }),
  });
  return { ...l, inHandler, captured };
}

const refused = (url: string) =>
  fetch(url).then(
    (r) => `answered ${r.status}`,
    (err: NodeJS.ErrnoException) => err.code ?? "error",
  );

describe("listener stop", () => {
  test("a request in flight when stop() is called completes with 200; new connections are refused", async () => {
    const l = await slowListener(600);
    const t0 = performance.now();
    const inflight = fetch(`${l.url}/slow`);
    await l.inHandler;
    const stopped = l.listener.stop(5000);
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    await stopped;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(550);
    expect(await refused(`${l.url}/slow`)).toBe("ECONNREFUSED");
  });

  test("stop() is bounded by the grace period: a request still running after it is cut off", async () => {
    const l = await slowListener(20_000);
    const inflight = fetch(`${l.url}/slow`).then(
      (r) => `answered ${r.status}`,
      () => "cut off",
    );
    await l.inHandler;
    const t0 = performance.now();
    await l.listener.stop(300);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
    expect(await inflight).toBe("cut off");
    expect(l.captured.lines.some((line) => line.includes("still running after 300 ms"))).toBe(true);
  });

  test("Running.stop(): listeners closed, socket file removed, database closed", async () => {
    const sock = join(dir, "admin-stop.sock");
    const server = await startTestServer({ dsn: pg.dsn, config: { serve: { admin: { host: `unix:${sock}` } } } });
    expect(existsSync(sock)).toBe(true);
    expect((await server.adminFetch("/health/ready")).status).toBe(200);
    await server.stop();
    expect(existsSync(sock)).toBe(false);
    expect(await refused(`${server.publicUrl}/health/alive`)).toBe("ECONNREFUSED");
    await expect(server.deps.database.ping()).rejects.toThrow();
    // stop() twice is one stop.
    await server.stop();
  });
});

describe("the serve process", () => {
  interface Child {
    proc: Subprocess<"ignore", "pipe", "pipe">;
    stderr: () => Promise<string>;
  }

  function spawnServe(env: Record<string, string>, args: string[] = ["serve", "all", "--dangerous-force-http"]): Child {
    const proc = Bun.spawn([bun, "src/main.ts", ...args], {
      cwd: root,
      // A clean environment: only what the test sets, so no stray DSN or secret leaks in.
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LOG_LEVEL: "info", SECRETS_SYSTEM: testSecret, ...env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const text = new Response(proc.stderr).text();
    return { proc, stderr: () => text };
  }

  async function exitWithin(child: Child, ms: number): Promise<number | "still running"> {
    const timer = Bun.sleep(ms).then(() => "still running" as const);
    const code = await Promise.race([child.proc.exited, timer]);
    if (code === "still running") child.proc.kill("SIGKILL");
    return code;
  }

  test(
    "SIGTERM: exit 0, socket file removed; the access log holds no query, token, Authorization or cookie",
    async () => {
      const port = freePort();
      const sock = join(dir, "proc-admin.sock");
      const child = spawnServe({
        DSN: pg.dsn,
        SERVE_PUBLIC_HOST: "127.0.0.1",
        SERVE_PUBLIC_PORT: String(port),
        SERVE_ADMIN_HOST: `unix:${sock}`,
        SERVE_ADMIN_SOCKET_MODE: "0700",
      });
      try {
        const pub = listenerFetch(`http://127.0.0.1:${port}`);
        const up = await waitFor(() => pub("/health/alive").then((r) => r.status === 200, () => false), 15_000);
        expect(up).toBe(true);
        const adm = listenerFetch(`unix:${sock}`);
        expect((await adm("/version")).status).toBe(200);
        expect((await pub("/version")).status).toBe(404);
        await pub("/health/ready?access_token=qs-secret-1&code=qs-secret-2", {
          headers: { Authorization: "Bearer hdr-secret-bearer", Cookie: "oauth2_authentication_session=cookie-secret" },
        });
        await pub("/oauth2/token?client_secret=qs-secret-3", { method: "POST", headers: { Authorization: "Basic aGRyLXNlY3JldDpwdw==" } });
        await adm("/clients/qs-secret-path-id?x=qs-secret-4");
        child.proc.kill("SIGTERM");
        expect(await exitWithin(child, 15_000)).toBe(0);
        expect(existsSync(sock)).toBe(false);
        const log = await child.stderr();
        expect(log).toContain("SIGTERM received");
        expect(log).toMatch(/request method=GET route=\/health\/ready status=200 duration_ms=[\d.]+ request_id=[0-9a-f-]{36}/);
        // The token endpoint refuses the body-less POST (400); its log line names the route only.
        expect(log).toMatch(/request method=POST route=\/oauth2\/token status=400/);
        for (const secret of ["qs-secret", "hdr-secret", "aGRyLXNlY3JldDpwdw", "cookie-secret", "access_token", "client_secret"]) {
          expect(log).not.toContain(secret);
        }
      } finally {
        child.proc.kill("SIGKILL");
      }
    },
    40_000,
  );

  test(
    'SIGINT with dsn "memory": exit 0',
    async () => {
      const port = freePort();
      const child = spawnServe({ DSN: "memory", SERVE_PUBLIC_HOST: "127.0.0.1", SERVE_PUBLIC_PORT: String(port), SERVE_ADMIN_HOST: `unix:${join(dir, "mem-admin.sock")}` });
      try {
        const up = await waitFor(
          () => fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status === 200, () => false),
          20_000,
        );
        expect(up).toBe(true);
        child.proc.kill("SIGINT");
        expect(await exitWithin(child, 15_000)).toBe(0);
        expect(existsSync(join(dir, "mem-admin.sock"))).toBe(false);
        expect(await child.stderr()).toContain("SIGINT received");
      } finally {
        child.proc.kill("SIGKILL");
      }
    },
    40_000,
  );

  test(
    "a wrong socket group is a clear start-up failure (exit 1, the key named, no socket left)",
    async () => {
      const sock = join(dir, "bad-group.sock");
      const child = spawnServe(
        { DSN: pg.dsn, SERVE_ADMIN_HOST: `unix:${sock}`, SERVE_ADMIN_SOCKET_GROUP: "no-such-group-gh" },
        ["serve", "admin", "--dangerous-force-http"],
      );
      try {
        expect(await exitWithin(child, 15_000)).toBe(1);
        const err = await child.stderr();
        expect(err).toContain('serve.admin.socket.group: there is no group named "no-such-group-gh"');
        expect(err).not.toMatch(/^\s+at /m);
        expect(existsSync(sock)).toBe(false);
      } finally {
        child.proc.kill("SIGKILL");
      }
    },
    20_000,
  );
});
