/** @module loadConfig: sources and their precedence, env names, file formats, every error path, warnings, freezing. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { ConfigError, envNameOf, loadConfig, type LoadInput } from "../../src/config/load.ts";
import { problemsOf, secret, tempDir } from "./fixtures.ts";

const tmp = tempDir("config-load");
afterAll(() => tmp.remove());

/** loadConfig with a valid system secret unless the test gives its own environment. */
function load(input: LoadInput = {}) {
  return loadConfig({ ...input, env: input.env ?? { SECRETS_SYSTEM: secret } });
}

describe("precedence: default < file < second file < env < flag", () => {
  // Each row: key, env name, and the value each source gives (as text), then what the config holds.
  const rows = [
    { key: "serve.public.port", values: ["5001", "5002", "5003", "5004"], read: [5001, 5002, 5003, 5004], def: 4444 },
    { key: "dsn", values: ["postgres://f1/db", "postgres://f2/db", "postgres://env/db", "postgres://flag/db"], def: "" },
    { key: "serve.public.cors.enabled", values: ["true", "false", "true", "false"], read: [true, false, true, false], def: false },
    { key: "ttl.access_token", values: ["2h", "3m", "4s", "1h30m"], read: [7_200_000, 180_000, 4000, 5_400_000], def: 3_600_000 },
    { key: "log.level", values: ["debug", "warn", "error", "trace"], def: "info" },
    { key: "serve.admin.socket.mode", values: ["700", "0750", "0o770", "0777"], read: [0o700, 0o750, 0o770, 0o777], def: 0o755 },
    { key: "urls.login", values: ["https://f1.example/l", "https://f2.example/l", "https://env.example/l", "https://flag.example/l"], def: "" },
  ] as const;

  const get = (config: unknown, key: string) => key.split(".").reduce<any>((node, k) => node[k], config);
  /** A YAML file setting key to the value (quoted so YAML treats every value alike). */
  const yamlFor = (key: string, value: string) => {
    const parts = key.split(".");
    return parts.map((p, i) => `${"  ".repeat(i)}${p}:${i === parts.length - 1 ? ` "${value}"` : ""}`).join("\n") + "\n";
  };

  for (const row of rows) {
    test(row.key, () => {
      const expected = (i: number) => ("read" in row ? row.read[i] : row.values[i]);
      const f1 = tmp.write(yamlFor(row.key, row.values[0]));
      const f2 = tmp.write(yamlFor(row.key, row.values[1]));
      const env = { SECRETS_SYSTEM: secret, [envNameOf(row.key)]: row.values[2] };
      const flags = { [row.key]: row.values[3] };

      expect(get(load().config, row.key)).toEqual(row.def);
      expect(load().sources.get(row.key)).toBeUndefined();

      let loaded = load({ files: [f1] });
      expect(get(loaded.config, row.key)).toEqual(expected(0));
      expect(loaded.sources.get(row.key)).toEqual({ kind: "file", file: f1 });

      loaded = load({ files: [f1, f2] });
      expect(get(loaded.config, row.key)).toEqual(expected(1));
      expect(loaded.sources.get(row.key)).toEqual({ kind: "file", file: f2 });
      // Order of -c flags decides, not the file names.
      expect(get(load({ files: [f2, f1] }).config, row.key)).toEqual(expected(0));

      loaded = load({ files: [f1, f2], env });
      expect(get(loaded.config, row.key)).toEqual(expected(2));
      expect(loaded.sources.get(row.key)).toEqual({ kind: "env", name: envNameOf(row.key) });

      loaded = load({ files: [f1, f2], env, flags });
      expect(get(loaded.config, row.key)).toEqual(expected(3));
      expect(loaded.sources.get(row.key)).toEqual({ kind: "flag", name: row.key });
    });
  }

  test("lists: a later source replaces the whole list, it does not append", () => {
    const f1 = tmp.write("secrets:\n  system:\n    - first-file-secret-0001\n    - first-file-secret-0002\n");
    const f2 = tmp.write("secrets:\n  system: [second-file-secret-01]\n");
    expect(load({ files: [f1], env: {} }).config.secrets.system).toEqual(["first-file-secret-0001", "first-file-secret-0002"]);
    expect(load({ files: [f1, f2], env: {} }).config.secrets.system).toEqual(["second-file-secret-01"]);
    const env = { SECRETS_SYSTEM: "env-secret-000000001,env-secret-000000002" };
    expect(load({ files: [f1, f2], env }).config.secrets.system).toEqual(["env-secret-000000001", "env-secret-000000002"]);
    const flags = { "secrets.system": '["flag-secret-00000001"]' };
    expect(load({ files: [f1, f2], env, flags }).config.secrets.system).toEqual(["flag-secret-00000001"]);
  });

  test("a second file overrides only the keys it sets; the first file's others stay", () => {
    const f1 = tmp.write("serve:\n  public:\n    port: 5101\n    host: 127.0.0.1\nlog:\n  level: debug\n");
    const f2 = tmp.write("serve:\n  public:\n    port: 5102\n");
    const { config, sources } = load({ files: [f1, f2] });
    expect(config.serve.public.port).toBe(5102);
    expect(config.serve.public.host).toBe("127.0.0.1");
    expect(config.log.level).toBe("debug");
    expect(sources.get("serve.public.host")).toEqual({ kind: "file", file: f1 });
    expect(sources.get("serve.public.port")).toEqual({ kind: "file", file: f2 });
  });

  test("an empty environment variable counts as unset", () => {
    const f = tmp.write("dsn: postgres://file/db\n");
    const { config } = load({ files: [f], env: { SECRETS_SYSTEM: secret, DSN: "" } });
    expect(config.dsn).toBe("postgres://file/db");
  });
});

