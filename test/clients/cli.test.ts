import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { authenticateClientSecret } from "../../src/clients/secrets.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { fastHashing } from "./backends.ts";

const root = resolve(import.meta.dir, "../..");
const bun = join(root, "node_modules/.bin/bun");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (`bun src/main.ts clients …`) in a child process, with a time limit. */
async function gatehouse(args: string[], env: Record<string, string> = {}, stdin?: string): Promise<Run> {
  const proc = Bun.spawn([bun, "src/main.ts", "clients", ...args], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(), 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

const ok = (run: Run) => {
  if (run.code !== 0) throw new Error(`CLI exited ${run.code}: ${run.stderr}`);
  return run;
};

let dir: string;
let pg: TestDatabase;
let tcp: TestServer;
let unix: TestServer;
let socket: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gh-cli-"));
  pg = await createTestDatabase("clients_cli");
  await (await openMigrated(pg.dsn)).close();
  tcp = await startTestServer({ dsn: pg.dsn, config: fastHashing });
  socket = join(dir, "admin.sock");
  unix = await startTestServer({ dsn: "memory", config: { ...fastHashing, serve: { admin: { host: `unix:${socket}` } } } });
});

afterAll(async () => {
  await tcp?.stop();
  await unix?.stop();
  await pg?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("gatehouse clients over TCP (--endpoint http://…)", () => {
  const endpoint = () => ["--endpoint", tcp.adminUrl];

  test("create with Hydra's flags prints the API's JSON, secret included", async () => {
    const run = ok(
      await gatehouse([
        "create",
        ...endpoint(),
        "--id",
        "cli-1",
        "-n",
        "CLI app",
        "-c",
        "https://cli.example/cb",
        "--callbacks",
        "https://cli.example/cb2,https://cli.example/cb3",
        "-g",
        "authorization_code,refresh_token",
        "-r",
        "code",
        "-r",
        "id_token code",
        "-a",
        "openid,offline",
        "--audience",
        "https://api.example",
        "--allowed-cors-origins",
        "https://cli.example",
        "--post-logout-callbacks",
        "https://cli.example/bye",
        "--frontchannel-logout-callback",
        "https://cli.example/front",
        "--frontchannel-logout-session-required",
        "--backchannel-logout-callback",
        "https://cli.example/back",
        "--policy-uri",
        "https://cli.example/policy",
        "--tos-uri",
        "https://cli.example/tos",
        "--client-uri",
        "https://cli.example",
        "--logo-uri",
        "https://cli.example/logo.png",
      ]),
    );
    const body = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({
      client_id: "cli-1",
      client_name: "CLI app",
      redirect_uris: ["https://cli.example/cb", "https://cli.example/cb2", "https://cli.example/cb3"],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code", "id_token code"],
      scope: "openid offline",
      audience: ["https://api.example"],
      allowed_cors_origins: ["https://cli.example"],
      post_logout_redirect_uris: ["https://cli.example/bye"],
      frontchannel_logout_uri: "https://cli.example/front",
      frontchannel_logout_session_required: true,
      backchannel_logout_uri: "https://cli.example/back",
      policy_uri: "https://cli.example/policy",
      token_endpoint_auth_method: "client_secret_basic",
      subject_type: "public",
    });
    expect(body).not.toContainKey("backchannel_logout_session_required");
    expect(body.client_secret).toMatch(/^[A-Za-z0-9._~-]{32}$/);
    expect(await authenticateClientSecret(tcp.deps, "cli-1", body.client_secret as string)).toBeDefined();
    // Exactly what GET returns, apart from the one-time secret and the null→[] lists.
    const got = (await (await tcp.adminFetch("/clients/cli-1")).json()) as Record<string, unknown>;
    const { client_secret: _s, ...rest } = body;
    expect(rest.contacts).toBeNull();
    expect({ ...rest, contacts: [] as string[] } as Record<string, unknown>).toEqual(got);
  });

  test("--secret is sent (with Hydra's warning on stderr); get and list print the API's JSON", async () => {
    const run = ok(await gatehouse(["create", ...endpoint(), "--id", "cli-2", "--secret", "cli-secret-2", "-n", "second"]));
    expect(run.stderr).toContain("You should not provide secrets using command line flags");
    expect(JSON.parse(run.stdout).client_secret).toBe("cli-secret-2");

    const get = ok(await gatehouse(["get", ...endpoint(), "cli-2"]));
    expect(JSON.parse(get.stdout)).toEqual(await (await tcp.adminFetch("/clients/cli-2")).json());

    const list = ok(await gatehouse(["list", ...endpoint(), "--limit", "1", "--page", "2"]));
    expect(JSON.parse(list.stdout)).toEqual(await (await tcp.adminFetch("/clients?limit=1&offset=1")).json());
    expect((JSON.parse(list.stdout) as { client_id: string }[]).map((c) => c.client_id)).toEqual(["cli-2"]);

    const table = ok(await gatehouse(["list", ...endpoint(), "--format", "table"]));
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^CLIENT_ID\s+CLIENT_NAME\s+RESPONSE_TYPES\s+SCOPE\s+REDIRECT_URIS\s+GRANT_TYPES\s+TOKEN_ENDPOINT_AUTH_METHOD$/);
    expect(lines.some((l) => /^cli-2\s+second\s+code\s+/.test(l))).toBe(true);
  });

  test("update replaces the client from flags and keeps the secret unless --secret is given", async () => {
    ok(await gatehouse(["create", ...endpoint(), "--id", "cli-3", "--secret", "cli-secret-3", "-a", "openid"]));
    const run = ok(await gatehouse(["update", ...endpoint(), "cli-3", "-n", "renamed", "-g", "client_credentials", "-r", "token"]));
    const body = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(body).toMatchObject({ client_id: "cli-3", client_name: "renamed", grant_types: ["client_credentials"], response_types: ["token"] });
    expect(body).not.toContainKey("client_secret");
    // Hydra's update sends every flag: no -a means the default scope.
    expect(body.scope).toBe("offline_access offline openid");
    expect(await authenticateClientSecret(tcp.deps, "cli-3", "cli-secret-3")).toBeDefined();

    const rotated = JSON.parse(ok(await gatehouse(["update", ...endpoint(), "cli-3", "--secret", "cli-secret-3b"])).stdout);
    expect(rotated.client_secret).toBe("cli-secret-3b");
    expect(await authenticateClientSecret(tcp.deps, "cli-3", "cli-secret-3")).toBeUndefined();
  });

  test("delete takes several ids and prints each; deleting again fails with the API's error", async () => {
    ok(await gatehouse(["create", ...endpoint(), "--id", "cli-4a"]));
    ok(await gatehouse(["create", ...endpoint(), "--id", "cli-4b"]));
    const run = ok(await gatehouse(["delete", ...endpoint(), "cli-4a", "cli-4b"]));
    expect(run.stdout).toBe("cli-4a\ncli-4b\n");
    expect((await tcp.adminFetch("/clients/cli-4a")).status).toBe(404);
    const again = await gatehouse(["delete", ...endpoint(), "cli-4a"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("gatehouse: the admin API answered 404: Not Found: Unable to locate the requested resource\n");
  });

  test("import reads OAuth2Client JSON files (object or array) and stdin", async () => {
    const one = join(dir, "one.json");
    const many = join(dir, "many.json");
    writeFileSync(one, JSON.stringify({ client_id: "imp-1", client_secret: "imported-secret", redirect_uris: ["https://imp.example/cb"] }));
    writeFileSync(many, JSON.stringify([{ client_id: "imp-2", token_endpoint_auth_method: "none" }, { client_id: "imp-3" }]));
    const run = ok(await gatehouse(["import", ...endpoint(), one, many]));
    const created = JSON.parse(run.stdout) as Record<string, unknown>[];
    expect(created.map((c) => c.client_id)).toEqual(["imp-1", "imp-2", "imp-3"]);
    expect(created[0]!.client_secret).toBe("imported-secret");
    expect(created[1]).not.toContainKey("client_secret");
    expect(created[2]!.client_secret).toMatch(/^[A-Za-z0-9._~-]{32}$/);

    const stdin = ok(await gatehouse(["import", ...endpoint(), "-"], {}, JSON.stringify({ client_id: "imp-4" })));
    expect((JSON.parse(stdin.stdout) as { client_id: string }[])[0]!.client_id).toBe("imp-4");

    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ client_id: "imp-5", redirect_uris: ["relative"] }));
    const failed = await gatehouse(["import", ...endpoint(), bad]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("the admin API answered 400: invalid_redirect_uri");
  });

  test("the endpoint comes from HYDRA_ADMIN_URL when --endpoint is left out", async () => {
    ok(await gatehouse(["create", "--id", "cli-env"], { HYDRA_ADMIN_URL: tcp.adminUrl }));
    const run = ok(await gatehouse(["get", "cli-env"], { HYDRA_ADMIN_URL: tcp.adminUrl }));
    expect(JSON.parse(run.stdout).client_id).toBe("cli-env");
  });

  test("clear failures: unknown client, missing id, PGP flags, unreachable endpoint", async () => {
    const unknown = await gatehouse(["get", ...endpoint(), "nope"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("the admin API answered 404");
    const missing = await gatehouse(["get", ...endpoint()]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("expected exactly one client id");
    const pgp = await gatehouse(["create", ...endpoint(), "--pgp-key", "abc"]);
    expect(pgp.code).toBe(1);
    expect(pgp.stderr).toContain("--pgp-key is not supported");
    const down = await gatehouse(["get", "--endpoint", "http://127.0.0.1:9", "x"]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("cannot reach the admin API at http://127.0.0.1:9");
  });
});

describe("gatehouse clients over a Unix socket (--endpoint unix:/path)", () => {
  test("create, get, list, update, delete through the socket", async () => {
    const endpoint = ["--endpoint", `unix:${socket}`];
    const created = JSON.parse(ok(await gatehouse(["create", ...endpoint, "--id", "sock-1", "-n", "socket"])).stdout);
    expect(created).toMatchObject({ client_id: "sock-1", client_name: "socket" });
    expect(await authenticateClientSecret(unix.deps, "sock-1", created.client_secret)).toBeDefined();
    // Hydra's unix:///path spelling also works, as does the environment variable.
    const got = JSON.parse(ok(await gatehouse(["get", "--endpoint", `unix://${socket}`, "sock-1"])).stdout);
    expect(got.client_name).toBe("socket");
    const listed = JSON.parse(ok(await gatehouse(["list"], { HYDRA_ADMIN_URL: `unix:${socket}` })).stdout) as { client_id: string }[];
    expect(listed.map((c) => c.client_id)).toEqual(["sock-1"]);
    const updated = JSON.parse(ok(await gatehouse(["update", ...endpoint, "sock-1", "-n", "renamed"])).stdout);
    expect(updated.client_name).toBe("renamed");
    expect(ok(await gatehouse(["delete", ...endpoint, "sock-1"])).stdout).toBe("sock-1\n");
    expect((await unix.adminFetch("/clients/sock-1")).status).toBe(404);
  });
});
