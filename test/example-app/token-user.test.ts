/**
 * `gatehouse token user` as a real process against a real server with the example app: the
 * printed authorization URL (PKCE S256, state, nonce), --auto-client, the code exchange, the
 * verified ID token in JSON and text output, the callback page, errors and the bounded wait.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Browser, createClient, startEnv, startTimeout, type Env } from "../flows/kit.ts";
import { freePorts, runCli } from "../keys/support.ts";
import { exampleAppConfig, spawnTokenUser, submit } from "./support.ts";

let env: Env;

beforeAll(async () => {
  env = await startEnv("PostgreSQL", "token_user", exampleAppConfig);
}, startTimeout);

afterAll(async () => {
  await env?.stop();
});

/** Logs in as the demo user and allows everything; returns where the browser is sent (the callback). */
async function logInAndConsent(browser: Browser, authorizationUrl: string, consentAction = "accept"): Promise<string> {
  const login = await browser.navigate(authorizationUrl);
  expect(login.body).toContain("Sign in");
  const consent = await submit(browser, login.body, "/example/login", [
    ["email", "foo@bar.com"],
    ["password", "foobar"],
    ["action", "accept"],
  ]);
  expect(consent.body).toContain("Allow access?");
  const done = await submit(browser, consent.body, "/example/consent", [["action", consentAction]]);
  expect(done.location).toBeString();
  return done.location!;
}

test("--auto-client: a client is registered, the URL carries PKCE S256, state and nonce, and the verified tokens are printed as JSON", async () => {
  const cli = spawnTokenUser([
    "--auto-client",
    "--endpoint", env.server.publicUrl,
    "--admin-endpoint", env.server.adminUrl,
    "-p", "0",
    "--scope", "openid,offline_access",
    "--scope", "profile,email",
    "--format", "json",
    "--fail-after", "60s",
  ]);
  const url = new URL(await cli.authorizationUrl);
  // The issuer's authorization endpoint (from discovery), not the address the CLI reached.
  expect(`${url.origin}${url.pathname}`).toBe(`${env.server.deps.config.urls.self.issuer}oauth2/auth`);
  const q = url.searchParams;
  expect(q.get("response_type")).toBe("code");
  expect(q.get("scope")).toBe("openid offline_access profile email");
  expect(q.get("code_challenge_method")).toBe("S256");
  expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(q.get("state")!.length).toBeGreaterThanOrEqual(32);
  expect(q.get("nonce")!.length).toBeGreaterThanOrEqual(32);
  const redirectUri = q.get("redirect_uri")!;
  expect(redirectUri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);

  const registered = await (await env.server.adminFetch(`/clients/${encodeURIComponent(q.get("client_id")!)}`)).json();
  expect(registered).toMatchObject({ client_name: "gatehouse token user", redirect_uris: [redirectUri], scope: "openid offline_access profile email", token_endpoint_auth_method: "client_secret_basic" });

  const callback = await logInAndConsent(new Browser(env), url.toString());
  expect(callback.startsWith(`${redirectUri}?code=`)).toBe(true);
  const page = await fetch(callback);
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain("<h1>Logged in</h1>");
  expect(html).toContain("&#34;email&#34;: &#34;foo@bar.com&#34;");

  const { code, stdout, stderr } = await cli.result;
  expect(code).toBe(0);
  expect(stderr).toContain(`Created the client ${q.get("client_id")}`);
  const out = JSON.parse(stdout);
  expect(out.access_token).toMatch(/^gth_at_/);
  expect(out.refresh_token).toMatch(/^gth_rt_/);
  expect(out.scope).toBe("openid offline_access profile email");
  expect(out.id_token_verified).toBe(true);
  expect(out.id_token_claims).toMatchObject({ sub: "foo@bar.com", email: "foo@bar.com", email_verified: true, name: "Foo Bar", nonce: q.get("nonce"), aud: [q.get("client_id")] });
  // The listener is gone with the process.
  await expect(fetch(redirectUri)).rejects.toThrow();
}, 90_000);