describe("environment names", () => {
  const cases: [env: string, value: string, key: string, expected: unknown][] = [
    ["SERVE_PUBLIC_HOST", "127.0.0.1", "serve.public.host", "127.0.0.1"],
    ["SERVE_PUBLIC_PORT", "8080", "serve.public.port", 8080],
    ["SERVE_ADMIN_HOST", "unix:/run/gatehouse/admin.sock", "serve.admin.host", "unix:/run/gatehouse/admin.sock"],
    ["SERVE_ADMIN_PORT", "8081", "serve.admin.port", 8081],
    ["SERVE_PUBLIC_SOCKET_OWNER", "gatehouse", "serve.public.socket.owner", "gatehouse"],
    ["SERVE_PUBLIC_SOCKET_GROUP", "www-data", "serve.public.socket.group", "www-data"],
    ["SERVE_PUBLIC_SOCKET_MODE", "0660", "serve.public.socket.mode", 0o660],
    ["SERVE_ADMIN_SOCKET_OWNER", "root", "serve.admin.socket.owner", "root"],
    ["SERVE_ADMIN_SOCKET_GROUP", "wheel", "serve.admin.socket.group", "wheel"],
    ["SERVE_ADMIN_SOCKET_MODE", "0o700", "serve.admin.socket.mode", 0o700],
    ["SERVE_TLS_CERT_PATH", "/etc/tls/cert.pem", "serve.tls.cert.path", "/etc/tls/cert.pem"],
    ["SERVE_TLS_KEY_PATH", "/etc/tls/key.pem", "serve.tls.key.path", "/etc/tls/key.pem"],
    ["SERVE_TLS_CERT_BASE64", "Y2VydA==", "serve.tls.cert.base64", "Y2VydA=="],
    ["SERVE_TLS_KEY_BASE64", "a2V5", "serve.tls.key.base64", "a2V5"],
    ["SERVE_TLS_ALLOW_TERMINATION_FROM", "10.0.0.0/8,fd00::/8", "serve.tls.allow_termination_from", ["10.0.0.0/8", "fd00::/8"]],
    ["SERVE_PUBLIC_CORS_ENABLED", "true", "serve.public.cors.enabled", true],
    ["SERVE_PUBLIC_CORS_ALLOWED_ORIGINS", "https://a.example, https://b.example", "serve.public.cors.allowed_origins", ["https://a.example", "https://b.example"]],
    ["SERVE_PUBLIC_CORS_ALLOWED_METHODS", '["GET","POST"]', "serve.public.cors.allowed_methods", ["GET", "POST"]],
    ["SERVE_PUBLIC_CORS_ALLOW_CREDENTIALS", "false", "serve.public.cors.allow_credentials", false],
    ["SERVE_PUBLIC_CORS_MAX_AGE", "600", "serve.public.cors.max_age", 600],
    ["SERVE_ADMIN_CORS_ENABLED", "1", "serve.admin.cors.enabled", true],
    ["SERVE_ADMIN_CORS_EXPOSED_HEADERS", "X-A,X-B", "serve.admin.cors.exposed_headers", ["X-A", "X-B"]],
    ["DSN", "postgres://u:p@db:5432/hydra?sslmode=disable", "dsn", "postgres://u:p@db:5432/hydra?sslmode=disable"],
    ["SECRETS_COOKIE", "cookie-secret-0000001", "secrets.cookie", ["cookie-secret-0000001"]],
    ["URLS_SELF_ISSUER", "https://auth.example.com", "urls.self.issuer", "https://auth.example.com/"],
    ["URLS_SELF_PUBLIC", "https://pub.example.com/x", "urls.self.public", "https://pub.example.com/x/"],
    ["URLS_LOGIN", "https://app.example/login", "urls.login", "https://app.example/login"],
    ["URLS_CONSENT", "https://app.example/consent", "urls.consent", "https://app.example/consent"],
    ["URLS_LOGOUT", "https://app.example/logout", "urls.logout", "https://app.example/logout"],
    ["URLS_ERROR", "https://app.example/error", "urls.error", "https://app.example/error"],
    ["URLS_POST_LOGOUT_REDIRECT", "https://app.example/bye", "urls.post_logout_redirect", "https://app.example/bye"],
    ["TTL_LOGIN_CONSENT_REQUEST", "1h", "ttl.login_consent_request", 3_600_000],
    ["TTL_ACCESS_TOKEN", "15m", "ttl.access_token", 900_000],
    ["TTL_REFRESH_TOKEN", "-1", "ttl.refresh_token", -1],
    ["TTL_ID_TOKEN", "2h", "ttl.id_token", 7_200_000],
    ["TTL_AUTH_CODE", "30s", "ttl.auth_code", 30_000],
    ["OAUTH2_EXPOSE_INTERNAL_ERRORS", "true", "oauth2.expose_internal_errors", true],
    ["OAUTH2_PKCE_ENFORCED_FOR_PUBLIC_CLIENTS", "true", "oauth2.pkce.enforced_for_public_clients", true],
    ["OAUTH2_HASHERS_BCRYPT_COST", "12", "oauth2.hashers.bcrypt.cost", 12],
    ["OAUTH2_GRANT_JWT_MAX_TTL", "1h", "oauth2.grant.jwt.max_ttl", 3_600_000],
    ["OAUTH2_ALLOWED_TOP_LEVEL_CLAIMS", "tenant,roles", "oauth2.allowed_top_level_claims", ["tenant", "roles"]],
    ["STRATEGIES_ACCESS_TOKEN", "jwt", "strategies.access_token", "jwt"],
    ["STRATEGIES_SCOPE", "exact", "strategies.scope", "exact"],
    ["OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED", "true", "oidc.dynamic_client_registration.enabled", true],
    ["OIDC_DYNAMIC_CLIENT_REGISTRATION_DEFAULT_SCOPE", "openid", "oidc.dynamic_client_registration.default_scope", ["openid"]],
    ["LOG_LEVEL", "debug", "log.level", "debug"],
    ["LOG_FORMAT", "json", "log.format", "json"],
    ["LOG_LEAK_SENSITIVE_VALUES", "true", "log.leak_sensitive_values", true],
  ];
  const get = (config: unknown, key: string) => key.split(".").reduce<any>((node, k) => node[k], config);

  for (const [name, value, key, expected] of cases) {
    test(`${name} sets ${key}`, () => {
      expect(envNameOf(key)).toBe(name);
      const { config, sources } = load({ env: { SECRETS_SYSTEM: secret, [name]: value } });
      expect(get(config, key)).toEqual(expected);
      expect(sources.get(key)).toEqual({ kind: "env", name });
    });
  }

  test("SECRETS_SYSTEM as CSV (spaces trimmed, empty items dropped) and as a JSON array", () => {
    const csv = load({ env: { SECRETS_SYSTEM: " new-secret-0000000001 , old-secret-0000000002 ,," } });
    expect(csv.config.secrets.system).toEqual(["new-secret-0000000001", "old-secret-0000000002"]);
    // JSON keeps a comma inside a secret.
    const json = load({ env: { SECRETS_SYSTEM: '["with,comma-000000001", "old-secret-0000000002"]' } });
    expect(json.config.secrets.system).toEqual(["with,comma-000000001", "old-secret-0000000002"]);
  });

  test("PUBLIC_HOST and ADMIN_HOST are aliases; the canonical name wins when both are set", () => {
    const alias = load({ env: { SECRETS_SYSTEM: secret, PUBLIC_HOST: "10.1.1.1", ADMIN_HOST: "unix:/run/a.sock" } });
    expect(alias.config.serve.public.host).toBe("10.1.1.1");
    expect(alias.config.serve.admin.host).toBe("unix:/run/a.sock");
    expect(alias.sources.get("serve.public.host")).toEqual({ kind: "env", name: "PUBLIC_HOST" });
    expect(alias.sources.get("serve.admin.host")).toEqual({ kind: "env", name: "ADMIN_HOST" });

    const both = load({
      env: { SECRETS_SYSTEM: secret, PUBLIC_HOST: "10.1.1.1", SERVE_PUBLIC_HOST: "10.2.2.2", SERVE_ADMIN_HOST: "10.3.3.3", ADMIN_HOST: "10.4.4.4" },
    });
    expect(both.config.serve.public.host).toBe("10.2.2.2");
    expect(both.config.serve.admin.host).toBe("10.3.3.3");
    expect(both.sources.get("serve.public.host")).toEqual({ kind: "env", name: "SERVE_PUBLIC_HOST" });

    // An alias still beats a file, and a flag beats the alias.
    const f = tmp.write("serve:\n  public:\n    host: 10.9.9.9\n");
    expect(load({ files: [f], env: { SECRETS_SYSTEM: secret, PUBLIC_HOST: "10.1.1.1" } }).config.serve.public.host).toBe("10.1.1.1");
    expect(
      load({ env: { SECRETS_SYSTEM: secret, PUBLIC_HOST: "10.1.1.1" }, flags: { "serve.public.host": "10.5.5.5" } }).config.serve.public.host,
    ).toBe("10.5.5.5");
  });

  test("Kubernetes service-link variables (ADMIN_PORT=tcp://…) are not read as ports", () => {
    // A Service named "admin" or "public" injects {NAME}_PORT=tcp://ip:port into every pod.
    const { config } = load({ env: { SECRETS_SYSTEM: secret, ADMIN_PORT: "tcp://10.0.0.7:4445", PUBLIC_PORT: "tcp://10.0.0.8:4444" } });
    expect(config.serve.admin.port).toBe(4445);
    expect(config.serve.public.port).toBe(4444);
  });

  test("every config key has its own environment name", () => {
    const leaves: string[] = [];
    const walk = (node: unknown, prefix: string) => {
      if (typeof node === "object" && node !== null && !Array.isArray(node)) {
        for (const [k, v] of Object.entries(node)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else leaves.push(prefix);
    };
    walk(load().config, "");
    expect(leaves.length).toBeGreaterThan(80);
    const names = leaves.map(envNameOf);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("files", () => {
  test("a bad value in a file names the file", () => {
    const f = tmp.write(`secrets:\n  system: ["${secret}"]\nlog:\n  leak_sensitive_values: yes-not-a-bool\n`);
    expect(problemsOf(() => loadConfig({ files: [f] }))).toEqual([
      `log.leak_sensitive_values: expected true or false, got "yes-not-a-bool" (from file ${f})`,
    ]);
  });

  test("YAML: a full file with lists, octal modes, anchors and merge keys", () => {
    const f = tmp.write(
      [
        "version: v1.11.10",
        "dsn: memory",
        "serve:",
        "  public:",
        "    port: 4000",
        "    socket: { mode: 0770 }",
        "    cors: &cors",
        "      enabled: true",
        "      allowed_origins:",
        "        - https://a.example",
        "        - https://b.example",
        "  admin:",
        "    socket: { mode: 0o750 }",
        "    cors:",
        "      <<: *cors",
        "      allowed_origins: [https://admin.example]",
        "secrets:",
        "  system:",
        `    - ${secret}`,
        "urls:",
        "  self:",
        "    issuer: https://auth.example.com/auth",
      ].join("\n"),
    );
    const { config, warnings } = loadConfig({ files: [f] });
    expect(warnings).toEqual([]);
    expect(config.dsn).toBe("memory");
    expect(config.serve.public.port).toBe(4000);
    expect(config.serve.public.socket.mode).toBe(0o770);
    expect(config.serve.admin.socket.mode).toBe(0o750);
    expect(config.serve.public.cors.allowed_origins).toEqual(["https://a.example", "https://b.example"]);
    expect(config.serve.admin.cors.enabled).toBe(true);
    expect(config.serve.admin.cors.allowed_origins).toEqual(["https://admin.example"]);
    expect(config.secrets.system).toEqual([secret]);
    expect(config.urls.self.issuer).toBe("https://auth.example.com/auth/");
  });

  test("YAML anchors are copied: an env override of one use does not leak into the other", () => {
    const f = tmp.write(
      "serve:\n  public:\n    cors: &c\n      enabled: true\n      allowed_origins: [https://a.example]\n  admin:\n    cors: *c\n",
    );
    const { config } = load({ files: [f], env: { SECRETS_SYSTEM: secret, SERVE_PUBLIC_CORS_ENABLED: "false" } });
    expect(config.serve.public.cors.enabled).toBe(false);
    expect(config.serve.admin.cors.enabled).toBe(true);
    expect(config.serve.admin.cors.allowed_origins).toEqual(["https://a.example"]);
  });

  test("JSON files (tab-indented, numbers and booleans) read the same as YAML", () => {
    const f = tmp.write(
      JSON.stringify(
        {
          dsn: "memory",
          serve: { public: { port: 4100, cors: { enabled: true, max_age: 60, allowed_origins: ["https://a.example"] } } },
          secrets: { system: [secret, "second-secret-00000001"] },
          ttl: { refresh_token: -1, access_token: "1h30m" },
          log: { level: "warn", leak_sensitive_values: false },
        },
        null,
        "\t",
      ),
      "json",
    );
    const { config, sources, warnings } = loadConfig({ files: [f] });
    expect(warnings).toEqual([]);
    expect(config.serve.public.port).toBe(4100);
    expect(config.serve.public.cors).toMatchObject({ enabled: true, max_age: 60, allowed_origins: ["https://a.example"] });
    expect(config.secrets.system).toEqual([secret, "second-secret-00000001"]);
    expect(config.ttl.refresh_token).toBe(-1);
    expect(config.ttl.access_token).toBe(5_400_000);
    expect(config.log.level).toBe("warn");
    expect(sources.get("serve.public.port")).toEqual({ kind: "file", file: f });
  });

  test("a YAML file and a JSON file merge, the later one winning", () => {
    const y = tmp.write("serve:\n  public:\n    port: 4200\n    host: 127.0.0.1\n");
    const j = tmp.write('{"serve": {"public": {"port": 4201}}}', "json");
    const { config } = load({ files: [y, j] });
    expect(config.serve.public).toMatchObject({ port: 4201, host: "127.0.0.1" });
  });

  test("empty files, empty sections and null values leave the defaults", () => {
    const empty = tmp.write("");
    const comments = tmp.write("# nothing here yet\n");
    const sections = tmp.write("serve:\n  public:\n    # port: 1234\n  admin:\nurls: ~\ndsn: null\n");
    const { config, warnings } = load({ files: [empty, comments, sections] });
    expect(warnings).toEqual([]);
    expect(config.serve.public.port).toBe(4444);
    expect(config.serve.admin.port).toBe(4445);
    expect(config.dsn).toBe("");
    // A quoted "null" is a string, as YAML says.
    expect(load({ files: [tmp.write('log:\n  redaction_text: "null"\n')] }).config.log.redaction_text).toBe("null");
  });

  test("unreadable, malformed and non-mapping files are errors naming the file", () => {
    const missing = `${tmp.dir}/does-not-exist.yaml`;
    expect(problemsOf(() => load({ files: [missing] }))).toEqual([`config file ${missing}: cannot be read (ENOENT)`]);

    const bad = tmp.write("serve:\n  public: [\n");
    const [badLine, ...rest] = problemsOf(() => load({ files: [bad] }));
    expect(badLine).toStartWith(`config file ${bad}: not valid YAML or JSON:`);
    expect(rest).toEqual([]);

    const dup = tmp.write("dsn: a\ndsn: b\n");
    expect(problemsOf(() => load({ files: [dup] }))[0]).toContain("Map keys must be unique");

    const list = tmp.write("- a\n- b\n");
    expect(problemsOf(() => load({ files: [list] }))).toEqual([`config file ${list}: expected a mapping of keys at the top level`]);
  });

  test("a section given a scalar is an error from that file, not an unknown key", () => {
    const f = tmp.write("serve: 5\n");
    const err = catchConfigError(() => load({ files: [f] }));
    expect(err.problems).toEqual([`serve: expected a mapping of keys, got "5" (from file ${f})`]);
    expect(err.warnings).toEqual([]);
  });
});

function catchConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("errors name the key, the source and what is expected", () => {
  test("a bad port from env, file and flag", () => {
    expect(problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, SERVE_PUBLIC_PORT: "http" } }))).toEqual([
      'serve.public.port: expected an integer from 0 to 65535, got "http" (from env SERVE_PUBLIC_PORT)',
    ]);
    const f = tmp.write("serve:\n  admin:\n    port: 70000\n");
    expect(problemsOf(() => load({ files: [f] }))).toEqual([
      `serve.admin.port: expected an integer from 0 to 65535, got "70000" (from file ${f})`,
    ]);
    expect(problemsOf(() => load({ flags: { "serve.public.port": "-1" } }))).toEqual([
      'serve.public.port: expected an integer from 0 to 65535, got "-1" (from flag serve.public.port)',
    ]);
  });

  test("bad booleans, enums, durations, URLs and lists", () => {
    const env = {
      SECRETS_SYSTEM: secret,
      SERVE_PUBLIC_CORS_ENABLED: "yes",
      LOG_LEVEL: "loud",
      STRATEGIES_ACCESS_TOKEN: "JWT",
      TTL_ACCESS_TOKEN: "1d",
      TTL_ID_TOKEN: "10",
      URLS_LOGIN: "/login",
      URLS_CONSENT: "localhost:3000/consent",
      OAUTH2_HASHERS_BCRYPT_COST: "3",
      SERVE_PUBLIC_CORS_ALLOWED_ORIGINS: '["https://a.example"',
    };
    expect(problemsOf(() => load({ env })).sort()).toEqual(
      [
        'log.level: expected one of panic, fatal, error, warn, info, debug, trace, got "loud" (from env LOG_LEVEL)',
        'oauth2.hashers.bcrypt.cost: expected an integer from 4 to 31, got "3" (from env OAUTH2_HASHERS_BCRYPT_COST)',
        'serve.public.cors.allowed_origins: expected a list of strings (a YAML list, a CSV or a JSON array), got "[\\"https://a.example\\"" (from env SERVE_PUBLIC_CORS_ALLOWED_ORIGINS)',
        'serve.public.cors.enabled: expected true or false, got "yes" (from env SERVE_PUBLIC_CORS_ENABLED)',
        'strategies.access_token: expected one of opaque, jwt, got "JWT" (from env STRATEGIES_ACCESS_TOKEN)',
        'ttl.access_token: expected a duration such as "30s", "10m", "1h" or "1h30m", got "1d" (from env TTL_ACCESS_TOKEN)',
        'ttl.id_token: expected a duration such as "30s", "10m", "1h" or "1h30m", got "10" (from env TTL_ID_TOKEN)',
        'urls.consent: expected an absolute http(s) URL, got "localhost:3000/consent" (from env URLS_CONSENT)',
        'urls.login: expected an absolute http(s) URL, got "/login" (from env URLS_LOGIN)',
      ].sort(),
    );
  });

  test("secret values are never echoed in error messages", () => {
    const leaked = "super-secret-value-123456";
    const problems = problemsOf(() =>
      loadConfig({ env: { SECRETS_SYSTEM: `["${leaked}"`, SECRETS_COOKIE: "short", DSN: "" }, files: [tmp.write(`dsn:\n  - postgres://u:${leaked}@h/db\n`)] }),
    );
    expect(problems.join("\n")).not.toContain(leaked);
    expect(problems.join("\n")).not.toContain("short");
    expect(problems).toContainEqual(
      "secrets.system: expected a list of strings (a YAML list, a CSV or a JSON array), got (a secret, not shown) (from env SECRETS_SYSTEM)",
    );
    expect(problems).toContainEqual("secrets.cookie[0]: expected at least 16 characters, got 5 (from env SECRETS_COOKIE)");
    expect(problems.some((p) => p.startsWith("dsn: expected a string, got (a secret, not shown) (from file "))).toBe(true);
  });

  test("every problem is reported at once, type errors and cross-key rules alike", () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { SERVE_PUBLIC_PORT: "x", URLS_SELF_ISSUER: "http://auth.example.com", LOG_FORMAT: "xml" } }),
    );
    expect(problems).toHaveLength(4);
    expect(problems).toContain('serve.public.port: expected an integer from 0 to 65535, got "x" (from env SERVE_PUBLIC_PORT)');
    expect(problems).toContain('log.format: expected one of text, json, json_pretty, got "xml" (from env LOG_FORMAT)');
    expect(problems.some((p) => p.startsWith("secrets.system: required"))).toBe(true);
    expect(problems.some((p) => p.startsWith("urls.self.issuer: expected an https URL"))).toBe(true);
  });

  test("the message of a ConfigError has one line per problem", () => {
    const err = catchConfigError(() => loadConfig({ env: { SERVE_PUBLIC_PORT: "x" } }));
    const lines = err.message.split("\n");
    expect(lines[0]).toBe("invalid configuration:");
    expect(lines).toContain('  - serve.public.port: expected an integer from 0 to 65535, got "x" (from env SERVE_PUBLIC_PORT)');
    expect(lines.filter((l) => l.startsWith("  - "))).toHaveLength(err.problems.length);
  });

  test("an unknown key in --set is an error", () => {
    expect(problemsOf(() => load({ flags: { "serve.public.prot": "1" } }))).toEqual([
      'flag sets unknown config key "serve.public.prot"',
    ]);
  });
});

