/** `gatehouse keys create|get|delete|import` as real processes against a running admin API. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { runCli } from "./support.ts";

let pg: TestDatabase;
let server: TestServer;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-keys-cli-"));
  pg = await createTestDatabase("keys_cli");
  await (await openMigrated(pg.dsn)).close();
  server = await startTestServer({ dsn: pg.dsn, config: { serve: { admin: { host: `unix:${join(dir, "admin.sock")}` } } } });
});
afterAll(async () => {
  await server?.stop();
  await pg?.drop();
  rmSync(dir, { recursive: true, force: true });
});

type Jwks = { keys: JWK[] };
const endpoint = () => ["--endpoint", server.adminUrl];

test("the admin listener is a unix socket here, reached with --endpoint unix:/path", () => {
  expect(server.adminUrl).toStartWith("unix:/");
});

test("keys create prints exactly what the API returned; keys get prints the set", async () => {
  const created = await runCli(["keys", "create", "cli-set", "k1", "-a", "ES256", "-u", "sig", ...endpoint()]);
  expect(created.stderr).toBe("");
  expect(created.code).toBe(0);
  const body = JSON.parse(created.stdout) as Jwks;
  expect(body.keys.map((k) => k.kid)).toEqual(["private:k1", "public:k1"]);
  const api = (await (await server.adminFetch("/keys/cli-set")).json()) as Jwks;
  expect(api).toEqual(body);

  const got = await runCli(["keys", "get", "cli-set", ...endpoint()]);
  expect(got.code).toBe(0);
  expect(got.stdout).toBe(`${JSON.stringify(api, null, 2)}\n`);
});

test("keys create defaults to RS256 2048 with a UUID kid; --bits chooses the size", async () => {
  const plain = await runCli(["keys", "create", "cli-rsa", ...endpoint()]);
  expect(plain.code).toBe(0);
  const keys = (JSON.parse(plain.stdout) as Jwks).keys;
  expect(keys[0]!.kid).toMatch(/^private:[0-9a-f-]{36}$/);
  expect(keys[0]!.alg).toBe("RS256");
  const big = await runCli(["keys", "create", "cli-rsa", "big", "--alg", "PS256", "--bits", "3072", ...endpoint()]);
  expect(Buffer.from((JSON.parse(big.stdout) as Jwks).keys[1]!.n!, "base64url").length * 8).toBe(3072);
});

test("--format table lists kid, kty, alg, use", async () => {
  await runCli(["keys", "create", "cli-table", "t", "-a", "HS256", ...endpoint()]);
  const res = await runCli(["keys", "get", "cli-table", "--format", "table", ...endpoint()]);
  expect(res.stdout).toBe("KID  KTY  ALG    USE\nt    oct  HS256  sig\n");
});

test("API errors end the command with status 1 and the API's message", async () => {
  const dup = await runCli(["keys", "create", "cli-set", "k1", "-a", "ES256", ...endpoint()]);
  expect(dup.code).toBe(1);
  expect(dup.stdout).toBe("");
  expect(dup.stderr).toBe(
    "gatehouse: the admin API answered 409: Conflict: Unable to insert or update resource because a resource with that value exists already: set 'cli-set' already has a key with one of the kids private:k1, public:k1.\n",
  );
  const bad = await runCli(["keys", "create", "cli-set", "-a", "XX1", ...endpoint()]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("the admin API answered 400: Bad Request: alg 'XX1' cannot be generated");
  const missing = await runCli(["keys", "get", "cli-nothing", ...endpoint()]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toBe("gatehouse: the admin API answered 404: Not Found: Unable to locate the requested resource\n");
  const badUse = await runCli(["keys", "create", "cli-set", "-u", "both", ...endpoint()]);
  expect(badUse.stderr).toBe('gatehouse: --use: expected sig or enc, got "both"\n');
});

test("keys delete removes the set", async () => {
  await runCli(["keys", "create", "cli-del", "-a", "EdDSA", ...endpoint()]);
  const res = await runCli(["keys", "delete", "cli-del", ...endpoint()]);
  expect(res.code).toBe(0);
  expect(res.stdout).toBe("cli-del\n");
  expect((await server.adminFetch("/keys/cli-del")).status).toBe(404);
});

test("keys import: PEM private (PKCS#8, PKCS#1, SEC1), PEM public, JWK and JWK Set files", async () => {
  const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const ec = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const ed = generateKeyPairSync("ed25519");
  const files: Record<string, string> = {
    "rsa-pkcs8.pem": rsa.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
    "ec-sec1.pem": ec.privateKey.export({ type: "sec1", format: "pem" }) as string,
    "ed-public.pem": ed.publicKey.export({ type: "spki", format: "pem" }) as string,
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const res = await runCli(["keys", "import", "cli-import", ...Object.keys(files).map((f) => join(dir, f)), ...endpoint()]);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  const imported = (JSON.parse(res.stdout) as Jwks).keys;
  expect(imported.map((k) => [k.kid!.split(":")[0], k.kty, k.alg, k.use])).toEqual([
    ["private", "RSA", "RS256", "sig"],
    ["public", "RSA", "RS256", "sig"],
    ["private", "EC", "ES384", "sig"],
    ["public", "EC", "ES384", "sig"],
    ["public", "OKP", "EdDSA", "sig"],
  ]);
  expect(imported[1]!.n).toBe((rsa.publicKey.export({ format: "jwk" }) as JWK).n!);
  const stored = (await (await server.adminFetch("/keys/cli-import")).json()) as Jwks;
  expect(stored.keys).toHaveLength(5);

  // One id for all files collides: refused before anything is sent.
  const pkcs1 = join(dir, "rsa-pkcs1.pem");
  writeFileSync(pkcs1, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }) as string);
  const clash = await runCli(["keys", "import", "cli-import2", pkcs1, join(dir, "rsa-pkcs8.pem"), "--default-key-id", "same", ...endpoint()]);
  expect(clash.code).toBe(1);
  expect(clash.stderr).toBe('gatehouse: two of the given keys have kid "private:same"; give each file its own key id (files without a kid get --default-key-id)\n');
  expect((await server.adminFetch("/keys/cli-import2")).status).toBe(404);

  const named = await runCli(["keys", "import", "cli-import2", pkcs1, "--default-key-id", "mine", "--use", "enc", "--alg", "RSA-OAEP-256", ...endpoint()]);
  expect(named.code).toBe(0);
  expect((JSON.parse(named.stdout) as Jwks).keys.map((k) => [k.kid, k.alg, k.use])).toEqual([
    ["private:mine", "RSA-OAEP-256", "enc"],
    ["public:mine", "RSA-OAEP-256", "enc"],
  ]);

  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const single = join(dir, "one.jwk.json");
  writeFileSync(single, JSON.stringify({ ...(await exportJWK(privateKey)), kid: "from-file" }));
  const set = join(dir, "set.jwks.json");
  const other = await generateKeyPair("EdDSA", { extractable: true, crv: "Ed25519" });
  writeFileSync(set, JSON.stringify({ keys: [{ ...(await exportJWK(other.publicKey)), kid: "ed-pub", alg: "EdDSA", use: "sig" }] }));
  const jsonImport = await runCli(["keys", "import", "cli-import3", single, set, ...endpoint()]);
  expect(jsonImport.code).toBe(0);
  expect((JSON.parse(jsonImport.stdout) as Jwks).keys.map((k) => [k.kid, k.alg])).toEqual([
    ["from-file", "ES256"],
    ["ed-pub", "EdDSA"],
  ]);
});

test("keys import refuses unreadable files and keys the server would refuse, before sending anything", async () => {
  const junk = join(dir, "junk.txt");
  writeFileSync(junk, "hello");
  const res = await runCli(["keys", "import", "cli-bad", junk, ...endpoint()]);
  expect(res.code).toBe(1);
  expect(res.stderr).toBe(`gatehouse: ${junk}: neither a JSON Web Key (set) nor a PEM key or certificate\n`);
  const weak = join(dir, "weak.pem");
  writeFileSync(weak, generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string);
  const weakRes = await runCli(["keys", "import", "cli-bad", weak, "--default-key-id", "w", ...endpoint()]);
  expect(weakRes.code).toBe(1);
  expect(weakRes.stderr).toBe(`gatehouse: ${weak}: JWK "private:w": RSA keys must be at least 2048 bits, got 1024.\n`);
  const none = await runCli(["keys", "import", "cli-bad", join(dir, "absent.pem"), ...endpoint()]);
  expect(none.stderr).toBe(`gatehouse: ${join(dir, "absent.pem")}: cannot be read (ENOENT)\n`);
  const noFiles = await runCli(["keys", "import", "cli-bad", ...endpoint()]);
  expect(noFiles.stderr).toBe("gatehouse: give at least one file: keys import <set> <file>...\n");
  expect((await server.adminFetch("/keys/cli-bad")).status).toBe(404);
});
