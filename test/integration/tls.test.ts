/**
 * @module TLS over real sockets: direct HTTPS with a certificate made by openssl at
 * test time, and the TLS-termination guard (peer range × X-Forwarded-Proto × path).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let pg: TestDatabase;
let dir: string;
const started: TestServer[] = [];

/** The production mode: no --dangerous-force-http, so the issuer must be https. */
async function startStrict(config: Record<string, unknown>, which: "all" | "public" | "admin" = "all") {
  const server = await startTestServer({
    dsn: pg.dsn,
    which,
    mode: { forceHttp: false },
    config: { urls: { self: { issuer: "https://127.0.0.1:4444/" } }, ...config },
  });
  started.push(server);
  return server;
}

function makeCert(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const out = Bun.spawnSync([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ]);
  if (out.exitCode !== 0) throw new Error(`openssl failed: ${out.stderr.toString()}`);
  return { cert, key };
}

/** The subject CN of the certificate a TLS listener presents. */
function peerCn(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      const cn = socket.getPeerCertificate().subject?.CN;
      socket.end();
      resolve(String(cn));
    });
    socket.once("error", reject);
  });
}

beforeAll(async () => {
  // The certificates come from the openssl binary; fail loudly if it is missing.
  expect(Bun.which("openssl")).not.toBeNull();
  pg = await createTestDatabase("tls");
  await (await openMigrated(pg.dsn)).close();
  dir = mkdtempSync(join(tmpdir(), "gh-tls-"));
});