describe("socket.mode is read as chmod reads it", () => {
  for (const [written, mode] of [
    ["770", 0o770],
    ["0770", 0o770],
    ["0o770", 0o770],
    ["0O770", 0o770],
    ["755", 0o755],
    ["0", 0],
    ["0777", 0o777],
    ["600", 0o600],
  ] as const) {
    test(`${written} → 0${mode.toString(8)} from YAML, env and flag`, () => {
      const f = tmp.write(`serve:\n  public:\n    socket:\n      mode: ${written}\n`);
      expect(load({ files: [f] }).config.serve.public.socket.mode).toBe(mode);
      expect(load({ env: { SECRETS_SYSTEM: secret, SERVE_PUBLIC_SOCKET_MODE: written } }).config.serve.public.socket.mode).toBe(mode);
      expect(load({ flags: { "serve.public.socket.mode": written } }).config.serve.public.socket.mode).toBe(mode);
    });
  }

  test("the default is 0755", () => {
    expect(load().config.serve.public.socket.mode).toBe(0o755);
    expect(load().config.serve.admin.socket.mode).toBe(0o755);
  });

  test("Hydra's decimal 493 is refused with the octal spelling to use", () => {
    const f = tmp.write("serve:\n  admin:\n    socket:\n      mode: 493\n");
    expect(problemsOf(() => load({ files: [f] }))).toEqual([
      `serve.admin.socket.mode: expected an octal file mode such as 770, 0770 or 0o770 (digits 0-7, at most 0777), got "493" (if 493 is meant as a decimal number, write it as 0755) (from file ${f})`,
    ]);
  });

  test("a digit 8 or 9, a mode above 0777 and non-numbers are errors", () => {
    for (const bad of ["0780", "1777", "0o1000", "rwxr-x---", "0x1ed", "-1", "77777"]) {
      const [problem, ...rest] = problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, SERVE_PUBLIC_SOCKET_MODE: bad } }));
      expect(rest).toEqual([]);
      expect(problem).toStartWith(
        `serve.public.socket.mode: expected an octal file mode such as 770, 0770 or 0o770 (digits 0-7, at most 0777), got ${JSON.stringify(bad)}`,
      );
      expect(problem).toEndWith("(from env SERVE_PUBLIC_SOCKET_MODE)");
    }
  });
});