test("--client-id/--client-secret, text output: the tokens and the claims, with the signature verified", async () => {
  const [port] = freePorts(1);
  const client = await createClient(env, {
    client_secret: "token-user-secret-0123456789",
    token_endpoint_auth_method: "client_secret_basic",
    redirect_uris: [`http://127.0.0.1:${port}/callback`],
  });
  const cli = spawnTokenUser(["--endpoint", env.server.publicUrl, "--client-id", client.client_id, "--client-secret", "token-user-secret-0123456789", "-p", String(port), "--scope", "openid,email"]);
  await fetch(await logInAndConsent(new Browser(env), await cli.authorizationUrl));
  const { code, stdout } = await cli.result;
  expect(code).toBe(0);
  expect(stdout).toMatch(/^Access Token:\n\tgth_at_\S+\n/);
  expect(stdout).not.toContain("Refresh Token:");
  expect(stdout).toContain("Scope:\n\topenid email\n");
  expect(stdout).toMatch(/ID Token:\n\teyJ\S+\n/);
  expect(stdout).toContain("ID Token Claims (signature verified):\n{");
  expect(stdout).toContain('"email": "foo@bar.com"');
}, 90_000);

test("a denied consent: the error on the page and on stderr, exit code 1", async () => {
  const cli = spawnTokenUser(["--auto-client", "--endpoint", env.server.publicUrl, "--admin-endpoint", env.server.adminUrl, "-p", "0", "--scope", "openid"]);
  const callback = await logInAndConsent(new Browser(env), await cli.authorizationUrl, "reject");
  const page = await fetch(callback);
  expect(page.status).toBe(400);
  expect(await page.text()).toContain("access_denied");
  const { code, stdout, stderr } = await cli.result;
  expect(code).toBe(1);
  expect(stdout).toBe("");
  expect(stderr).toContain("The authorization server answered with an error: access_denied");
}, 90_000);

test("a callback with an unknown state is refused and the wait goes on, bounded by --fail-after", async () => {
  const cli = spawnTokenUser(["--auto-client", "--endpoint", env.server.publicUrl, "--admin-endpoint", env.server.adminUrl, "-p", "0", "--fail-after", "3s"]);
  const redirectUri = new URL(await cli.authorizationUrl).searchParams.get("redirect_uri")!;
  const forged = await fetch(`${redirectUri}?code=stolen&state=not-ours`);
  expect(forged.status).toBe(400);
  expect(await forged.text()).toContain("unknown state");
  // The home page starts a fresh authorization.
  const home = await fetch(new URL("/", redirectUri), { redirect: "manual" });
  expect(home.status).toBe(302);
  expect(home.headers.get("location")).toContain("code_challenge_method=S256");
  const started = Date.now();
  const { code, stderr } = await cli.result;
  expect(code).toBe(1);
  expect(stderr).toContain("no login came back within 3s (--fail-after)");
  expect(Date.now() - started).toBeLessThan(10_000);
}, 60_000);

test("argument errors end at once with a clear line", async () => {
  const base = ["token", "user", "--endpoint", env.server.publicUrl, "-p", "0"];
  const noClient = await runCli(base);
  expect(noClient.code).toBe(1);
  expect(noClient.stderr).toContain("--client-id is required (or set OAUTH2_CLIENT_ID), or pass --auto-client");
  const https = await runCli([...base, "--https", "--client-id", "x"]);
  expect(https.code).toBe(1);
  expect(https.stderr).toContain("--https is not supported");
  const blocker = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("busy") });
  try {
    const busy = await runCli(["token", "user", "--endpoint", env.server.publicUrl, "-p", String(blocker.port), "--client-id", "x"]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`cannot listen on 127.0.0.1:${blocker.port}`);
  } finally {
    blocker.stop(true);
  }
  const down = await runCli(["token", "user", "--endpoint", "http://127.0.0.1:1", "--client-id", "x"]);
  expect(down.code).toBe(1);
  expect(down.stderr).toContain("cannot reach the public API at http://127.0.0.1:1");
}, 60_000);
