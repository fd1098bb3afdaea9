/**
 * @module `gatehouse token user` (Hydra v1 cmd/token_user.go): a relying party for one login.
 * It listens on 127.0.0.1 for the redirect, prints (and with --open opens) the authorization
 * URL, exchanges the code with PKCE S256 (RFC 7636) and a checked state, verifies the ID
 * token (signature from the JWKS, audience, nonce), prints the tokens and the ID token's
 * claims, and closes the listener. `--auto-client` first registers a client for it through
 * the admin API. `--endpoint` is the PUBLIC API, as in Hydra.
 */
import { createHash } from "node:crypto";
import { defineCommand } from "citty";
import { createLocalJWKSet, decodeJwt, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { constantTimeEqual, randomString } from "../lib/crypto.ts";
import { escapeHtml, htmlPage } from "../lib/html.ts";
import { adminRequest, expectStatus, remoteRequest, resolveEndpoint, type RemoteOptions } from "./admin-client.ts";
import { basicAuthorization } from "./token.ts";
import { fail } from "./shared.ts";

/** Hydra's StringSlice flags: repeatable, each value comma-separated (citty keeps only the last). */
function sliceValues(rawArgs: readonly string[], long: string, fallback: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === `--${long}` && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (arg.startsWith(`--${long}=`)) values.push(arg.slice(long.length + 3));
  }
  return (values.length > 0 ? values : [fallback])
    .flatMap((v) => v.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
}

function durationMs(text: string, flag: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!m) fail(`--${flag}: expected a duration such as 30s, 5m or 1h, got "${text}"`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000);
}

interface Pending {
  verifier: string;
  nonce: string;
}

interface TokenResponse {
  access_token?: string;
  refresh_token?: string;
  id_token?: string;
  expires_in?: number;
  scope?: string;
  token_type?: string;
}

interface Result {
  tokens: TokenResponse;
  claims?: JWTPayload;
  /** Why the ID token's signature could not be checked, when it could not. */
  unverified?: string;
}

