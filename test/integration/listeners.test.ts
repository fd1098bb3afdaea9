/**
 * @module Listeners over real sockets: which routes each listener answers, `serve
 * all|public|admin`, and Unix sockets (mode, owner, group, stale/live/non-socket paths).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminRoutes } from "../../src/server/admin-routes.ts";
import type { Method } from "../../src/server/http.ts";
import { publicRoutes } from "../../src/server/public-routes.ts";
import { version } from "../../src/version.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { listenerFetch, startTestServer, type TestServer } from "../helpers/server.ts";

const notFoundBody = { error: "Not Found", error_description: "Unable to locate the requested resource" };

let pg: TestDatabase;
let dir: string;
const started: TestServer[] = [];

async function start(options: Parameters<typeof startTestServer>[0]) {
  const server = await startTestServer(options);
  started.push(server);
  return server;
}

beforeAll(async () => {
  pg = await createTestDatabase("listeners");
  await (await openMigrated(pg.dsn)).close();
  dir = mkdtempSync(join(tmpdir(), "gh-listen-"));
});

afterAll(async () => {
  for (const s of started) await s.stop();
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe("serve all: two listeners, two route tables", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start({ dsn: pg.dsn });
  });

  test("health answers on both listeners", async () => {
    for (const f of [server.publicFetch, server.adminFetch]) {
      for (const path of ["/health/alive", "/health/ready"]) {
        const res = await f(path);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
        expect(await res.json()).toEqual({ status: "ok" });
      }
    }
  });

  test("admin-only paths answer on admin and are a 404 JSON on public", async () => {
    const v = await server.adminFetch("/version");
    expect(v.status).toBe(200);
    expect(await v.json()).toEqual({ version });
    const m = await server.adminFetch("/metrics/prometheus");
    expect(m.status).toBe(200);
    expect(await m.text()).toContain("gatehouse_http_requests_total");
    for (const path of ["/version", "/metrics/prometheus"]) {
      const res = await server.publicFetch(path);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual(notFoundBody);
    }
  });

  test("every route of one table is a 404 on the other listener (health aside)", async () => {
    const shared = new Set(["/health/alive", "/health/ready"]);
    const check = async (table: ReturnType<typeof adminRoutes>, other: typeof server.publicFetch) => {
      let checked = 0;
      for (const [template, methods] of Object.entries(table)) {
        if (shared.has(template)) continue;
        const path = template.replace(/:[^/]+/g, "x1");
        for (const method of Object.keys(methods) as Method[]) {
          const res = await other(path, { method });
          expect({ template, method, status: res.status }).toEqual({ template, method, status: 404 });
          checked++;
        }
      }
      return checked;
    };
    expect(await check(adminRoutes(server.deps), server.publicFetch)).toBeGreaterThanOrEqual(2);
    await check(publicRoutes(server.deps), server.adminFetch);
  });

  test("the two listeners are different sockets", () => {
    expect(server.listeners.map((l) => l.name).sort()).toEqual(["admin", "public"]);
    expect(server.publicUrl).not.toBe(server.adminUrl);
  });
});

describe("serve public / serve admin: one listener each", () => {
  test("serve public opens only the public listener", async () => {
    const server = await start({ dsn: pg.dsn, which: "public" });
    expect(server.listeners.map((l) => l.name)).toEqual(["public"]);
    expect((await server.publicFetch("/health/alive")).status).toBe(200);
    expect((await server.publicFetch("/version")).status).toBe(404);
    await server.stop();
  });

  test("serve admin opens only the admin listener", async () => {
    const server = await start({ dsn: pg.dsn, which: "admin" });
    expect(server.listeners.map((l) => l.name)).toEqual(["admin"]);
    expect((await server.adminFetch("/version")).status).toBe(200);
    await server.stop();
  });

  test('serve public with dsn "memory" is refused before anything opens', async () => {
    await expect(startTestServer({ dsn: "memory", which: "public" })).rejects.toThrow(/dsn: "memory" cannot be used with "gatehouse serve public"/);
  });
});

describe("Unix sockets", () => {
  let n = 0;
  const socketPath = () => join(dir, `s${++n}.sock`);

  test("mode and group are applied after bind; the socket answers; the file is removed on stop", async () => {
    const path = socketPath();
    const server = await start({
      dsn: pg.dsn,
      config: { serve: { admin: { host: `unix:${path}`, socket: { mode: "770", group: "nogroup" } } } },
    });
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o770);
    expect(st.gid).toBe(65534);
    expect(server.adminUrl).toBe(`unix:${path}`);
    const res = await server.adminFetch("/version");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ version });
    // The public listener stays on TCP and still refuses admin paths.
    expect((await server.publicFetch("/version")).status).toBe(404);
    await server.stop();
    expect(existsSync(path)).toBe(false);
  });

  test("owner by name, and the default mode 0755", async () => {
    const path = socketPath();
    const server = await start({ dsn: pg.dsn, which: "public", config: { serve: { public: { host: `unix:${path}`, socket: { owner: "daemon", group: "daemon" } } } } });
    const st = statSync(path);
    expect(st.uid).toBe(1);
    expect(st.gid).toBe(1);
    expect(st.mode & 0o777).toBe(0o755);
    expect((await server.publicFetch("/health/alive")).status).toBe(200);
    await server.stop();
  });

  test("a wrong owner or group name is a start-up error naming the key; nothing stays open", async () => {
    const publicPath = socketPath();
    const adminPath = socketPath();
    const attempt = (socket: Record<string, string>) =>
      startTestServer({
        dsn: pg.dsn,
        config: { serve: { public: { host: `unix:${publicPath}` }, admin: { host: `unix:${adminPath}`, socket } } },
      });
    await expect(attempt({ owner: "no-such-user-gh" })).rejects.toThrow(/serve\.admin\.socket\.owner: there is no user named "no-such-user-gh"/);
    expect(existsSync(publicPath)).toBe(false);
    await expect(attempt({ group: "no-such-group-gh" })).rejects.toThrow(/serve\.admin\.socket\.group: there is no group named "no-such-group-gh"/);
    expect(existsSync(publicPath)).toBe(false);
    expect(existsSync(adminPath)).toBe(false);
  });

  test("a stale socket file left by a killed process is replaced", async () => {
    const path = socketPath();
    const child = Bun.spawn(
      [process.execPath, "-e", `require("node:net").createServer().listen(${JSON.stringify(path)}, () => console.log("up"))`],
      { stdout: "pipe" },
    );
    const first = await child.stdout.getReader().read();
    expect(new TextDecoder().decode(first.value)).toContain("up");
    child.kill("SIGKILL");
    await child.exited;
    expect(statSync(path).isSocket()).toBe(true);
    const server = await start({ dsn: pg.dsn, which: "admin", config: { serve: { admin: { host: `unix:${path}` } } } });
    expect((await server.adminFetch("/health/alive")).status).toBe(200);
    await server.stop();
  });

  test("a socket held by a live listener is an error, and that listener keeps working", async () => {
    const path = socketPath();
    const live = Bun.serve({ unix: path, fetch: () => new Response("still mine") });
    try {
      await expect(startTestServer({ dsn: pg.dsn, which: "admin", config: { serve: { admin: { host: `unix:${path}` } } } })).rejects.toThrow(
        /serve\.admin\.host: .* is in use/,
      );
      const res = await listenerFetch(`unix:${path}`)("/");
      expect(await res.text()).toBe("still mine");
    } finally {
      live.stop(true);
    }
  });

  test("a regular file at the path is an error and is left untouched", async () => {
    const path = socketPath();
    writeFileSync(path, "precious data");
    await expect(startTestServer({ dsn: pg.dsn, which: "admin", config: { serve: { admin: { host: `unix:${path}` } } } })).rejects.toThrow(
      /serve\.admin\.host: .* is not a Unix socket/,
    );
    expect(readFileSync(path, "utf8")).toBe("precious data");
  });

  test("a relative socket path is a config error", async () => {
    await expect(startTestServer({ dsn: pg.dsn, which: "admin", config: { serve: { admin: { host: "unix:relative.sock" } } } })).rejects.toThrow(
      /serve\.admin\.host: a Unix socket needs an absolute path/,
    );
  });
});
