/** `gatehouse janitor` and `gatehouse token flush` as real processes against a real PostgreSQL. */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import type { Database } from "../../src/storage/db.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { runCli } from "../keys/support.ts";
import { addAccessToken, addJti, addRefreshToken, addTrust, emptyTables, hour, minute, remaining } from "./support.ts";

let pg: TestDatabase;
let database: Database;
let server: TestServer;
beforeAll(async () => {
  pg = await createTestDatabase("janitor_cli");
  database = await openMigrated(pg.dsn);
  server = await startTestServer({ dsn: pg.dsn });
});
afterAll(async () => {
  await server?.stop();
  await database?.close();
  await pg?.drop();
});

const db = () => database.db;

beforeEach(async () => {
  const now = Date.now();
  const at = (ms: number) => new Date(now + ms);
  await emptyTables(db());
  for (let i = 0; i < 9; i++) await addAccessToken(db(), { signature: `expired-${i}`, requestedAt: at(-2 * hour), expiresAt: at(-hour) });
  await addAccessToken(db(), { signature: "expired-young", requestedAt: at(-10 * minute), expiresAt: at(-minute) });
  await addAccessToken(db(), { signature: "live", requestedAt: at(-minute), expiresAt: at(hour) });
  await addRefreshToken(db(), { signature: "expired", requestedAt: at(-2 * hour), expiresAt: at(-hour) });
  await addJti(db(), "expired", at(-minute));
  await addTrust(db(), { id: "expired", issuer: "https://cli.example.com", subject: "a", kid: "k1", expiresAt: at(-minute) });
});

test("janitor <dsn> --tokens --grants: batches per table, counts printed per table", async () => {
  const res = await runCli(["janitor", pg.dsn, "--tokens", "--grants", "--limit", "100", "--batch-size", "4"]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  // Timings vary: "(0.01 s)" becomes "(T)".
  expect(res.stdout.replace(/\(\d+\.\d\d s\)/g, "(T)")).toBe(
    [
      // 10 expired access tokens: 4 + 4 + 2.
      "Successfully completed Janitor run on access tokens: deleted 10 rows from oauth2_access_tokens in 3 statements (T)",
      "Successfully completed Janitor run on refresh tokens: deleted 1 row from oauth2_refresh_tokens in 1 statement (T)",
      "Successfully completed Janitor run on refresh token rotation pairs: cleared 0 rows in oauth2_refresh_tokens in 1 statement (T)",
      "Successfully completed Janitor run on authorization codes: deleted 0 rows from oauth2_authorization_codes in 1 statement (T)",
      "Successfully completed Janitor run on jti records: deleted 1 row from oauth2_jti_records in 1 statement (T)",
      "Successfully completed Janitor run on trust relationships: deleted 1 row from trusted_jwt_issuers in 1 statement (T)",
      "Successfully completed Janitor run on keys of trust relationships: deleted 1 row from json_web_keys",
      "",
    ].join("\n"),
  );
  expect(await remaining(db())).toEqual({ access: ["live"], refresh: [], codes: [], jti: [], trust: [], keys: [] });
});

test("--limit bounds a run; --keep-if-younger keeps young rows; -e reads DSN from the environment", async () => {
  const limited = await runCli(["janitor", "-e", "--tokens", "--limit", "5", "--batch-size", "5"], { DSN: pg.dsn });
  expect(limited.code).toBe(0);
  expect(limited.stdout).toMatch(/^Successfully completed Janitor run on access tokens: deleted 5 rows from oauth2_access_tokens in 1 statement /);
  expect((await remaining(db())).access).toHaveLength(6);

  const young = await runCli(["janitor", pg.dsn, "--tokens", "--keep-if-younger", "1h"]);
  expect(young.code).toBe(0);
  expect((await remaining(db())).access).toEqual(["expired-young", "live"]);
  // Without --grants the trust relationship is still there.
  expect((await remaining(db())).trust).toEqual(["expired"]);
});

test("usage errors exit 1 with one clear line, before touching the database", async () => {
  const cases: [string[], string][] = [
    [["janitor", "--tokens"], "gatehouse: a DSN is required as a positional argument when neither -e (DSN from the environment) nor -c (dsn from a config file) is given\n"],
    [["janitor", pg.dsn], "gatehouse: janitor requires at least one of --tokens, --requests or --grants\n"],
    [["janitor", pg.dsn, "--tokens", "--limit", "0"], 'gatehouse: --limit: expected a whole number greater than 0, got "0"\n'],
    [["janitor", pg.dsn, "--tokens", "--batch-size", "x"], 'gatehouse: --batch-size: expected a whole number greater than 0, got "x"\n'],
    [["janitor", pg.dsn, "--tokens", "--limit", "10", "--batch-size", "20"], "gatehouse: --batch-size must not be greater than --limit\n"],
    [["janitor", pg.dsn, "--tokens", "--keep-if-younger", "one hour"], 'gatehouse: --keep-if-younger: expected a duration such as 30s, 10m, 1h or 1h30m, got "one hour"\n'],
    [["janitor", "memory", "--tokens"], 'gatehouse: dsn "memory" lives inside the serving process; clean it with "gatehouse token flush" (POST /oauth2/flush)\n'],
  ];
  for (const [args, stderr] of cases) {
    const res = await runCli(args);
    expect({ args, code: res.code, stderr: res.stderr, stdout: res.stdout }).toEqual({ args, code: 1, stderr, stdout: "" });
  }
  expect((await remaining(db())).access).toHaveLength(11);
});

test("an unreachable database is a clear failure", async () => {
  const res = await runCli(["janitor", "postgres://postgres@127.0.0.1:1/nothing", "--tokens", "--set", "database.connect_timeout=1s"]);
  expect(res.code).toBe(1);
  // Retries are logged as warnings; the last line says why the run failed.
  expect(res.stderr.trimEnd().split("\n").at(-1)).toMatch(/^gatehouse: cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/nothing after \d+ attempts/);
  expect(res.stdout).toBe("");
});

test("token flush [--min-age] calls POST /oauth2/flush on the admin API", async () => {
  const aged = await runCli(["token", "flush", "--endpoint", server.adminUrl, "--min-age", "1h"]);
  expect({ code: aged.code, stdout: aged.stdout, stderr: aged.stderr }).toEqual({ code: 0, stdout: "Successfully flushed inactive access tokens\n", stderr: "" });
  expect((await remaining(db())).access).toEqual(["expired-young", "live"]);

  const all = await runCli(["token", "flush"], { HYDRA_ADMIN_URL: server.adminUrl });
  expect(all.code).toBe(0);
  expect(await remaining(db())).toEqual({ access: ["live"], refresh: [], codes: [], jti: [], trust: [], keys: [] });

  const bad = await runCli(["token", "flush", "--endpoint", server.adminUrl, "--min-age", "soon"]);
  expect({ code: bad.code, stderr: bad.stderr }).toEqual({ code: 1, stderr: 'gatehouse: --min-age: expected a duration such as 30s, 10m or 1h, got "soon"\n' });
});