export const tokenUser = defineCommand({
  meta: { name: "user", description: "Log in as a user in a browser (authorization code + PKCE) and print the tokens" },
  args: {
    endpoint: { type: "string", description: "Public API: http(s)://host:port (default: $HYDRA_URL, http://127.0.0.1:4444)" },
    "client-id": { type: "string", description: "The OAuth 2.0 client id (default: $OAUTH2_CLIENT_ID)" },
    "client-secret": { type: "string", description: "Its secret (default: $OAUTH2_CLIENT_SECRET); empty for a public client" },
    "auto-client": { type: "boolean", description: "Create a client for this login through the admin API (see --admin-endpoint)" },
    "admin-endpoint": { type: "string", description: "Admin API for --auto-client (default: $HYDRA_ADMIN_URL, $ADMIN_URL, http://127.0.0.1:4445)" },
    port: { type: "string", alias: "p", description: "Port of the local callback listener on 127.0.0.1", default: "4446" },
    redirect: { type: "string", description: "The redirect URI (default: http://127.0.0.1:<port>/callback)" },
    scope: { type: "string", description: "Scopes to request, comma-separated or repeated", default: "offline,openid" },
    audience: { type: "string", description: "Audiences to request, comma-separated or repeated" },
    prompt: { type: "string", description: "The OIDC prompt parameter (e.g. login, consent, none)" },
    "max-age": { type: "string", description: "The OIDC max_age parameter, in seconds" },
    "auth-url": { type: "string", description: "The authorization endpoint (default: <endpoint>/oauth2/auth)" },
    "token-url": { type: "string", description: "The token endpoint (default: <endpoint>/oauth2/token)" },
    open: { type: "boolean", description: "Open the authorization URL in a browser (default: only print it; --no-open is accepted)" },
    shutdown: { type: "boolean", default: true, description: "Stop after the first login; --no-shutdown keeps listening for more" },
    https: { type: "boolean", description: "Not supported: the callback listener serves plain HTTP on 127.0.0.1" },
    "fail-after": { type: "string", description: "Give up when no login has come back after this long", default: "5m" },
    "fake-tls-termination": { type: "boolean", description: "Send X-Forwarded-Proto: https to the token and admin endpoints" },
    "skip-tls-verify": { type: "boolean", description: "Do not verify the servers' TLS certificates" },
    format: { type: "string", description: "Output: text, or json (one object with the tokens and the ID token claims)", default: "text" },
  },
  async run({ args, rawArgs }) {
    if (args.https) fail("--https is not supported: the callback listener serves plain HTTP on 127.0.0.1 (RFC 8252 §7.3 allows http for loopback)");
    if (args.format !== "text" && args.format !== "json") fail(`--format: expected text or json, got "${args.format}"`);
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port: expected a port number, got "${args.port}"`);
    const waitMs = durationMs(args["fail-after"], "fail-after");
    const connection: RemoteOptions = {
      "fake-tls-termination": args["fake-tls-termination"],
      "skip-tls-verify": args["skip-tls-verify"],
      "fail-after": "30s",
    };
    const publicEndpoint = resolveEndpoint(args.endpoint || process.env.HYDRA_URL || "http://127.0.0.1:4444", {});
    const publicTarget = { endpoint: publicEndpoint, label: "the public API" };
    if (publicEndpoint.startsWith("unix:") && !args["auth-url"]) {
      fail("a browser cannot open a Unix socket: pass --auth-url with the public authorization endpoint");
    }
    const discovered = await discover(publicTarget, connection);
    // The browser must use the issuer's host, not the one this command reaches: the flow's
    // cookies are set for the host of the authorization URL and read on the issuer's.
    const authUrl = new URL(args["auth-url"] || discovered?.authorization_endpoint || `${publicEndpoint}/oauth2/auth`);
    let tokenTarget = publicTarget;
    let tokenPath = "/oauth2/token";
    if (args["token-url"]) {
      const url = new URL(args["token-url"]);
      tokenTarget = { endpoint: url.origin, label: "the token endpoint" };
      tokenPath = `${url.pathname}${url.search}`;
    }
    const scope = sliceValues(rawArgs, "scope", args.scope);
    const audience = sliceValues(rawArgs, "audience", "");
    const log = (line: string) => process.stderr.write(`${line}\n`);

    // The listener first: with -p 0 the redirect URI needs the port it got.
    let finish: (outcome: { ok: boolean }) => void = () => {};
    const finished = new Promise<{ ok: boolean }>((resolve) => (finish = resolve));
    const pending = new Map<string, Pending>();
    let redirectUri = args.redirect ?? "";
    let clientId = "";
    let clientSecret = "";
    let handler: (req: Request) => Promise<Response> = async () => new Response("starting", { status: 503 });
    let server: ReturnType<typeof Bun.serve>;
    try {
      server = Bun.serve({ hostname: "127.0.0.1", port, development: false, fetch: (req) => handler(req) });
    } catch (err) {
      fail(`cannot listen on 127.0.0.1:${port}: ${(err as Error).message} (choose another with -p)`);
    }
    redirectUri ||= `http://127.0.0.1:${server.port}/callback`;
    const callbackPath = new URL(redirectUri).pathname;

    try {
      if (args["auto-client"]) {
        const created = await adminRequest({ ...connection, endpoint: args["admin-endpoint"] }, "POST", "/clients", {
          client_name: "gatehouse token user",
          redirect_uris: [redirectUri],
          grant_types: ["authorization_code", "refresh_token"],
          response_types: ["code"],
          scope: scope.join(" "),
          audience,
          token_endpoint_auth_method: "client_secret_basic",
        });
        expectStatus(created, 201);
        const body = created.body as { client_id: string; client_secret: string };
        clientId = body.client_id;
        clientSecret = body.client_secret;
        log(`Created the client ${clientId} for this login; remove it with: gatehouse clients delete ${clientId}`);
      } else {
        clientId = args["client-id"] || process.env.OAUTH2_CLIENT_ID || "";
        clientSecret = args["client-secret"] || process.env.OAUTH2_CLIENT_SECRET || "";
        if (!clientId) fail("--client-id is required (or set OAUTH2_CLIENT_ID), or pass --auto-client");
      }

      /** A fresh authorization request: its own state, nonce and PKCE verifier. */
      const newAuthorizationUrl = (): string => {
        const state = randomString(32);
        const verifier = randomString(64);
        const nonce = randomString(32);
        if (pending.size >= 100) pending.delete(pending.keys().next().value!);
        pending.set(state, { verifier, nonce });
        const url = new URL(authUrl);
        const q = url.searchParams;
        q.set("response_type", "code");
        q.set("client_id", clientId);
        q.set("redirect_uri", redirectUri);
        q.set("scope", scope.join(" "));
        q.set("state", state);
        q.set("nonce", nonce);
        q.set("code_challenge", createHash("sha256").update(verifier).digest("base64url"));
        q.set("code_challenge_method", "S256");
        if (audience.length > 0) q.set("audience", audience.join(" "));
        if (args.prompt) q.set("prompt", args.prompt);
        if (args["max-age"]) q.set("max_age", args["max-age"]);
        return url.toString();
      };

      const exchange = async (code: string, request: Pending): Promise<Result> => {
        const form = new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: request.verifier });
        const headers: Record<string, string> = {};
        if (clientSecret) headers.Authorization = basicAuthorization(clientId, clientSecret);
        else form.set("client_id", clientId);
        const res = await remoteRequest(tokenTarget, connection, "POST", tokenPath, form, headers);
        const body = res.body as TokenResponse & { error?: string; error_description?: string };
        if (res.status !== 200 || typeof body !== "object" || !body.access_token) {
          throw new Error(`the token endpoint answered ${res.status}: ${body?.error ?? ""} ${body?.error_description ?? ""}`.trim());
        }
        if (!body.id_token) return { tokens: body };
        const claims = decodeJwt(body.id_token);
        // OIDC Core §3.1.3.7: a nonce that differs means the token is not the answer to our request.
        if (typeof claims.nonce !== "string" || !constantTimeEqual(claims.nonce, request.nonce)) {
          throw new Error("the ID token's nonce does not match the one sent");
        }
        try {
          const jwks = await remoteRequest(publicTarget, connection, "GET", "/.well-known/jwks.json");
          if (jwks.status !== 200) throw new Error(`${publicEndpoint}/.well-known/jwks.json answered ${jwks.status}`);
          await jwtVerify(body.id_token, createLocalJWKSet(jwks.body as JSONWebKeySet), { audience: clientId, issuer: discovered?.issuer });
          return { tokens: body, claims };
        } catch (err) {
          return { tokens: body, claims, unverified: (err as Error).message };
        }
      };

      const page = (title: string, body: string, status = 200) => {
        const res = htmlPage({ title, body, status, footer: "gatehouse token user: you can close this page." });
        // The listener closes after the first login: no connection should wait for more.
        if (args.shutdown) res.headers.set("Connection", "close");
        return res;
      };

      handler = async (req) => {
        const url = new URL(req.url);
        if (req.method !== "GET") return page("Not found", "<h1>Not found</h1>", 404);
        // The home page starts a new login, so a reload or a second try works too.
        if (url.pathname === "/") return new Response(null, { status: 302, headers: { Location: newAuthorizationUrl() } });
        if (url.pathname !== callbackPath) return page("Not found", "<h1>Not found</h1>", 404);
        const q = url.searchParams;
        const request = pending.get(q.get("state") ?? "");
        if (!request) {
          return page("Unknown login", `<h1>Unknown login</h1><p class="error">This answer does not belong to a login started here (unknown state). Start again at <a href="/">the start page</a>.</p>`, 400);
        }
        pending.delete(q.get("state")!);
        const error = q.get("error");
        if (error) {
          const text = `${error}: ${q.get("error_description") ?? ""} ${q.get("error_hint") ?? ""}`.trim();
          log(`The authorization server answered with an error: ${text}`);
          if (args.shutdown) finish({ ok: false });
          return page("Login failed", `<h1>Login failed</h1><p class="error">${escapeHtml(text)}</p>`, 400);
        }
        const code = q.get("code");
        if (!code) return page("Login failed", `<h1>Login failed</h1><p class="error">The answer has neither a code nor an error.</p>`, 400);
        let result: Result;
        try {
          result = await exchange(code, request);
        } catch (err) {
          log(`The code exchange failed: ${(err as Error).message}`);
          if (args.shutdown) finish({ ok: false });
          return page("Login failed", `<h1>Login failed</h1><p class="error">${escapeHtml((err as Error).message)}</p>`, 502);
        }
        printResult(result, args.format);
        if (args.shutdown) finish({ ok: true });
        return page("Logged in", resultHtml(result));
      };

      const first = newAuthorizationUrl();
      log(`Callback listener on http://127.0.0.1:${server.port}/ (redirect URI ${redirectUri})`);
      log(`Open this URL in a browser to log in:\n\n  ${first}\n`);
      if (args.open) openBrowser(first, log);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), waitMs)));
      const outcome = await Promise.race([finished, ...(args.shutdown ? [timeout] : [])]);
      clearTimeout(timer);
      if (outcome === "timeout") fail(`no login came back within ${args["fail-after"]} (--fail-after)`);
      // Let the browser receive its page (sent with Connection: close) before the listener closes.
      await Promise.race([server.stop(false), Bun.sleep(2000)]);
      if (!outcome.ok) process.exit(1);
    } finally {
      server.stop(true);
    }
  },
});