describe("durations (Go syntax, milliseconds)", () => {
  for (const [text, ms] of [
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    ["2h45m30s", 9_930_000],
    ["1m30s", 90_000],
    ["0", 0],
    ["0s", 0],
    ["1000us", 1],
    ["720h", 2_592_000_000],
  ] as const) {
    test(`${text} = ${ms} ms`, () => {
      expect(load({ env: { SECRETS_SYSTEM: secret, TTL_AUTH_CODE: text } }).config.ttl.auth_code).toBe(ms);
    });
  }

  test("defaults are Hydra's", () => {
    expect(load().config.ttl).toEqual({
      login_consent_request: 1_800_000,
      access_token: 3_600_000,
      refresh_token: 720 * 3_600_000,
      id_token: 3_600_000,
      auth_code: 600_000,
    });
  });

  test("ttl.refresh_token -1 means never, from YAML, JSON, env and flag; -1 elsewhere is an error", () => {
    expect(load({ files: [tmp.write("ttl:\n  refresh_token: -1\n")] }).config.ttl.refresh_token).toBe(-1);
    expect(load({ files: [tmp.write('{"ttl": {"refresh_token": "-1"}}', "json")] }).config.ttl.refresh_token).toBe(-1);
    expect(load({ env: { SECRETS_SYSTEM: secret, TTL_REFRESH_TOKEN: "-1" } }).config.ttl.refresh_token).toBe(-1);
    expect(load({ flags: { "ttl.refresh_token": "-1" } }).config.ttl.refresh_token).toBe(-1);
    expect(problemsOf(() => load({ flags: { "ttl.access_token": "-1" } }))).toEqual([
      'ttl.access_token: expected a duration such as "30s", "10m", "1h" or "1h30m", got "-1" (from flag ttl.access_token)',
    ]);
    expect(problemsOf(() => load({ flags: { "ttl.refresh_token": "-2h" } }))[0]).toStartWith(
      'ttl.refresh_token: expected a duration such as "720h", or -1 for never, got "-2h"',
    );
  });

  test("durations beyond Go's range (about 292 years) are errors", () => {
    expect(problemsOf(() => load({ flags: { "ttl.access_token": "3000000h" } }))[0]).toStartWith("ttl.access_token: expected a duration");
  });
});

