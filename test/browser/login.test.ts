/**
 * End to end in a real browser: Debian's chromium (never a downloaded one) driven by
 * playwright-core, against a real server with the example app and `gatehouse token user` as
 * the relying party (a real process). Login and consent through the pages, the ID token
 * checked; a second run in the same browser skips both (remember); an RP-initiated logout
 * ends the session, after which the login page is back. A screenshot of every page lands in
 * test/.artifacts/browser/ (phone-sized viewport).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { chromium, type Browser as Chromium, type BrowserContext, type Page } from "playwright-core";
import { createClient, startEnv, startTimeout, verifyIdToken, type Env } from "../flows/kit.ts";
import { freePorts, repoRoot } from "../keys/support.ts";
import { exampleAppConfig, spawnTokenUser } from "../example-app/support.ts";

const chromiumPath = "/usr/bin/chromium";
const launchArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
const artifacts = `${repoRoot}test/.artifacts/browser`;
const secret = "browser-test-secret-0123456789";

let env: Env;
let browser: Chromium;
let context: BrowserContext;
let page: Page;
/** The client's own site: its logo and its post-logout page. */
let site: ReturnType<typeof Bun.serve>;
let clientId: string;
let ports: { public: number; callback: number };

const logo = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" rx="12" fill="#2da44e"/><text x="32" y="42" font-size="28" text-anchor="middle" fill="#fff" font-family="sans-serif">BT</text></svg>`;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  }
  mkdirSync(artifacts, { recursive: true });
  const [publicPort, callbackPort] = freePorts(2) as [number, number];
  ports = { public: publicPort, callback: callbackPort };
  // The issuer is the real address: the browser follows the URLs Gatehouse builds from it.
  env = await startEnv("PostgreSQL", "browser_login", {
    ...exampleAppConfig,
    urls: { ...exampleAppConfig.urls, self: { issuer: `http://127.0.0.1:${publicPort}/` } },
    serve: { public: { port: publicPort } },
  });
  site = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    routes: {
      "/logo.svg": () => new Response(logo, { headers: { "Content-Type": "image/svg+xml" } }),
      "/logged-out": () => new Response("<!DOCTYPE html><title>Signed out</title><h1>Signed out of Browser Test App</h1>", { headers: { "Content-Type": "text/html" } }),
    },
    fetch: () => new Response("not found", { status: 404 }),
  });
  const client = await createClient(env, {
    client_name: "Browser Test App",
    client_secret: secret,
    token_endpoint_auth_method: "client_secret_basic",
    logo_uri: `http://127.0.0.1:${site.port}/logo.svg`,
    // The site's own redirect URI lets its post-logout page on that origin be registered (Hydra's rule).
    redirect_uris: [`http://127.0.0.1:${callbackPort}/callback`, `http://127.0.0.1:${site.port}/callback`],
    post_logout_redirect_uris: [`http://127.0.0.1:${site.port}/logged-out`],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
  });
  clientId = client.client_id;
  browser = await chromium.launch({ executablePath: chromiumPath, args: launchArgs, timeout: 30_000 });
  context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
}, startTimeout);

afterAll(async () => {
  await browser?.close();
  site?.stop(true);
  await env?.stop();
});

const shot = (name: string) => page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });

function tokenUser() {
  return spawnTokenUser([
    "--endpoint", env.server.publicUrl,
    "--client-id", clientId,
    "--client-secret", secret,
    "-p", String(ports.callback),
    "--scope", "openid,offline_access,profile,email",
    "--format", "json",
    "--fail-after", "60s",
  ]);
}

/** The pages the browser was shown while `run` ran: "path status" of each document that is not a redirect. */
async function documentsDuring(run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const onResponse = (res: import("playwright-core").Response) => {
    if (res.request().resourceType() === "document" && (res.status() < 300 || res.status() >= 400)) seen.push(`${new URL(res.url()).pathname} ${res.status()}`);
  };
  page.on("response", onResponse);
  try {
    await run();
  } finally {
    page.off("response", onResponse);
  }
  return seen;
}

let firstClaims: Record<string, unknown>;
let firstIdToken: string;

