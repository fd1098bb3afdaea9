/** @module checkServe and tlsFilesOf (what `serve` needs beyond a valid config), and a bad config stopping the real CLI. */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { checkServe, loadConfig, terminationRangesOf, tlsFilesOf, type LoadInput } from "../../src/config/load.ts";
import { certPem, keyPem, otherKeyPem, problemsOf, secret, tempDir } from "./fixtures.ts";

const tmp = tempDir("config-serve");
afterAll(() => tmp.remove());

const b64 = (text: string) => Buffer.from(text).toString("base64");
const load = (env: Record<string, string> = {}, input: Omit<LoadInput, "env"> = {}) =>
  loadConfig({ ...input, env: { SECRETS_SYSTEM: secret, ...env } });

const threeWays = (iface: "public" | "admin") =>
  `serve.${iface}: no TLS certificate is configured for the ${iface} listener. Choose one: ` +
  "(1) give a certificate and key (serve.tls.cert.path and serve.tls.key.path, or their .base64 forms; SERVE_TLS_CERT_PATH/SERVE_TLS_KEY_PATH), " +
  "(2) terminate TLS at a proxy and set serve.tls.allow_termination_from to its address range, or " +
  "(3) pass --dangerous-force-http (never in production)";

describe("checkServe: TLS", () => {
  test("without a certificate, each TCP listener fails with the three ways out", () => {
    const loaded = load();
    expect(checkServe(loaded, "all")).toEqual([threeWays("public"), threeWays("admin")]);
    expect(checkServe(loaded, "public")).toEqual([threeWays("public")]);
    expect(checkServe(loaded, "admin")).toEqual([threeWays("admin")]);
  });

  test("--dev and --dangerous-force-http need no certificate", () => {
    expect(checkServe(load({}, { mode: { dev: true } }), "all")).toEqual([]);
    expect(checkServe(load({}, { mode: { forceHttp: true } }), "all")).toEqual([]);
  });

  test("Unix socket listeners need no TLS", () => {
    const loaded = load({ SERVE_PUBLIC_HOST: "unix:/run/g/public.sock", SERVE_ADMIN_HOST: "unix:/run/g/admin.sock" });
    expect(checkServe(loaded, "all")).toEqual([]);
    // Only the TCP one needs it.
    expect(checkServe(load({ SERVE_ADMIN_HOST: "unix:/run/g/admin.sock" }), "all")).toEqual([threeWays("public")]);
  });

  test("allow_termination_from (shared or per listener) is a way out", () => {
    expect(checkServe(load({ SERVE_TLS_ALLOW_TERMINATION_FROM: "10.0.0.0/8" }), "all")).toEqual([]);
    const perListener = load({ SERVE_PUBLIC_TLS_ALLOW_TERMINATION_FROM: "fd00::/8" });
    expect(checkServe(perListener, "all")).toEqual([threeWays("admin")]);
    expect(terminationRangesOf(perListener.config, "public")).toEqual(["fd00::/8"]);
    expect(terminationRangesOf(perListener.config, "admin")).toEqual([]);
  });

  test("serve.admin.tls.enabled=false lets the admin listener run plain", () => {
    expect(checkServe(load({ SERVE_ADMIN_TLS_ENABLED: "false" }), "all")).toEqual([threeWays("public")]);
  });

  test("a certificate and key from files", () => {
    const loaded = load({ SERVE_TLS_CERT_PATH: tmp.write(certPem, "pem"), SERVE_TLS_KEY_PATH: tmp.write(keyPem, "pem") });
    expect(checkServe(loaded, "all")).toEqual([]);
    expect(tlsFilesOf(loaded.config, "public")).toEqual({ cert: certPem, key: keyPem });
    expect(tlsFilesOf(loaded.config, "admin")).toEqual({ cert: certPem, key: keyPem });
  });

  test("a certificate and key as base64, from a YAML file", () => {
    const f = tmp.write(`serve:\n  tls:\n    cert:\n      base64: ${b64(certPem)}\n    key:\n      base64: ${b64(keyPem)}\n`);
    const loaded = load({}, { files: [f] });
    expect(checkServe(loaded, "all")).toEqual([]);
    expect(tlsFilesOf(loaded.config, "public")).toEqual({ cert: certPem, key: keyPem });
  });

  test("one file holding both the certificate and the key", () => {
    const both = tmp.write(certPem + keyPem, "pem");
    const loaded = load({ SERVE_TLS_CERT_PATH: both, SERVE_TLS_KEY_PATH: both });
    expect(checkServe(loaded, "all")).toEqual([]);
  });

  test("serve.<listener>.tls overrides serve.tls for that listener only", () => {
    const shared = { SERVE_TLS_CERT_PATH: tmp.write(certPem, "pem"), SERVE_TLS_KEY_PATH: tmp.write(keyPem, "pem") };
    const loaded = load({ ...shared, SERVE_ADMIN_TLS_KEY_BASE64: b64(otherKeyPem) });
    expect(tlsFilesOf(loaded.config, "public")?.key).toBe(keyPem);
    expect(checkServe(loaded, "public")).toEqual([]);
    expect(checkServe(loaded, "admin")).toEqual([
      "serve.admin.tls.key: the private key does not belong to the certificate " +
        `(serve.admin.tls.key.base64, from env SERVE_ADMIN_TLS_KEY_BASE64; certificate from serve.tls.cert.path, from env SERVE_TLS_CERT_PATH)`,
    ]);
  });

  test("the material works for a real TLS listener", async () => {
    const loaded = load({ SERVE_TLS_CERT_BASE64: b64(certPem), SERVE_TLS_KEY_BASE64: b64(keyPem) });
    const tls = tlsFilesOf(loaded.config, "public")!;
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls, fetch: () => new Response("ok") });
    try {
      const res = await fetch(`https://127.0.0.1:${server.port}/`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(await res.text()).toBe("ok");
    } finally {
      await server.stop(true);
    }
  });
});