describe("secrets.system", () => {
  test("required outside --dev", () => {
    expect(problemsOf(() => loadConfig({ env: {} }))).toEqual([
      "secrets.system: required, a list of secrets of at least 16 characters (set SECRETS_SYSTEM or secrets.system in the config file, or pass --dev)",
    ]);
  });

  test("each secret needs at least 16 characters; the index and source are named, the secret is not", () => {
    const f = tmp.write(`secrets:\n  system:\n    - ${secret}\n    - tooshort\n`);
    expect(problemsOf(() => loadConfig({ files: [f] }))).toEqual([
      `secrets.system[1]: expected at least 16 characters, got 8 (from file ${f})`,
    ]);
    expect(load({ env: { SECRETS_SYSTEM: "exactly-16-chars" } }).config.secrets.system).toEqual(["exactly-16-chars"]);
  });

  test("--dev with a database elsewhere: a random secret per process, with a loud warning", () => {
    const a = loadConfig({ env: { DSN: "memory" }, mode: { dev: true } });
    const b = loadConfig({ env: { DSN: "memory" }, mode: { dev: true } });
    expect(a.config.secrets.system).toHaveLength(1);
    expect(a.config.secrets.system[0]!.length).toBeGreaterThanOrEqual(32);
    expect(a.config.secrets.system[0]).not.toBe(b.config.secrets.system[0]);
    expect(a.warnings.some((w) => w.includes("secrets.system is not set") && w.includes("Never run like this in production"))).toBe(true);
    // The generated secret is not logged.
    expect(a.warnings.join("\n")).not.toContain(a.config.secrets.system[0]!);
    // A configured secret is kept, with no warning.
    const c = loadConfig({ env: { SECRETS_SYSTEM: secret }, mode: { dev: true } });
    expect(c.config.secrets.system).toEqual([secret]);
    expect(c.warnings).toEqual([]);
  });

  test("--dev with the embedded database keeps its generated secret in the data directory (0600), so restarts can read it", () => {
    const dataDir = `${tmp.dir}/dev-data`;
    const env = { DATABASE_EMBEDDED_DATA_DIR: dataDir };
    const first = loadConfig({ env, mode: { dev: true } });
    const secretFile = `${dataDir}/dev-secret`;
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(secretFile, "utf8").trim()).toBe(first.config.secrets.system[0]!);
    expect(first.warnings.join("\n")).toContain(`--dev generated a random one kept in ${secretFile}`);
    const second = loadConfig({ env, mode: { dev: true } });
    expect(second.config.secrets.system).toEqual(first.config.secrets.system);
    expect(second.warnings.join("\n")).toContain(`--dev reuses a random one kept in ${secretFile}`);
    expect(second.warnings.join("\n")).not.toContain(first.config.secrets.system[0]!);
  });
});