test("first login: the login page, the consent page (client name and logo), the callback with a verified ID token", async () => {
  const cli = tokenUser();
  const shown = await documentsDuring(async () => {
    await page.goto(await cli.authorizationUrl);
    await page.waitForURL(/\/example\/login\?/);
    expect(await page.textContent("h1")).toBe("Sign in");
    await shot("1-login");

    await page.fill("#email", "foo@bar.com");
    await page.fill("#password", "wrong");
    await page.click("button[value=accept]");
    await page.waitForSelector(".error");
    expect(await page.textContent(".error")).toContain("not correct");
    await shot("2-login-wrong-password");

    await page.fill("#password", "foobar");
    await page.check("input[name=remember]");
    await page.click("button[value=accept]");
    await page.waitForURL(/\/example\/consent\?/);
    expect(await page.textContent("h1")).toBe("Allow access?");
    expect(await page.textContent("main")).toContain("Browser Test App");
    // The logo loaded under the page's CSP (img-src allows exactly its origin).
    expect(await page.$eval(".client img", (img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
    expect(await page.$$eval("input[name=grant_scope]", (els) => els.map((e) => (e as unknown as { value: string }).value))).toEqual(["openid", "offline_access", "profile", "email"]);
    await shot("3-consent");

    await page.check("input[name=remember]");
    await page.click("button[value=accept]");
    await page.waitForURL(/127\.0\.0\.1:\d+\/callback\?code=/);
    expect(await page.textContent("h1")).toBe("Logged in");
    expect(await page.textContent("main")).toContain('"email": "foo@bar.com"');
    await shot("4-callback");
  });
  expect(shown).toEqual(["/example/login 200", "/example/login 401", "/example/consent 200", "/callback 200"]);

  const { code, stdout } = await cli.result;
  expect(code).toBe(0);
  const out = JSON.parse(stdout);
  expect(out.id_token_verified).toBe(true);
  expect(out.refresh_token).toMatch(/^gth_rt_/);
  firstIdToken = out.id_token;
  firstClaims = await verifyIdToken(env, out.id_token, clientId);
  expect(firstClaims).toMatchObject({ sub: "foo@bar.com", email: "foo@bar.com", email_verified: true, name: "Foo Bar", preferred_username: "foo" });
}, 120_000);

test("second login in the same browser: login and consent are remembered, no page is shown before the callback", async () => {
  const cli = tokenUser();
  const shown = await documentsDuring(async () => {
    await page.goto(await cli.authorizationUrl);
    await page.waitForURL(/127\.0\.0\.1:\d+\/callback\?code=/);
    expect(await page.textContent("h1")).toBe("Logged in");
    await shot("5-remembered-callback");
  });
  expect(shown).toEqual(["/callback 200"]);
  const { code, stdout } = await cli.result;
  expect(code).toBe(0);
  const claims = await verifyIdToken(env, JSON.parse(stdout).id_token, clientId);
  // The same login session: same sid and auth_time.
  expect(claims).toMatchObject({ sub: "foo@bar.com", sid: firstClaims.sid, auth_time: firstClaims.auth_time, email: "foo@bar.com" });
}, 120_000);

test("logout: the confirm page, then the client's post-logout page with its state; the next login asks again", async () => {
  const logoutUrl = new URL("/oauth2/sessions/logout", env.server.publicUrl);
  logoutUrl.searchParams.set("id_token_hint", firstIdToken);
  logoutUrl.searchParams.set("post_logout_redirect_uri", `http://127.0.0.1:${site.port}/logged-out`);
  logoutUrl.searchParams.set("state", "bye-123");
  await page.goto(logoutUrl.toString());
  await page.waitForURL(/\/example\/logout\?/);
  expect(await page.textContent("h1")).toBe("Sign out?");
  expect(await page.textContent("main")).toContain("Browser Test App");
  await shot("6-logout-confirm");
  await page.click("button[value=accept]");
  await page.waitForURL(/\/logged-out\?state=bye-123$/);
  expect(await page.textContent("h1")).toBe("Signed out of Browser Test App");
  await shot("7-logged-out");

  const cli = tokenUser();
  try {
    await page.goto(await cli.authorizationUrl);
    await page.waitForURL(/\/example\/login\?/);
    expect(await page.textContent("h1")).toBe("Sign in");
    await shot("8-login-after-logout");
  } finally {
    cli.proc.kill();
    await cli.result;
  }
}, 120_000);