describe("checkServe: TLS errors", () => {
  test("a certificate without a key (or the reverse) is named, once for both listeners", () => {
    const cert = tmp.write(certPem, "pem");
    expect(checkServe(load({ SERVE_TLS_CERT_PATH: cert }), "all")).toEqual([
      "serve.tls.key: required because serve.tls.cert.path is set (from env SERVE_TLS_CERT_PATH); give both the certificate and the private key (serve.tls.key.path or serve.tls.key.base64)",
    ]);
    expect(checkServe(load({ SERVE_PUBLIC_TLS_KEY_BASE64: b64(keyPem) }), "public")).toEqual([
      "serve.public.tls.cert: required because serve.public.tls.key.base64 is set (from env SERVE_PUBLIC_TLS_KEY_BASE64); give both the certificate and the private key (serve.public.tls.cert.path or serve.public.tls.cert.base64)",
    ]);
    // Even in --dev: a half-configured pair is a mistake, not a request for plain HTTP.
    expect(checkServe(load({ SERVE_TLS_CERT_PATH: cert }, { mode: { dev: true } }), "all")).toHaveLength(1);
  });

  test("an unreadable file names the key, the path and the source", () => {
    const missing = join(tmp.dir, "missing.pem");
    const f = tmp.write(`serve:\n  tls:\n    cert:\n      path: ${missing}\n    key:\n      path: ${missing}\n`);
    expect(checkServe(load({}, { files: [f] }), "all")).toEqual([
      `serve.tls.cert.path: cannot read "${missing}" (ENOENT) (from file ${f})`,
      `serve.tls.key.path: cannot read "${missing}" (ENOENT) (from file ${f})`,
    ]);
    expect(problemsOf(() => tlsFilesOf(load({}, { files: [f] }).config, "public"))).toHaveLength(2);
  });

  test("text that is not base64, or not PEM, is refused without echoing it", () => {
    const problems = checkServe(load({ SERVE_TLS_CERT_BASE64: "not base64!", SERVE_TLS_KEY_BASE64: b64("hello, not a key") }), "public");
    expect(problems).toEqual([
      "serve.tls.cert.base64: expected the base64 encoding of a PEM file (from env SERVE_TLS_CERT_BASE64)",
      'serve.tls.key: expected an unencrypted PEM private key ("-----BEGIN PRIVATE KEY-----") (serve.tls.key.base64, from env SERVE_TLS_KEY_BASE64)',
    ]);
    // The certificate and the key swapped.
    const swapped = load({ SERVE_TLS_CERT_PATH: tmp.write(keyPem, "pem"), SERVE_TLS_KEY_PATH: tmp.write(certPem, "pem") });
    const lines = checkServe(swapped, "public");
    expect(lines).toEqual([
      'serve.tls.cert: expected a PEM certificate ("-----BEGIN CERTIFICATE-----") (serve.tls.cert.path, from env SERVE_TLS_CERT_PATH)',
      'serve.tls.key: expected an unencrypted PEM private key ("-----BEGIN PRIVATE KEY-----") (serve.tls.key.path, from env SERVE_TLS_KEY_PATH)',
    ]);
    expect(lines.join("\n")).not.toContain("MIG");
  });

  test("--dangerous-force-http reads no certificate at all", () => {
    expect(checkServe(load({ SERVE_TLS_CERT_PATH: "/nonexistent.pem" }, { mode: { forceHttp: true } }), "all")).toEqual([]);
  });

  test("nothing configured: tlsFilesOf is undefined", () => {
    expect(tlsFilesOf(load().config, "public")).toBeUndefined();
  });
});