describe("urls.self.issuer", () => {
  test("https is required unless --dangerous-force-http or --dev", () => {
    const env = { SECRETS_SYSTEM: secret, URLS_SELF_ISSUER: "http://auth.example.com" };
    expect(problemsOf(() => loadConfig({ env }))).toEqual([
      'urls.self.issuer: expected an https URL, got "http://auth.example.com" (from env URLS_SELF_ISSUER); plain http is only allowed with --dangerous-force-http or --dev',
    ]);
    expect(loadConfig({ env, mode: { forceHttp: true } }).config.urls.self.issuer).toBe("http://auth.example.com/");
    expect(loadConfig({ env, mode: { dev: true } }).config.urls.self.issuer).toBe("http://auth.example.com/");
  });

  test("a trailing slash is forced; a path is kept", () => {
    const issuer = (value: string) => load({ env: { SECRETS_SYSTEM: secret, URLS_SELF_ISSUER: value } }).config.urls.self;
    expect(issuer("https://example.com")).toEqual({ issuer: "https://example.com/", public: "https://example.com/" });
    expect(issuer("https://example.com/auth/").issuer).toBe("https://example.com/auth/");
    expect(issuer("https://example.com/auth").issuer).toBe("https://example.com/auth/");
    expect(issuer(" https://example.com:8443/a/b ").issuer).toBe("https://example.com:8443/a/b/");
  });

  test("urls.self.public defaults to the issuer, and may differ", () => {
    const { config } = load({ env: { SECRETS_SYSTEM: secret, URLS_SELF_ISSUER: "https://a.example/x", URLS_SELF_PUBLIC: "https://b.example" } });
    expect(config.urls.self).toEqual({ issuer: "https://a.example/x/", public: "https://b.example/" });
  });

  test("without an issuer: localhost on the public port", () => {
    expect(load({ flags: { "serve.public.port": "9000" } }).config.urls.self.issuer).toBe("https://localhost:9000/");
    expect(load({ mode: { forceHttp: true } }).config.urls.self.issuer).toBe("http://localhost:4444/");
  });

  test("query, fragment and non-http schemes are errors, even with force-http", () => {
    const mode = { forceHttp: true };
    expect(problemsOf(() => load({ flags: { "urls.self.issuer": "https://a.example/?x=1" }, mode }))).toEqual([
      'urls.self.issuer: must not have a query or fragment, got "https://a.example/?x=1" (from flag urls.self.issuer)',
    ]);
    expect(problemsOf(() => load({ flags: { "urls.self.issuer": "ftp://a.example/" }, mode }))).toEqual([
      'urls.self.issuer: expected an absolute http(s) URL, got "ftp://a.example/" (from flag urls.self.issuer)',
    ]);
  });
});

describe("serve.tls.allow_termination_from", () => {
  test("IPv4 and IPv6 CIDRs are accepted", () => {
    const ranges = ["10.0.0.0/8", "192.168.1.0/24", "127.0.0.1/32", "fd00::/8", "::/0", "::1/128", "2001:db8::/32", "::ffff:10.0.0.0/104"];
    const { config } = load({ env: { SECRETS_SYSTEM: secret, SERVE_TLS_ALLOW_TERMINATION_FROM: ranges.join(",") } });
    expect(config.serve.tls.allow_termination_from).toEqual(ranges);
  });

  test("0.0.0.0/0 and 0.0.0.0/8 are accepted (the address 0.0.0.0 is a valid base)", () => {
    const { config } = load({ env: { SECRETS_SYSTEM: secret, SERVE_TLS_ALLOW_TERMINATION_FROM: "0.0.0.0/0,0.0.0.0/8" } });
    expect(config.serve.tls.allow_termination_from).toEqual(["0.0.0.0/0", "0.0.0.0/8"]);
  });

  test("bad ranges are errors, one per range, with the source", () => {
    const f = tmp.write("serve:\n  tls:\n    allow_termination_from:\n      - 10.0.0.0/8\n      - 10.0.0.0\n      - 300.1.1.1/8\n      - fd00::/129\n      - 10.0.0.0/33\n      - example.com/8\n");
    expect(problemsOf(() => load({ files: [f] }))).toEqual(
      ["10.0.0.0", "300.1.1.1/8", "fd00::/129", "10.0.0.0/33", "example.com/8"].map(
        (cidr) => `serve.tls.allow_termination_from: expected CIDR ranges such as 10.0.0.0/8 or fd00::/8, got "${cidr}" (from file ${f})`,
      ),
    );
  });

  test("per-listener ranges are checked too", () => {
    expect(problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, SERVE_ADMIN_TLS_ALLOW_TERMINATION_FROM: "fe80::/10,nope" } }))).toEqual([
      'serve.admin.tls.allow_termination_from: expected CIDR ranges such as 10.0.0.0/8 or fd00::/8, got "nope" (from env SERVE_ADMIN_TLS_ALLOW_TERMINATION_FROM)',
    ]);
  });
});