afterAll(async () => {
  for (const s of started) await s.stop();
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe("direct HTTPS", () => {
  let pub: { cert: string; key: string };
  let adm: { cert: string; key: string };
  beforeAll(() => {
    pub = makeCert("public-test");
    adm = makeCert("admin-test");
  });

  test("serve.tls.cert/key paths: both TCP listeners speak HTTPS with a verifiable certificate", async () => {
    const server = await startStrict({ serve: { tls: { cert: { path: pub.cert }, key: { path: pub.key } } } });
    expect(server.publicUrl).toStartWith("https://");
    expect(server.adminUrl).toStartWith("https://");
    const ca = readFileSync(pub.cert, "utf8");
    const alive = await fetch(`${server.publicUrl}/health/alive`, { tls: { ca } } as RequestInit);
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ status: "ok" });
    const v = await fetch(`${server.adminUrl}/version`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(v.status).toBe(200);
    // Plain HTTP to an HTTPS port gets no answer from the application.
    const plain = await fetch(`${server.publicUrl.replace("https:", "http:")}/health/alive`).then(
      (r) => r.status,
      () => "refused",
    );
    expect(plain).not.toBe(200);
    await server.stop();
  });

  test("per-listener certificates (serve.admin.tls.*.base64) override the shared ones", async () => {
    const b64 = (p: string) => readFileSync(p).toString("base64");
    const server = await startStrict({
      serve: {
        tls: { cert: { path: pub.cert }, key: { path: pub.key } },
        admin: { tls: { cert: { base64: b64(adm.cert) }, key: { base64: b64(adm.key) } } },
      },
    });
    const port = (name: string) => server.listeners.find((l) => l.name === name)!.server.port!;
    expect(await peerCn(port("public"))).toBe("public-test");
    expect(await peerCn(port("admin"))).toBe("admin-test");
    await server.stop();
  });

  test("serve.admin.tls.enabled=false: admin is plain HTTP, public stays HTTPS", async () => {
    const server = await startStrict({ serve: { tls: { cert: { path: pub.cert }, key: { path: pub.key } }, admin: { tls: { enabled: false } } } });
    expect(server.adminUrl).toStartWith("http://");
    expect((await fetch(`${server.adminUrl}/version`)).status).toBe(200);
    expect(server.publicUrl).toStartWith("https://");
    await server.stop();
  });

  test("with direct TLS, allow_termination_from does not block HTTPS clients outside the ranges", async () => {
    const server = await startStrict({
      serve: { tls: { cert: { path: pub.cert }, key: { path: pub.key }, allow_termination_from: ["10.0.0.0/8"] } },
    });
    const res = await fetch(`${server.adminUrl}/version`, { tls: { rejectUnauthorized: false } } as RequestInit);
    expect(res.status).toBe(200);
    await server.stop();
  });

  test("an unreadable certificate path is a start-up error naming the key", async () => {
    await expect(startStrict({ serve: { tls: { cert: { path: join(dir, "missing.crt") }, key: { path: pub.key } } } })).rejects.toThrow(
      /serve\.tls\.cert\.path: cannot read/,
    );
  });

  test("without certificate, termination ranges or --dangerous-force-http, serve refuses to start", async () => {
    await expect(startStrict({})).rejects.toThrow(/serve\.public: no TLS certificate is configured/);
  });
});

describe("TLS termination guard", () => {
  let trusted: TestServer;
  let untrusted: TestServer;
  beforeAll(async () => {
    // Our peer is 127.0.0.1: inside the first list, outside the second (IPv6 ranges parse alongside).
    trusted = await startStrict({ serve: { tls: { allow_termination_from: ["10.0.0.0/8", "127.0.0.1/32", "::1/128"] } } });
    untrusted = await startStrict({ serve: { tls: { allow_termination_from: ["10.0.0.0/8", "fd00::/8", "::ffff:192.168.0.0/112"] } } });
  });

  const protos = ["https", "http", undefined] as const;
  const exempt = ["/health/alive", "/health/ready"];

  for (const peer of ["trusted", "untrusted"] as const) {
    for (const proto of protos) {
      test(`${peer} peer, X-Forwarded-Proto ${proto ?? "(missing)"}: health always 200; other paths only if trusted and https`, async () => {
        const server = peer === "trusted" ? trusted : untrusted;
        const headers: Record<string, string> = proto ? { "X-Forwarded-Proto": proto } : {};
        for (const f of [server.publicFetch, server.adminFetch]) {
          for (const path of exempt) {
            const res = await f(path, { headers });
            expect(res.status).toBe(200);
            expect(await res.json()).toEqual({ status: "ok" });
          }
        }
        const served = peer === "trusted" && proto === "https";
        const v = await server.adminFetch("/version", { headers });
        expect(v.status).toBe(served ? 200 : 502);
        const unknown = await server.publicFetch("/no/such/path", { headers });
        expect(unknown.status).toBe(served ? 404 : 502);
        if (!served) {
          const body = (await v.json()) as { error: string; error_description: string };
          expect(body.error).toBe("insecure_transport");
          expect(body.error_description).toContain("Can not serve request over insecure http.");
          expect(body.error_description).toContain(peer === "untrusted" ? "127.0.0.1 is not in it" : "X-Forwarded-Proto: https");
          expect(v.headers.get("content-type")).toBe("application/json; charset=utf-8");
          expect(v.headers.get("x-request-id")).toBeTruthy();
        }
      });
    }
  }

  test("metrics are exempt as in Hydra (scrapers speak plain HTTP)", async () => {
    expect((await untrusted.adminFetch("/metrics/prometheus")).status).toBe(200);
  });

  test("X-Forwarded-For naming a trusted address does not help an untrusted peer", async () => {
    for (const xff of ["127.0.0.1", "10.1.2.3", "203.0.113.9, 10.1.2.3", "::1"]) {
      const res = await untrusted.adminFetch("/version", { headers: { "X-Forwarded-Proto": "https", "X-Forwarded-For": xff, "X-Real-Ip": "10.0.0.1" } });
      expect(res.status).toBe(502);
    }
  });

  test("a path spelled to look like health is not exempt", async () => {
    for (const path of ["/health/alive/../../version", "/health/ready?x=/version", "/health/alive/extra"]) {
      const res = await untrusted.adminFetch(path);
      if (path.startsWith("/health/ready?")) {
        expect(res.status).toBe(200);
      } else {
        expect(res.status).toBe(502);
      }
    }
  });

  test("requests over a Unix socket are trusted without proxy headers", async () => {
    const server = await startStrict({
      serve: { tls: { allow_termination_from: ["10.0.0.0/8"] }, admin: { host: `unix:${join(dir, "admin.sock")}` } },
    });
    const res = await server.adminFetch("/version");
    expect(res.status).toBe(200);
    // The TCP public listener is still guarded.
    expect((await server.publicFetch("/no/such/path", { headers: { "X-Forwarded-Proto": "https" } })).status).toBe(502);
    await server.stop();
  });
});
