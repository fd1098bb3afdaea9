/**
 * @module `gatehouse token client|introspect|revoke|delete` (Hydra v1 cmd/token_*.go), and
 * `token flush` from cli/token-flush.ts. `client` and `revoke` speak RFC 6749 / RFC 7009 to
 * the PUBLIC endpoint (any compliant server); `introspect` and `delete` use the admin API.
 */
import { defineCommand } from "citty";
import { adminRequest, expectStatus, remoteArgs, remoteRequest, resolveEndpoint, type AdminResponse, type RemoteOptions } from "./admin-client.ts";
import { fail, repeatedFlag } from "./shared.ts";

const publicEndpointArg = {
  endpoint: {
    type: "string",
    description: "Public API: http(s)://host:port or unix:/path/to/public.sock (default: $HYDRA_URL, http://127.0.0.1:4444)",
  },
} as const;

const clientIdArg = { type: "string", description: "The OAuth 2.0 client id (default: $OAUTH2_CLIENT_ID)" } as const;
const clientSecretArg = { type: "string", description: "The OAuth 2.0 client secret (default: $OAUTH2_CLIENT_SECRET)" } as const;

/** The public endpoint: the flag, else $HYDRA_URL (never the admin URL variables). */
function publicTarget(flag: string | undefined) {
  return { endpoint: resolveEndpoint(flag || process.env.HYDRA_URL || "http://127.0.0.1:4444", {}), label: "the public API" };
}