/** OIDC Discovery 1.0: where the browser goes, and whose ID tokens to expect; undefined when unavailable. */
async function discover(
  target: { endpoint: string; label: string },
  connection: RemoteOptions,
): Promise<{ issuer?: string; authorization_endpoint?: string } | undefined> {
  const res = await remoteRequest(target, connection, "GET", "/.well-known/openid-configuration");
  if (res.status !== 200 || typeof res.body !== "object" || res.body === null) return undefined;
  const doc = res.body as Record<string, unknown>;
  return {
    issuer: typeof doc.issuer === "string" ? doc.issuer : undefined,
    authorization_endpoint: typeof doc.authorization_endpoint === "string" ? doc.authorization_endpoint : undefined,
  };
}

function printResult(result: Result, format: string): void {
  const { tokens, claims } = result;
  if (format === "json") {
    const out = { ...tokens, ...(claims ? { id_token_claims: claims, id_token_verified: !result.unverified } : {}) };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const lines = [
    ["Access Token", tokens.access_token],
    ["Refresh Token", tokens.refresh_token],
    ["Expires in", tokens.expires_in === undefined ? undefined : `${tokens.expires_in}s`],
    ["Scope", tokens.scope],
    ["ID Token", tokens.id_token],
  ]
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k}:\n\t${v}\n`);
  if (claims) {
    lines.push(`ID Token Claims${result.unverified ? ` (signature NOT verified: ${result.unverified})` : " (signature verified)"}:\n${JSON.stringify(claims, null, 2)}\n`);
  }
  process.stdout.write(lines.join(""));
}

function resultHtml(result: Result): string {
  const { tokens, claims } = result;
  const block = (title: string, value: string | undefined) => (value ? `<h2>${escapeHtml(title)}</h2><pre>${escapeHtml(value)}</pre>` : "");
  return [
    "<h1>Logged in</h1>",
    claims ? block(`ID token claims${result.unverified ? " (signature not verified)" : ""}`, JSON.stringify(claims, null, 2)) : "",
    block("Access token", tokens.access_token),
    block("Refresh token", tokens.refresh_token),
    block("ID token", tokens.id_token),
    block("Scope", tokens.scope),
  ].join("\n");
}

/** Best effort: the URL is printed anyway. */
function openBrowser(url: string, log: (line: string) => void): void {
  const command = process.platform === "darwin" ? "open" : process.platform === "win32" ? "explorer" : "xdg-open";
  try {
    Bun.spawn([command, url], { stdout: "ignore", stderr: "ignore" });
  } catch {
    log(`Could not start "${command}"; open the URL above yourself.`);
  }
}