describe("other cross-key rules", () => {
  test("a unix socket host needs an absolute path", () => {
    expect(problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, SERVE_ADMIN_HOST: "unix:admin.sock" } }))).toEqual([
      'serve.admin.host: a Unix socket needs an absolute path (unix:/abs/path), got "unix:admin.sock" (from env SERVE_ADMIN_HOST)',
    ]);
  });

  test("pairwise subjects need a salt; unknown subject types are errors", () => {
    const f = tmp.write("oidc:\n  subject_identifiers:\n    supported_types: [public, pairwise]\n");
    expect(problemsOf(() => load({ files: [f] }))).toEqual([
      `oidc.subject_identifiers.pairwise.salt: required when pairwise subject identifiers are supported (supported_types from file ${f})`,
    ]);
    expect(problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES: "public,email" } }))).toEqual([
      'oidc.subject_identifiers.supported_types: expected "public" and/or "pairwise", got ["public","email"] (from env OIDC_SUBJECT_IDENTIFIERS_SUPPORTED_TYPES)',
    ]);
  });
});

describe("unknown keys", () => {
  test("are reported as warnings with the file and the full key", () => {
    const f = tmp.write(
      ["serve:", "  public:", "    prot: 4444", "    cors:", "      allowed_origin: [x]", "sevre:", "  admin: {}", "urls:", "  self:", "    issuer: https://a.example/", "    isuser: x"].join("\n"),
    );
    const { warnings, config } = load({ files: [f] });
    expect([...warnings].sort()).toEqual(
      [
        `config file ${f}: unknown key "serve.public.prot" is ignored`,
        `config file ${f}: unknown key "serve.public.cors.allowed_origin" is ignored`,
        `config file ${f}: unknown key "sevre" is ignored`,
        `config file ${f}: unknown key "urls.self.isuser" is ignored`,
      ].sort(),
    );
    expect(config.serve.public.port).toBe(4444);
    expect(config.urls.self.issuer).toBe("https://a.example/");
  });

  test("a key under a leaf (a scalar written as a section) is an error, not silently dropped", () => {
    const f = tmp.write("log:\n  level:\n    value: debug\n");
    expect(problemsOf(() => load({ files: [f] }))).toEqual([
      `log.level: expected one of panic, fatal, error, warn, info, debug, trace, got {"value":"debug"} (from file ${f})`,
    ]);
  });

  test("Hydra keys Gatehouse does not act on are named as unsupported", () => {
    const f = tmp.write("tracing:\n  provider: jaeger\nsqa:\n  opt_out: true\n");
    expect(load({ files: [f] }).warnings).toEqual([
      'config key "tracing" is not supported by Gatehouse and is ignored',
      'config key "sqa" is not supported by Gatehouse and is ignored',
    ]);
  });

  test("warnings travel with the error when the config is invalid (a typo often explains the error)", () => {
    const f = tmp.write("secrets:\n  sytem: [0123456789abcdef]\n");
    const err = catchConfigError(() => loadConfig({ files: [f] }));
    expect(err.problems[0]).toStartWith("secrets.system: required");
    expect(err.warnings).toEqual([`config file ${f}: unknown key "secrets.sytem" is ignored`]);
    expect(err.message).toContain(`warning: config file ${f}: unknown key "secrets.sytem" is ignored`);
  });

  test("unrelated environment variables are not warned about", () => {
    expect(load({ env: { SECRETS_SYSTEM: secret, HOME: "/root", PATH: "/bin", SERVE_PUBLIC_PROT: "1" } }).warnings).toEqual([]);
  });
});

describe("the result is frozen", () => {
  test("config, nested sections, lists, mode and warnings cannot be changed", () => {
    const loaded = load({ mode: { dev: true, insecureRedirectUrls: ["http://app.example/cb"] } });
    const { config } = loaded;
    expect(Object.isFrozen(loaded)).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.serve.public.cors)).toBe(true);
    expect(Object.isFrozen(config.secrets.system)).toBe(true);
    expect(Object.isFrozen(loaded.mode)).toBe(true);
    expect(Object.isFrozen(loaded.mode.insecureRedirectUrls)).toBe(true);
    expect(Object.isFrozen(loaded.warnings)).toBe(true);
    expect(() => {
      (config.serve.public as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => config.secrets.system.push("x")).toThrow(TypeError);
    expect(() => {
      (loaded.mode as { forceHttp: boolean }).forceHttp = true;
    }).toThrow(TypeError);
    expect(config.serve.public.port).toBe(4444);
  });

  test("defaults are not shared between loads", () => {
    const a = load();
    const b = load();
    expect(a.config.serve.public.cors.allowed_origins).not.toBe(b.config.serve.public.cors.allowed_origins);
    expect(a.config.serve.public.cors.allowed_origins).toEqual(["*"]);
  });
});

describe("oauth2.token_prefix (Gatehouse)", () => {
  test("defaults are gth_ prefixes; empty is allowed (Hydra's bare tokens)", () => {
    expect(load().config.oauth2.token_prefix).toEqual({
      access_token: "gth_at_",
      refresh_token: "gth_rt_",
      authorize_code: "gth_ac_",
      registration_access_token: "gth_rat_",
    });
    const { config } = load({ env: { SECRETS_SYSTEM: secret, OAUTH2_TOKEN_PREFIX_ACCESS_TOKEN: "acme_at_" }, flags: { "oauth2.token_prefix.refresh_token": "" } });
    expect(config.oauth2.token_prefix.access_token).toBe("acme_at_");
    expect(config.oauth2.token_prefix.refresh_token).toBe("");
  });

  test("registration_access_token (DCR): default gth_rat_, set by env or flag like the others", () => {
    expect(load({ env: { SECRETS_SYSTEM: secret, OAUTH2_TOKEN_PREFIX_REGISTRATION_ACCESS_TOKEN: "acme_rat_" } }).config.oauth2.token_prefix.registration_access_token).toBe("acme_rat_");
    expect(load({ flags: { "oauth2.token_prefix.registration_access_token": "" } }).config.oauth2.token_prefix.registration_access_token).toBe("");
    expect(problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, OAUTH2_TOKEN_PREFIX_REGISTRATION_ACCESS_TOKEN: "rat/" } }))).toEqual([
      'oauth2.token_prefix.registration_access_token: expected up to 32 characters from A-Z a-z 0-9 _ -, got "rat/" (from env OAUTH2_TOKEN_PREFIX_REGISTRATION_ACCESS_TOKEN)',
    ]);
  });

  test("characters that do not belong in a token are refused, naming the source", () => {
    expect(problemsOf(() => load({ env: { SECRETS_SYSTEM: secret, OAUTH2_TOKEN_PREFIX_ACCESS_TOKEN: "a b." } }))).toEqual([
      'oauth2.token_prefix.access_token: expected up to 32 characters from A-Z a-z 0-9 _ -, got "a b." (from env OAUTH2_TOKEN_PREFIX_ACCESS_TOKEN)',
    ]);
  });
});