/** Hydra's StringSlice flags: repeatable, each value comma-separated. */
function sliceFlag(rawArgs: readonly string[], long: string): string[] {
  return repeatedFlag(rawArgs, [`--${long}`])
    .flatMap((v) => v.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined and base64-encoded. */
export function basicAuthorization(clientId: string, secret: string): string {
  const enc = (s: string) => new URLSearchParams({ s }).toString().slice(2);
  return `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString("base64")}`;
}

function credentials(args: { "client-id"?: string; "client-secret"?: string }): { id: string; secret: string } {
  const id = args["client-id"] || process.env.OAUTH2_CLIENT_ID || "";
  const secret = args["client-secret"] || process.env.OAUTH2_CLIENT_SECRET || "";
  if (!id) fail("--client-id is required (or set OAUTH2_CLIENT_ID)");
  if (!secret) fail("--client-secret is required (or set OAUTH2_CLIENT_SECRET)");
  return { id, secret };
}

/** Ends the command with the OAuth error of a public endpoint. */
function expectPublicStatus(res: AdminResponse, what: string, ...ok: number[]): void {
  if (ok.includes(res.status)) return;
  const body = res.body as { error?: string; error_description?: string } | undefined;
  const detail = body && typeof body === "object" && body.error ? `${body.error}: ${body.error_description ?? ""}` : String(res.body ?? "");
  fail(`the ${what} answered ${res.status}: ${detail.trim()}`);
}

const tokenClient = defineCommand({
  meta: { name: "client", description: "Get an access token with the client_credentials grant (RFC 6749 §4.4)" },
  args: {
    ...remoteArgs,
    ...publicEndpointArg,
    "client-id": clientIdArg,
    "client-secret": clientSecretArg,
    scope: { type: "string", description: "Scopes to request (comma-separated or repeated)" },
    audience: { type: "string", description: "Audiences to request (comma-separated or repeated)" },
    "token-url": { type: "string", description: "The token endpoint, when it is not <endpoint>/oauth2/token" },
    "auth-method": { type: "string", description: "client_secret_basic (default) or client_secret_post", default: "client_secret_basic" },
    verbose: { type: "boolean", alias: "v", description: "Print the whole token response, not only the access token" },
  },
  async run({ args, rawArgs }) {
    const { id, secret } = credentials(args);
    const form = new URLSearchParams({ grant_type: "client_credentials" });
    const scope = sliceFlag(rawArgs, "scope");
    if (scope.length > 0) form.set("scope", scope.join(" "));
    const audience = sliceFlag(rawArgs, "audience");
    if (audience.length > 0) form.set("audience", audience.join(" "));
    const headers: Record<string, string> = {};
    if (args["auth-method"] === "client_secret_post") {
      form.set("client_id", id);
      form.set("client_secret", secret);
    } else if (args["auth-method"] === "client_secret_basic") {
      headers.Authorization = basicAuthorization(id, secret);
    } else {
      fail(`--auth-method: expected client_secret_basic or client_secret_post, got "${args["auth-method"]}"`);
    }
    let target = publicTarget(args.endpoint);
    let path = "/oauth2/token";
    if (args["token-url"]) {
      const url = new URL(args["token-url"]);
      target = { endpoint: url.origin, label: "the token endpoint" };
      path = `${url.pathname}${url.search}`;
    }
    const res = await remoteRequest(target, args as RemoteOptions, "POST", path, form, headers);
    expectPublicStatus(res, "token endpoint", 200);
    const body = res.body as { access_token?: string };
    if (args.verbose) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    else process.stdout.write(`${body.access_token ?? ""}\n`);
  },
});

const tokenIntrospect = defineCommand({
  meta: { name: "introspect", description: "Introspect an access or refresh token through the admin API (RFC 7662)" },
  args: {
    ...remoteArgs,
    token: { type: "positional", description: "The token", required: true },
    scope: { type: "string", description: "Scopes the token must have been granted (comma-separated or repeated)" },
  },
  async run({ args, rawArgs }) {
    const form = new URLSearchParams({ token: args.token });
    const scope = sliceFlag(rawArgs, "scope");
    if (scope.length > 0) form.set("scope", scope.join(" "));
    const res = await adminRequest(args as RemoteOptions, "POST", "/oauth2/introspect", form);
    expectStatus(res, 200);
    process.stdout.write(`${JSON.stringify(res.body, null, 2)}\n`);
  },
});

const tokenRevoke = defineCommand({
  meta: { name: "revoke", description: "Revoke an access or refresh token at the public API (RFC 7009)" },
  args: {
    ...remoteArgs,
    ...publicEndpointArg,
    token: { type: "positional", description: "The token", required: true },
    "client-id": clientIdArg,
    "client-secret": clientSecretArg,
  },
  async run({ args }) {
    const { id, secret } = credentials(args);
    const form = new URLSearchParams({ token: args.token });
    const res = await remoteRequest(publicTarget(args.endpoint), args as RemoteOptions, "POST", "/oauth2/revoke", form, {
      Authorization: basicAuthorization(id, secret),
    });
    expectPublicStatus(res, "revocation endpoint", 200);
    // RFC 7009 §2.2: 200 also for unknown tokens, so this cannot say whether one existed.
    process.stdout.write("Revoked OAuth 2.0 token (if it existed and belonged to the client)\n");
  },
});

const tokenDelete = defineCommand({
  meta: { name: "delete", description: "Revoke every token of a client through the admin API (DELETE /oauth2/tokens)" },
  args: {
    ...remoteArgs,
    "client-id": { type: "string", description: "The client whose tokens are revoked", required: true },
  },
  async run({ args }) {
    const res = await adminRequest(args as RemoteOptions, "DELETE", `/oauth2/tokens?client_id=${encodeURIComponent(args["client-id"])}`);
    expectStatus(res, 204);
    process.stdout.write(`Successfully deleted the tokens of client ${args["client-id"]}\n`);
  },
});

export const token = defineCommand({
  meta: { name: "token", description: "Issue, introspect, revoke and delete OAuth 2.0 tokens" },
  subCommands: {
    client: tokenClient,
    user: () => import("./token-user.ts").then((m) => m.tokenUser),
    introspect: tokenIntrospect,
    revoke: tokenRevoke,
    delete: tokenDelete,
    flush: () => import("./token-flush.ts").then((m) => m.tokenFlush),
  },
});
