/**
 * @module Secrets never in logs: a full flow (client_credentials, code + PKCE, userinfo, refresh,
 * introspection, revocation, dynamic registration and its management, RP-initiated logout)
 * against a Gatehouse spawned as a process at LOG_LEVEL=trace, in text and in JSON format.
 * Its whole stdout and stderr must hold no token, code, verifier, client secret, registration
 * token, system secret or database password.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { acceptConsent, acceptLogin, admin, authPath, Browser, challengeFrom, jsonInit, q, readResponse, state, type Env } from "../flows/kit.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { listenerFetch } from "../helpers/server.ts";
import { freePort, waitFor } from "../integration/kit.ts";
import { figuresOf } from "./figures.ts";

const root = new URL("../..", import.meta.url).pathname;
const bun = process.execPath;
const systemSecret = "system-secret-must-not-be-logged-0001";
const dbPassword = "db-password-must-not-be-logged-0002";
const clientSecret = "client-secret-must-not-be-logged-0003";

let pg: TestDatabase;
beforeAll(async () => {
  pg = await createTestDatabase("reliability_logs");
  await (await openMigrated(pg.dsn)).close();
}, 60_000);
afterAll(async () => {
  await pg?.drop();
});

/** The secret part of a token: an opaque token's key (before the dot), a JWT's signature, or the value. */
function secretParts(value: string): string[] {
  const parts = [value];
  const segments = value.split(".");
  if (segments.length === 2) parts.push(segments[0]!);
  if (segments.length === 3) parts.push(segments[2]!);
  return parts.filter((p) => p.length >= 16);
}