describe("checkServe: dsn memory", () => {
  const memory = (which: "all" | "public" | "admin") =>
    checkServe(load({ DSN: "memory" }, { mode: { forceHttp: true } }), which);

  test("serve public and serve admin refuse it; serve all takes it", () => {
    expect(memory("all")).toEqual([]);
    for (const which of ["public", "admin"] as const) {
      expect(memory(which)).toEqual([
        `dsn: "memory" cannot be used with "gatehouse serve ${which}": an in-memory database cannot be shared between processes; use "serve all" or a PostgreSQL DSN`,
      ]);
    }
  });

  test("both problems are reported together", () => {
    expect(checkServe(load({ DSN: "memory" }), "admin")).toHaveLength(2);
  });
});

describe("the CLI stops on a bad config before any listener opens", () => {
  const root = join(import.meta.dir, "../..");

  /** Two ports free right now on 127.0.0.1. */
  function freePorts(): [number, number] {
    const a = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const b = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const ports: [number, number] = [a.port, b.port];
    a.stop(true);
    b.stop(true);
    return ports;
  }

  function portIsFree(port: number): boolean {
    try {
      Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }).stop(true);
      return true;
    } catch {
      return false;
    }
  }

  async function runServe(args: string[], env: Record<string, string> = {}) {
    const child = Bun.spawn([join(root, "node_modules/.bin/bun"), "src/main.ts", "serve", ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => child.kill(), 30_000);
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    clearTimeout(timer);
    return { stdout, stderr, code };
  }

  test("invalid values from file, env and flag: exit 1, one line each, ports untouched", async () => {
    const [publicPort, adminPort] = freePorts();
    const bad = tmp.write(
      [
        "dsn: memory",
        "serve:",
        "  public:",
        "    host: 127.0.0.1",
        `    port: ${publicPort}`,
        "    prot: 1",
        "    socket:",
        "      mode: 493",
        "  admin:",
        "    host: 127.0.0.1",
        `    port: ${adminPort}`,
        "secrets:",
        "  system: [short]",
        "log:",
        "  level: loud",
      ].join("\n"),
    );
    const started = performance.now();
    const { stdout, stderr, code } = await runServe(["all", "-c", bad, "--set", "ttl.access_token=forever"], {
      SERVE_PUBLIC_CORS_ENABLED: "maybe",
    });
    expect(code).toBe(1);
    const lines = stderr.split("\n");
    expect(lines).toContain("gatehouse: invalid configuration:");
    for (const line of [
      `  - serve.public.socket.mode: expected an octal file mode such as 770, 0770 or 0o770 (digits 0-7, at most 0777), got "493" (if 493 is meant as a decimal number, write it as 0755) (from file ${bad})`,
      `  - log.level: expected one of panic, fatal, error, warn, info, debug, trace, got "loud" (from file ${bad})`,
      '  - serve.public.cors.enabled: expected true or false, got "maybe" (from env SERVE_PUBLIC_CORS_ENABLED)',
      '  - ttl.access_token: expected a duration such as "30s", "10m", "1h" or "1h30m", got "forever" (from flag ttl.access_token)',
      `  - secrets.system[0]: expected at least 16 characters, got 5 (from file ${bad})`,
      `  warning: config file ${bad}: unknown key "serve.public.prot" is ignored`,
    ]) {
      expect(lines).toContain(line);
    }
    expect(stdout + stderr).not.toContain("listener on");
    expect(portIsFree(publicPort)).toBe(true);
    expect(portIsFree(adminPort)).toBe(true);
    console.log(`bad config: exit ${code} after ${Math.round(performance.now() - started)} ms`);
  });

  test("a valid config without TLS: exit 1 with the three ways out, ports untouched", async () => {
    const [publicPort, adminPort] = freePorts();
    const good = tmp.write(
      `dsn: memory\nsecrets:\n  system: ["${secret}"]\nserve:\n  public: { host: 127.0.0.1, port: ${publicPort} }\n  admin: { host: 127.0.0.1, port: ${adminPort} }\n`,
    );
    const { stdout, stderr, code } = await runServe(["all", "--config", good]);
    expect(code).toBe(1);
    const lines = stderr.split("\n");
    expect(lines).toContain(`  - ${threeWays("public")}`);
    expect(lines).toContain(`  - ${threeWays("admin")}`);
    expect(stdout + stderr).not.toContain("listener on");
    expect(portIsFree(publicPort)).toBe(true);
    expect(portIsFree(adminPort)).toBe(true);
  });
});
