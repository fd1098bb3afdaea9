/**
 * oidc.dynamic_client_registration.enabled: off (the default) the DCR paths do not exist and
 * discovery has no registration_endpoint; on, both appear. An explicit
 * webfinger.oidc_discovery.client_registration_url is published as configured (Hydra).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { bearer, json, readBody, startTimeout } from "./support.ts";

let pg: TestDatabase;
let disabled: TestServer;
let enabled: TestServer;
let external: TestServer;

beforeAll(async () => {
  pg = await createTestDatabase("dcr_switch");
  await (await openMigrated(pg.dsn)).close();
  // Three servers on one database: the switch is in the route table and the discovery document, not the data.
  disabled = await startTestServer({ dsn: pg.dsn });
  enabled = await startTestServer({
    dsn: pg.dsn,
    config: { urls: { self: { issuer: "https://issuer.example/", public: "https://public.example/base/" } }, oidc: { dynamic_client_registration: { enabled: true } } },
  });
  external = await startTestServer({
    dsn: pg.dsn,
    config: { webfinger: { oidc_discovery: { client_registration_url: "https://register.example/clients" } } },
  });
}, startTimeout);
afterAll(async () => {
  await disabled?.stop();
  await enabled?.stop();
  await external?.stop();
  await pg?.drop();
});

const discovery = async (server: TestServer) => (await (await server.publicFetch("/.well-known/openid-configuration")).json()) as Record<string, unknown>;

describe("dynamic client registration disabled (the default)", () => {
  test("every DCR path is 404 Not Found, whatever the method", async () => {
    for (const path of ["/oauth2/register", "/connect/register", "/oauth2/register/some-id", "/connect/register/some-id"]) {
      for (const method of ["POST", "GET", "PUT", "DELETE"]) {
        const init: RequestInit = method === "POST" || method === "PUT" ? json({ redirect_uris: ["https://rp.example/cb"] }, method) : { method, headers: bearer("gth_rat_x.y") };
        const res = await disabled.publicFetch(path, init);
        expect({ path, method, status: res.status }).toEqual({ path, method, status: 404 });
        expect(await readBody(res)).toEqual({ error: "Not Found", error_description: "Unable to locate the requested resource" });
      }
    }
  });

  test("discovery has no registration_endpoint", async () => {
    expect("registration_endpoint" in (await discovery(disabled))).toBe(false);
  });
});

describe("dynamic client registration enabled", () => {
  test("discovery publishes <urls.self.public>oauth2/register, and registration_client_uri uses the same base", async () => {
    const doc = await discovery(enabled);
    expect(doc.registration_endpoint).toBe("https://public.example/base/oauth2/register");
    // Hydra's field order: right after authorization_endpoint.
    expect(Object.keys(doc).slice(0, 3)).toEqual(["issuer", "authorization_endpoint", "registration_endpoint"]);
    const res = await enabled.publicFetch("/oauth2/register", json({ redirect_uris: ["https://rp.example/cb"] }));
    expect(res.status).toBe(201);
    const body = await readBody(res);
    expect(body.registration_client_uri).toBe(`https://public.example/base/oauth2/register/${body.client_id}`);
  });

  test("a configured client_registration_url is published as is, and does not switch the endpoint on", async () => {
    expect((await discovery(external)).registration_endpoint).toBe("https://register.example/clients");
    expect((await external.publicFetch("/oauth2/register", json({}))).status).toBe(404);
  });
});
