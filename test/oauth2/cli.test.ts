/** `gatehouse token client|introspect|revoke|delete` as real processes against a real server. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { runCli } from "../keys/support.ts";
import { createClient, introspect, startOAuthServer, type OAuthServer } from "./support.ts";

let s: OAuthServer;
const secret = "cli secret+with:odd&chars";

beforeAll(async () => {
  s = await startOAuthServer("postgres", "token_cli");
  await createClient(s.server, { client_id: "cli-client", client_secret: secret, grant_types: ["client_credentials"], scope: "read write", audience: ["https://api.example.com"] });
  await createClient(s.server, {
    client_id: "cli-post",
    client_secret: "post-secret-123456",
    grant_types: ["client_credentials"],
    token_endpoint_auth_method: "client_secret_post",
  });
}, 60_000);

afterAll(async () => {
  await s?.stop();
}, 60_000);

test("token client prints an access token; -v prints the response; HYDRA_URL is the default endpoint", async () => {
  const plain = await runCli(["token", "client", "--endpoint", s.server.publicUrl, "--client-id", "cli-client", "--client-secret", secret, "--scope", "read,write"]);
  expect(plain.stderr).toBe("");
  expect(plain.code).toBe(0);
  const token = plain.stdout.trim();
  expect(token).toMatch(/^gth_at_/);
  expect((await introspect(s.server, token)).body).toMatchObject({ active: true, scope: "read write", client_id: "cli-client" });

  const verbose = await runCli(
    ["token", "client", "-v", "--client-id", "cli-client", "--scope", "read", "--audience", "https://api.example.com"],
    { HYDRA_URL: s.server.publicUrl, OAUTH2_CLIENT_SECRET: secret },
  );
  expect(verbose.code).toBe(0);
  const body = JSON.parse(verbose.stdout) as Record<string, unknown>;
  expect(body).toMatchObject({ token_type: "bearer", expires_in: 3600, scope: "read" });

  const post = await runCli([
    "token", "client", "--endpoint", s.server.publicUrl, "--client-id", "cli-post", "--client-secret", "post-secret-123456", "--auth-method", "client_secret_post",
  ]);
  expect(post.code).toBe(0);
  const viaTokenUrl = await runCli([
    "token", "client", "--token-url", `${s.server.publicUrl}/oauth2/token`, "--client-id", "cli-client", "--client-secret", secret,
  ]);
  expect(viaTokenUrl.code).toBe(0);
  expect(viaTokenUrl.stdout.trim()).toMatch(/^gth_at_/);
}, 30_000);

test("token client fails with the server's error", async () => {
  const res = await runCli(["token", "client", "--endpoint", s.server.publicUrl, "--client-id", "cli-client", "--client-secret", "wrong"]);
  expect(res.code).toBe(1);
  expect(res.stderr).toContain("the token endpoint answered 401: invalid_client");
  const missing = await runCli(["token", "client", "--endpoint", s.server.publicUrl, "--client-id", "cli-client"]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("--client-secret is required");
}, 30_000);

test("token introspect, revoke and delete", async () => {
  const issue = async () =>
    (await runCli(["token", "client", "--endpoint", s.server.publicUrl, "--client-id", "cli-client", "--client-secret", secret, "--scope", "read"])).stdout.trim();
  const token = await issue();

  const seen = await runCli(["token", "introspect", token, "--endpoint", s.server.adminUrl]);
  expect(seen.code).toBe(0);
  expect(JSON.parse(seen.stdout)).toMatchObject({ active: true, client_id: "cli-client", token_use: "access_token" });
  const narrowed = await runCli(["token", "introspect", token, "--scope", "write"], { HYDRA_ADMIN_URL: s.server.adminUrl });
  expect(JSON.parse(narrowed.stdout)).toEqual({ active: false });

  const revoked = await runCli(["token", "revoke", token, "--endpoint", s.server.publicUrl, "--client-id", "cli-client", "--client-secret", secret]);
  expect(revoked.code).toBe(0);
  expect((await introspect(s.server, token)).body).toEqual({ active: false });

  const second = await issue();
  const deleted = await runCli(["token", "delete", "--client-id", "cli-client", "--endpoint", s.server.adminUrl]);
  expect(deleted.code).toBe(0);
  expect(deleted.stdout).toContain("cli-client");
  expect((await introspect(s.server, second)).body).toEqual({ active: false });
}, 30_000);