test("secretsOptional (migrate): no secrets.system is fine, but a short one is still refused", () => {
  expect(loadConfig({ env: {}, secretsOptional: true }).config.secrets.system).toEqual([]);
  expect(problemsOf(() => loadConfig({ env: { SECRETS_SYSTEM: "short" }, secretsOptional: true }))).toEqual([
    expect.stringContaining("secrets.system[0]: expected at least 16 characters, got 5"),
  ]);
  expect(problemsOf(() => loadConfig({ env: {} }))).toEqual([expect.stringContaining("secrets.system: required")]);
});

describe("example_app.enabled (Gatehouse)", () => {
  const env = { SECRETS_SYSTEM: secret, URLS_SELF_ISSUER: "https://auth.example.com/base" };

  test("off by default: the login, consent and logout URLs stay unset (the fallback pages)", () => {
    const { config } = load({ env });
    expect(config.example_app.enabled).toBe(false);
    expect([config.urls.login, config.urls.consent, config.urls.logout]).toEqual(["", "", ""]);
  });

  test("on: it answers for the URLs that are not set, under urls.self.public", () => {
    const { config } = load({ env: { ...env, EXAMPLE_APP_ENABLED: "true", URLS_CONSENT: "https://consent.example.com/c" } });
    expect(config.example_app.enabled).toBe(true);
    expect(config.urls.login).toBe("https://auth.example.com/base/example/login");
    expect(config.urls.consent).toBe("https://consent.example.com/c");
    expect(config.urls.logout).toBe("https://auth.example.com/base/example/logout");
    // Outside --dev it is loud: the demo user logs anyone in.
    expect(load({ env: { ...env, EXAMPLE_APP_ENABLED: "true" } }).warnings).toEqual([
      "example_app.enabled is on (from env EXAMPLE_APP_ENABLED): anyone can log in as the demo user foo@bar.com / foobar. Never run like this in production.",
    ]);
    expect(loadConfig({ env, mode: { dev: true } }).warnings).toEqual([]);
    const behindProxy = load({ env: { ...env, URLS_SELF_PUBLIC: "https://public.example.com/" }, flags: { "example_app.enabled": "true" } });
    expect(behindProxy.config.urls.login).toBe("https://public.example.com/example/login");
  });

  test("--dev turns it on unless the key is set; set to false it stays off", () => {
    const dev = loadConfig({ env, mode: { dev: true } });
    expect(dev.config.example_app.enabled).toBe(true);
    expect(dev.config.urls.login).toBe("https://auth.example.com/base/example/login");
    const off = tmp.write("example_app:\n  enabled: false\n");
    const devOff = loadConfig({ env, files: [off], mode: { dev: true } });
    expect(devOff.config.example_app.enabled).toBe(false);
    expect(devOff.config.urls.login).toBe("");
    expect(loadConfig({ env: { ...env, EXAMPLE_APP_ENABLED: "false" }, mode: { dev: true } }).config.example_app.enabled).toBe(false);
  });

  test("a value that is not a boolean is refused, naming the source", () => {
    expect(problemsOf(() => load({ env: { ...env, EXAMPLE_APP_ENABLED: "yes please" } }))).toEqual([
      'example_app.enabled: expected true or false, got "yes please" (from env EXAMPLE_APP_ENABLED)',
    ]);
  });
});

describe("serve.request_body_limit", () => {
  test("defaults to 1 MiB; set by env and flag; below 1 KiB or not a number is an error naming the key", () => {
    expect(load().config.serve.request_body_limit).toBe(1024 * 1024);
    expect(load({ env: { SECRETS_SYSTEM: secret, SERVE_REQUEST_BODY_LIMIT: "65536" } }).config.serve.request_body_limit).toBe(65536);
    expect(load({ flags: { "serve.request_body_limit": "2048" } }).config.serve.request_body_limit).toBe(2048);
    for (const bad of ["10", "1MB", "-5"]) {
      const [problem] = problemsOf(() => load({ flags: { "serve.request_body_limit": bad } }));
      expect(problem).toStartWith("serve.request_body_limit: expected an integer from 1024 to");
    }
  });
});

describe("serve.idle_timeout", () => {
  test("defaults to 10 s (Bun's); set by env and flag; over 255 s or not a duration is an error naming the key", () => {
    expect(load().config.serve.idle_timeout).toBe(10_000);
    expect(load({ env: { SECRETS_SYSTEM: secret, SERVE_IDLE_TIMEOUT: "30s" } }).config.serve.idle_timeout).toBe(30_000);
    expect(load({ flags: { "serve.idle_timeout": "0s" } }).config.serve.idle_timeout).toBe(0);
    for (const bad of ["300s", "soon", "-1s"]) {
      const [problem] = problemsOf(() => load({ flags: { "serve.idle_timeout": bad } }));
      expect(problem).toStartWith('serve.idle_timeout: expected a duration from "0s" to "255s"');
    }
  });
});

describe("clients.http (Hydra v2's SSRF keys)", () => {
  test("private ranges are refused by default; the switch and the exception list come from env and flags", () => {
    expect(load().config.clients.http).toEqual({ disallow_private_ip_ranges: true, private_ip_exception_urls: [] });
    const fromEnv = load({ env: { SECRETS_SYSTEM: secret, CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES: "false", CLIENTS_HTTP_PRIVATE_IP_EXCEPTION_URLS: "http://10.0.0.1/jwks,http://127.0.0.1:8080/sector.json" } });
    expect(fromEnv.config.clients.http).toEqual({ disallow_private_ip_ranges: false, private_ip_exception_urls: ["http://10.0.0.1/jwks", "http://127.0.0.1:8080/sector.json"] });
    const [problem] = problemsOf(() => load({ flags: { "clients.http.disallow_private_ip_ranges": "maybe" } }));
    expect(problem).toStartWith("clients.http.disallow_private_ip_ranges: expected true or false");
  });

  test("--dev allows private ranges (its relying parties are on this machine) unless the key is set", () => {
    expect(load({ mode: { dev: true } }).config.clients.http.disallow_private_ip_ranges).toBe(false);
    const on = load({ env: { SECRETS_SYSTEM: secret, CLIENTS_HTTP_DISALLOW_PRIVATE_IP_RANGES: "true" }, mode: { dev: true } });
    expect(on.config.clients.http.disallow_private_ip_ranges).toBe(true);
  });
});
