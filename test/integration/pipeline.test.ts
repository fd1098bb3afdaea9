/**
 * @module The request pipeline over real HTTP: request ids, the one error renderer
 * (404, 405, 400 on bad JSON, 500 without leaks), access log, metrics and CORS.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { invalidRequest } from "../../src/errors.ts";
import { getPrometheusMetrics } from "../../src/health/routes.ts";
import { adminRoutes } from "../../src/server/admin-routes.ts";
import { json, readJson, type RouteTable } from "../../src/server/http.ts";
import type { Database } from "../../src/storage/db.ts";
import { listen } from "../../src/server/listen.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer } from "../helpers/server.ts";
import { captureLog, startListener, testConfig, type CapturedLog, type ListenerUnderTest } from "./kit.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const leakedMessage = "connection to db-7.internal refused for user gatehouse_rw";

const extraRoutes: RouteTable = {
  "/boom": {
    GET: () => {
      throw new Error(leakedMessage);
    },
  },
  "/not-a-response": {
    // A handler bug: returns nothing. Must still be a rendered 500, not a crash.
    GET: (() => undefined) as unknown as () => Response,
  },
  "/oauth-error": {
    GET: () => {
      throw invalidRequest(undefined, { hint: 'The "scope" parameter is missing.' });
    },
  },
  "/things/:id": {
    GET: (req) => json({ id: (req.params as Record<string, string>).id }),
    POST: async (req) => json({ got: await readJson(req) }),
  },
};

let pg: TestDatabase;
let database: Database;
let captured: CapturedLog;
let plain: ListenerUnderTest;
let withCors: ListenerUnderTest;

beforeAll(async () => {
  pg = await createTestDatabase("pipeline");
  database = await openMigrated(pg.dsn);
  captured = captureLog();
  plain = await startListener({
    loaded: testConfig(pg.dsn),
    database,
    log: captured.log,
    routes: (deps) => ({ ...adminRoutes(deps), ...extraRoutes }),
  });
  withCors = await startListener({
    loaded: testConfig(pg.dsn, {
      serve: {
        admin: {
          cors: {
            enabled: true,
            allowed_origins: ["https://good.example", "https://*.apps.example"],
            allowed_methods: ["GET", "POST", "DELETE"],
            allowed_headers: ["Authorization", "Content-Type", "X-Custom"],
            exposed_headers: ["Content-Type", "X-Request-Id"],
            max_age: 600,
          },
        },
      },
    }),
    database,
    log: captureLog().log,
    routes: (deps) => ({ ...adminRoutes(deps), ...extraRoutes }),
  });
});

afterAll(async () => {
  await plain?.listener.stop(1000);
  await withCors?.listener.stop(1000);
  await database?.close();
  await pg?.drop();
});

describe("X-Request-Id", () => {
  test("a sane incoming id is echoed, on success and on errors", async () => {
    for (const path of ["/health/alive", "/nope", "/boom", "/oauth-error"]) {
      const res = await fetch(`${plain.url}${path}`, { headers: { "X-Request-Id": "req-123.abc:def" } });
      expect(res.headers.get("x-request-id")).toBe("req-123.abc:def");
    }
  });

  test("a missing id is generated, different per request", async () => {
    const a = (await fetch(`${plain.url}/health/alive`)).headers.get("x-request-id");
    const b = (await fetch(`${plain.url}/health/alive`)).headers.get("x-request-id");
    expect(a).toMatch(uuid);
    expect(b).toMatch(uuid);
    expect(a).not.toBe(b);
  });

  test("an absurd id (too long, or with spaces, quotes, angle brackets) is replaced", async () => {
    for (const bad of ["x".repeat(129), "has spaces in it", '"><script>alert(1)</script>', "a,b", "ünïcode"]) {
      const res = await fetch(`${plain.url}/health/alive`, { headers: { "X-Request-Id": bad } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-request-id")).toMatch(uuid);
    }
    const longest = "y".repeat(128);
    const res = await fetch(`${plain.url}/health/alive`, { headers: { "X-Request-Id": longest } });
    expect(res.headers.get("x-request-id")).toBe(longest);
  });
});

describe("error rendering", () => {
  test("unknown route: 404 with Hydra's exact JSON body", async () => {
    const res = await fetch(`${plain.url}/does/not/exist?x=1`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(await res.json()).toEqual({ error: "Not Found", error_description: "Unable to locate the requested resource" });
  });

  test("known route, wrong method: 405 JSON naming the allowed methods", async () => {
    const res = await fetch(`${plain.url}/things/1`, { method: "DELETE" });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, POST");
    expect(await res.json()).toEqual({ error: "Method Not Allowed", error_description: "The request method is not supported for this resource" });
  });

  test("HEAD on a read-only document answers like GET, without a body; elsewhere it is 405", async () => {
    const get = await fetch(`${plain.url}/health/alive`);
    const head = await fetch(`${plain.url}/health/alive`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
    expect(await head.text()).toBe("");
    // A GET handler elsewhere may change state (start a flow, use up a verifier): HEAD never runs it.
    const other = await fetch(`${plain.url}/things/1`, { method: "HEAD" });
    expect(other.status).toBe(405);
  });

  test("a plain Error becomes 500 server_error; the message and stack stay in the log", async () => {
    const res = await fetch(`${plain.url}/boom`, { headers: { "X-Request-Id": "boom-1" } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      error: "server_error",
      error_description: "The authorization server encountered an unexpected condition that prevented it from fulfilling the request.",
    });
    expect(text).not.toContain("db-7.internal");
    expect(text).not.toContain("pipeline.test.ts");
    const logged = captured.lines.find((l) => l.includes("boom-1") && l.includes(leakedMessage));
    expect(logged).toBeDefined();
    expect(logged).toContain("pipeline.test.ts"); // the stack
  });

  test("a handler that returns no Response is a rendered 500 that still carries the request id", async () => {
    const res = await fetch(`${plain.url}/not-a-response`, { headers: { "X-Request-Id": "nores-1" } });
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toBe("nores-1");
    expect(((await res.json()) as { error: string }).error).toBe("server_error");
  });

  test("an OAuthError keeps its status; the hint is folded in with quotes made single", async () => {
    const res = await fetch(`${plain.url}/oauth-error`);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: "invalid_request",
      error_description:
        "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed. The 'scope' parameter is missing.",
    });
  });

  test("readJson: malformed JSON and an empty body are 400 JSON; valid JSON passes", async () => {
    const post = (body: string) => fetch(`${plain.url}/things/1`, { method: "POST", body, headers: { "Content-Type": "application/json" } });
    for (const body of ["{not json", '{"a":', ""]) {
      const res = await post(body);
      expect(res.status).toBe(400);
      const parsed = (await res.json()) as { error: string; error_description: unknown };
      expect(parsed.error).toBe("Bad Request");
      expect(typeof parsed.error_description).toBe("string");
    }
    const ok = await post('{"a":[1,2]}');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ got: { a: [1, 2] } });
  });
});

describe("access log and metrics", () => {
  test("one access line per request: method, route template, status, duration, request id", async () => {
    const before = captured.entries.length;
    await fetch(`${plain.url}/things/secret-id-42?code=authcode-xyz`, { headers: { "X-Request-Id": "log-1" } });
    const lines = captured.entries.slice(before).filter((e) => e.args[0] === "request");
    expect(lines).toHaveLength(1);
    const fields = lines[0]!.args[1] as Record<string, unknown>;
    expect(fields).toMatchObject({ method: "GET", route: "/things/:id", status: 200, request_id: "log-1" });
    expect(typeof fields.duration_ms).toBe("number");
  });

  test("never a query string, path id, Authorization header or cookie in any log line", async () => {
    const before = captured.lines.length;
    await fetch(`${plain.url}/things/path-secret-77?access_token=qs-secret-token&code=qs-secret-code`, {
      headers: { Authorization: "Bearer auth-secret-bearer", Cookie: "session=cookie-secret-value" },
    });
    await fetch(`${plain.url}/boom?refresh_token=qs-secret-refresh`, { headers: { Authorization: "Basic YXV0aC1zZWNyZXQ6cHc=" } });
    await fetch(`${plain.url}/unknown/path-secret-88?token=qs-secret-unmatched`);
    const text = captured.lines.slice(before).join("\n");
    expect(text).toContain("/things/:id");
    for (const secret of ["path-secret", "qs-secret", "auth-secret", "YXV0aC1zZWNyZXQ6cHc", "cookie-secret", "access_token=", "?"]) {
      expect(text).not.toContain(secret);
    }
  });

  test("metrics: counts and durations by route template and status; in-flight, pool and process series", async () => {
    await fetch(`${plain.url}/things/abc-unique-id`);
    await fetch(`${plain.url}/boom`);
    await fetch(`${plain.url}/zzz-unmatched-path`);
    const res = await fetch(`${plain.url}/metrics/prometheus`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/plain");
    const text = await res.text();
    expect(text).toMatch(/gatehouse_http_requests_total\{listener="admin",method="GET",route="\/things\/:id",status="200"\} \d+/);
    expect(text).toMatch(/gatehouse_http_requests_total\{listener="admin",method="GET",route="\/boom",status="500"\} \d+/);
    expect(text).toMatch(/gatehouse_http_request_duration_seconds_bucket\{[^}]*route="\/things\/:id",status="200",le="\+Inf"\} \d+/);
    expect(text).toMatch(/gatehouse_http_request_duration_seconds_count\{[^}]*route="\/things\/:id"[^}]*\} \d+/);
    expect(text).toMatch(/status="404"/);
    // The scrape itself is in flight while the text is rendered.
    expect(text).toMatch(/^gatehouse_http_requests_in_flight 1$/m);
    expect(text).toMatch(/^gatehouse_db_pool_max_connections\{kind="postgres"\} \d+$/m);
    // Read from pg_stat_activity: at least the connection that served earlier queries is open.
    const open = [...text.matchAll(/^gatehouse_db_pool_connections\{kind="postgres",state="([^"]+)"\} (\d+)$/gm)];
    expect(open.length).toBeGreaterThan(0);
    expect(open.reduce((n, m) => n + Number(m[2]), 0)).toBeGreaterThan(0);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    expect(text).toMatch(/^process_cpu_seconds_total [\d.e-]+$/m);
    expect(text).not.toContain("abc-unique-id");
    expect(text).not.toContain("zzz-unmatched-path");
  });

  test("in-flight returns to zero after errors and handler bugs", async () => {
    for (const p of ["/boom", "/not-a-response", "/nope", "/oauth-error"]) await fetch(`${plain.url}${p}`);
    const text = plain.deps.metrics.render({ poolMax: 1, dbKind: "postgres" });
    expect(text).toMatch(/^gatehouse_http_requests_in_flight 0$/m);
    expect(getPrometheusMetrics).toBeFunction();
  });
});

describe("CORS on the admin listener", () => {
  test("preflight from an allowed origin: 204 with the configured headers", async () => {
    const res = await fetch(`${withCors.url}/things/1`, {
      method: "OPTIONS",
      headers: { Origin: "https://good.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://good.example");
    expect(res.headers.get("access-control-allow-methods")).toBe("GET, POST, DELETE");
    expect(res.headers.get("access-control-allow-headers")).toBe("Authorization, Content-Type, X-Custom");
    expect(res.headers.get("access-control-allow-credentials")).toBe("true");
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.get("vary")).toContain("Origin");
    expect(res.headers.get("x-request-id")).toMatch(uuid);
  });

  test("a glob origin matches one label", async () => {
    const ok = await fetch(`${withCors.url}/health/alive`, { headers: { Origin: "https://tenant1.apps.example" } });
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://tenant1.apps.example");
    const deeper = await fetch(`${withCors.url}/health/alive`, { headers: { Origin: "https://evil.com/.apps.example" } });
    expect(deeper.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("simple request from an allowed origin gets Allow-Origin and Expose-Headers", async () => {
    const res = await fetch(`${withCors.url}/things/1`, { headers: { Origin: "https://good.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://good.example");
    expect(res.headers.get("access-control-expose-headers")).toBe("Content-Type, X-Request-Id");
  });

  test("a disallowed origin gets no CORS headers, preflight or not", async () => {
    const pre = await fetch(`${withCors.url}/things/1`, {
      method: "OPTIONS",
      headers: { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" },
    });
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    expect(pre.headers.get("access-control-allow-methods")).toBeNull();
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    const simple = await fetch(`${withCors.url}/things/1`, { headers: { Origin: "https://evil.example" } });
    expect(simple.status).toBe(200);
    expect(simple.headers.get("access-control-allow-origin")).toBeNull();
    expect(simple.headers.get("access-control-allow-credentials")).toBeNull();
    expect(simple.headers.get("vary")).toContain("Origin");
  });

  test("CORS disabled (the default): no CORS headers even for a would-be allowed origin", async () => {
    const res = await fetch(`${plain.url}/things/1`, {
      method: "OPTIONS",
      headers: { Origin: "https://good.example", "Access-Control-Request-Method": "POST" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS on the public listener", () => {
  test("only Hydra's OAuth2-aware paths get CORS; health does not", async () => {
    const server = await startTestServer({
      dsn: pg.dsn,
      which: "public",
      config: { serve: { public: { cors: { enabled: true, allowed_origins: ["https://spa.example"] } } } },
    });
    try {
      const origin = { Origin: "https://spa.example" };
      const pre = await server.publicFetch("/oauth2/token", { method: "OPTIONS", headers: { ...origin, "Access-Control-Request-Method": "POST" } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get("access-control-allow-origin")).toBe("https://spa.example");
      const health = await server.publicFetch("/health/alive", { headers: origin });
      expect(health.status).toBe(200);
      expect(health.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await server.stop();
    }
  });
});

describe("TLS guard wiring", () => {
  test("a refused plain-HTTP request is logged as one line, without a stack", async () => {
    const log = captureLog();
    const guarded = await startListener({
      loaded: testConfig(pg.dsn),
      database,
      log: log.log,
      routes: (deps) => ({ ...adminRoutes(deps), ...extraRoutes }),
      terminationRanges: ["10.0.0.0/8"],
    });
    try {
      const res = await fetch(`${guarded.url}/things/1`, { headers: { "X-Forwarded-Proto": "https", "X-Request-Id": "guard-1" } });
      expect(res.status).toBe(502);
      const line = log.lines.find((l) => l.includes("guard-1") && l.includes("insecure_transport"));
      expect(line).toBeDefined();
      expect(line).not.toMatch(/\n\s+at /);
      expect((await fetch(`${guarded.url}/health/alive`)).status).toBe(200);
    } finally {
      await guarded.listener.stop(1000);
    }
  });

  test("a termination range that does not parse stops the listener from starting (fail closed)", async () => {
    const loaded = testConfig(pg.dsn);
    const deps = plain.deps;
    await expect(
      listen({
        name: "public",
        listener: { ...loaded.config.serve.public, host: "127.0.0.1", port: 0 },
        routes: {},
        deps,
        terminationRanges: ["10.0.0.0/8", "not-a-range"],
      }),
    ).rejects.toThrow(/"not-a-range" in allow_termination_from is not a CIDR range/);
  });
});