async function runFlowAgainstProcess(format: "text" | "json"): Promise<{ output: string; secrets: string[] }> {
  const publicPort = freePort();
  const adminPort = freePort();
  const issuer = `http://127.0.0.1:${publicPort}/`;
  const dsn = new URL(pg.dsn);
  // Trust authentication ignores the password, so it may be anything: it must still never be logged.
  dsn.password = dbPassword;
  const proc = Bun.spawn([bun, "src/main.ts", "serve", "all", "--dangerous-force-http"], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: "/tmp",
      DSN: dsn.toString(),
      SECRETS_SYSTEM: systemSecret,
      LOG_LEVEL: "trace",
      LOG_FORMAT: format,
      LOG_LEAK_SENSITIVE_VALUES: "false",
      SERVE_PUBLIC_HOST: "127.0.0.1",
      SERVE_PUBLIC_PORT: String(publicPort),
      SERVE_ADMIN_HOST: "127.0.0.1",
      SERVE_ADMIN_PORT: String(adminPort),
      URLS_SELF_ISSUER: issuer,
      URLS_LOGIN: "https://login.test/login",
      URLS_CONSENT: "https://consent.test/consent",
      URLS_LOGOUT: "https://logout.test/logout",
      OAUTH2_HASHERS_BCRYPT_COST: "4",
      OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED: "true",
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  const secrets: string[] = [systemSecret, dbPassword, clientSecret];
  const clientId = `logs-client-${format}`;
  try {
    const publicFetch = listenerFetch(`http://127.0.0.1:${publicPort}`);
    const adminFetch = listenerFetch(`http://127.0.0.1:${adminPort}`);
    expect(await waitFor(() => publicFetch("/health/ready").then((r) => r.status === 200, () => false), 30_000)).toBe(true);
    // The kit's browser and admin helpers only need these members of a test server.
    const env = { name: "PostgreSQL", server: { publicUrl: `http://127.0.0.1:${publicPort}`, adminUrl: `http://127.0.0.1:${adminPort}`, publicFetch, adminFetch, deps: { config: { urls: { self: { issuer } } } } }, stop: async () => {} } as unknown as Env;
    const basic = `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString("base64")}`;
    const form = (params: Record<string, string>, headers: Record<string, string> = {}) => ({
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(params),
    });

    const created = await adminFetch(
      "/clients",
      jsonInit(
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: ["https://client.test/cb"],
          post_logout_redirect_uris: ["https://client.test/logout"],
          grant_types: ["authorization_code", "refresh_token", "client_credentials"],
          response_types: ["code"],
          scope: "openid offline_access",
        },
        "POST",
      ),
    );
    expect(created.status).toBe(201);

    const cc = (await (await publicFetch("/oauth2/token", form({ grant_type: "client_credentials" }, { Authorization: basic }))).json()) as Record<string, string>;
    expect(cc.access_token).toBeString();
    secrets.push(cc.access_token!);

    // Authorization code with PKCE, through login and consent.
    const verifier = `verifier-${crypto.randomUUID()}-${crypto.randomUUID()}`;
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const browser = new Browser(env);
    const s = state();
    const loginStop = await browser.navigate(authPath({ client_id: clientId, response_type: "code", scope: "openid offline_access", state: s, redirect_uri: "https://client.test/cb", code_challenge: challenge, code_challenge_method: "S256" }));
    const loginRedirect = await acceptLogin(env, challengeFrom(loginStop, "login"), { subject: "log-subject", remember: true, remember_for: 3600 });
    secrets.push(new URL(loginRedirect).searchParams.get("login_verifier")!);
    const consentRedirect = await acceptConsent(env, challengeFrom(await browser.navigate(loginRedirect), "consent"), { grant_scope: ["openid", "offline_access"], remember: true, remember_for: 3600 });
    secrets.push(new URL(consentRedirect).searchParams.get("consent_verifier")!);
    const code = readResponse(await browser.navigate(consentRedirect)).params.code!;
    expect(code).toBeString();
    secrets.push(code, verifier);
    for (const cookie of browser.cookies.values()) if (cookie.length >= 16) secrets.push(cookie);

    const tokens = (await (await publicFetch("/oauth2/token", form({ grant_type: "authorization_code", code, redirect_uri: "https://client.test/cb", code_verifier: verifier }, { Authorization: basic }))).json()) as Record<string, string>;
    expect(tokens.refresh_token).toBeString();
    secrets.push(tokens.access_token!, tokens.refresh_token!, tokens.id_token!);

    expect((await publicFetch("/userinfo", { headers: { Authorization: `Bearer ${tokens.access_token}` } })).status).toBe(200);
    const refreshed = (await (await publicFetch("/oauth2/token", form({ grant_type: "refresh_token", refresh_token: tokens.refresh_token! }, { Authorization: basic }))).json()) as Record<string, string>;
    expect(refreshed.access_token).toBeString();
    secrets.push(refreshed.access_token!, refreshed.refresh_token!, refreshed.id_token!);
    expect(((await (await adminFetch("/oauth2/introspect", form({ token: refreshed.access_token! }))).json()) as { active: boolean }).active).toBe(true);
    // Wrong secrets and bad tokens: error paths with the secret in hand.
    expect((await publicFetch("/oauth2/token", form({ grant_type: "client_credentials" }, { Authorization: `Basic ${Buffer.from(`${clientId}:wrong-secret-must-not-be-logged`).toString("base64")}` }))).status).toBe(401);
    secrets.push("wrong-secret-must-not-be-logged");
    expect((await publicFetch("/userinfo", { headers: { Authorization: "Bearer ory_at_badtokenmustnotbelogged0004.sig" } })).status).toBe(401);
    secrets.push("badtokenmustnotbelogged0004");
    expect((await publicFetch("/oauth2/revoke", form({ token: refreshed.refresh_token! }, { Authorization: basic }))).status).toBe(200);

    // Dynamic registration: its client secret and registration access token.
    const registered = (await (await publicFetch("/oauth2/register", jsonInit({ redirect_uris: ["https://dcr.test/cb"], client_name: "dcr" }, "POST"))).json()) as Record<string, string>;
    expect(registered.registration_access_token).toBeString();
    secrets.push(registered.client_secret!, registered.registration_access_token!);
    expect((await publicFetch(`/oauth2/register/${q(registered.client_id!)}`, { headers: { Authorization: `Bearer ${registered.registration_access_token}` } })).status).toBe(200);

    // RP-initiated logout with the ID token as hint.
    const logoutStop = await browser.navigate(`/oauth2/sessions/logout?${new URLSearchParams({ id_token_hint: refreshed.id_token!, post_logout_redirect_uri: "https://client.test/logout", state: "logout-state" })}`);
    expect(logoutStop.location).toStartWith("https://logout.test/logout");
    const logoutChallenge = new URL(logoutStop.location!).searchParams.get("logout_challenge")!;
    const accepted = await admin(env, `/oauth2/auth/requests/logout/accept?logout_challenge=${q(logoutChallenge)}`, jsonInit({}));
    expect(accepted.status).toBe(200);
    secrets.push(new URL(accepted.body.redirect_to).searchParams.get("logout_verifier")!);
    expect((await browser.navigate(accepted.body.redirect_to)).location).toStartWith("https://client.test/logout");
    // Last, as it revokes what the code issued: a replayed code is an error path that logs, without the code.
    expect((await publicFetch("/oauth2/token", form({ grant_type: "authorization_code", code, redirect_uri: "https://client.test/cb", code_verifier: verifier }, { Authorization: basic }))).status).toBe(400);
  } finally {
    proc.kill("SIGTERM");
    const exited = await Promise.race([proc.exited, Bun.sleep(15_000).then(() => "timeout" as const)]);
    if (exited === "timeout") proc.kill("SIGKILL");
  }
  return { output: `${await stdout}\n${await stderr}`, secrets: secrets.flatMap(secretParts) };
}

const figures = figuresOf("secrets-in-logs");

describe("secrets never in logs", () => {
  for (const format of ["text", "json"] as const) {
    test(`full flow at log level trace, ${format} format: no secret in stdout or stderr`, async () => {
      const { output, secrets } = await runFlowAgainstProcess(format);
      // The run did log at trace/debug level; an empty log would prove nothing.
      expect(output).toContain("/oauth2/token");
      expect(output.split("\n").length).toBeGreaterThan(20);
      // Error paths are logged at debug level only: seeing them proves the level took effect.
      expect(output).toContain("invalid_grant");
      expect(output).toContain("invalid_client");
      const leaked = secrets.filter((secret) => output.includes(secret));
      figures.add(format, { logLines: output.split("\n").length, secretsChecked: secrets.length, leaked: leaked.length });
      expect(leaked).toEqual([]);
    }, 90_000);
  }
});
