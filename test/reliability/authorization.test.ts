/**
 * @module Authorization boundaries: admin routes are a 404 on the public listener under every
 * spelling (case, trailing slash, `//`, `%2F`, `..`, `/./`), sent as raw request lines so no
 * client normalises them first. Proven elsewhere, not repeated: a client cannot revoke another's
 * token (test/oauth2/introspection-revocation.test.ts "revocation: the owner revokes"),
 * introspection is admin-only ("introspection input errors … the endpoint is admin-only"),
 * a public client cannot use client_credentials (test/oauth2/token-endpoint.test.ts), another
 * client's registration token is refused (test/dcr/registration.test.ts), codes and refresh
 * tokens are bound to their client (test/grants/*.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createConnection } from "node:net";
import { createClient, startEnv, startTimeout, type Env } from "../flows/kit.ts";
import { recordFigures } from "./figures.ts";

/** Sends one raw HTTP/1.1 request line as written and returns the status and body. */
async function raw(port: number, method: string, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${method} ${target}`));
    }, 5000);
    socket.on("connect", () => socket.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`));
    socket.on("data", (c) => chunks.push(Buffer.from(c)));
    socket.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf("\r\n\r\n") + 4) });
    });
  });
}

/** Every spelling a proxy or router might fold into the canonical path. */
function spellings(path: string): string[] {
  const [first, ...rest] = path.slice(1).split("/");
  const tail = rest.length ? `/${rest.join("/")}` : "";
  return [
    path,
    path.toUpperCase(),
    `/${first![0]!.toUpperCase()}${first!.slice(1)}${tail}`,
    `${path}/`,
    `/${path}`,
    `//${path.slice(1)}`,
    path.replace(/\//g, "//"),
    `/%2F${path.slice(1)}`,
    path.replace(/\/(?=[^/]*$)/, "%2F"),
    path.replace(/\/(?=[^/]*$)/, "%2f"),
    `/./${path.slice(1)}`,
    `/x/..${path}`,
    `/x/%2E%2E${path}`,
    `/.well-known/..${path}`,
    `/health/alive/..${path}`,
    `${path}?`,
    `${path}#`,
    `${path};x`,
    `${path}%20`,
    `/%63${path.slice(2)}`,
    `http://127.0.0.1${path}`,
  ];
}

describe("admin routes on the public listener", () => {
  let env: Env;
  let clientId: string;
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "reliability_authz");
    clientId = (await createClient(env)).client_id;
  }, startTimeout);
  afterAll(async () => {
    await env?.stop();
  });

  const adminOnly: [string, string][] = [
    ["GET", "/clients"],
    ["GET", "/clients/CLIENT"],
    ["POST", "/clients"],
    ["GET", "/keys/hydra.openid.id-token"],
    ["GET", "/oauth2/auth/requests/login"],
    ["PUT", "/oauth2/auth/requests/consent/accept"],
    ["GET", "/oauth2/auth/sessions/consent"],
    ["POST", "/oauth2/introspect"],
    ["DELETE", "/oauth2/tokens"],
    ["POST", "/oauth2/flush"],
    ["GET", "/trust/grants/jwt-bearer/issuers"],
    ["GET", "/version"],
    ["GET", "/metrics/prometheus"],
  ];

  test("every spelling is a 404 (or a 400 for a request line the server refuses) and never reveals admin data", async () => {
    const port = Number(new URL(env.server.publicUrl).port);
    let sent = 0;
    for (const [method, template] of adminOnly) {
      const path = template.replace("CLIENT", clientId);
      for (const spelling of spellings(path)) {
        const { status, body } = await raw(port, method, spelling);
        sent++;
        expect({ method, spelling, status }).toEqual({ method, spelling, status: status === 400 ? 400 : 404 });
        expect(body).not.toContain(clientId);
        expect(body).not.toContain('"keys"');
        expect(body).not.toContain("hydra_");
      }
      // The admin listener still answers the canonical path: the test would notice a broken route.
      const adminPort = Number(new URL(env.server.adminUrl).port);
      expect((await raw(adminPort, method, path)).status).not.toBe(404);
    }
    console.log(`admin-route spellings sent to the public listener: ${sent}`);
    recordFigures("authorization", { adminRoutes: adminOnly.length, spellingsSentToPublicListener: sent });
  });
});
