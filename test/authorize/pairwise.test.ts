/**
 * Pairwise subject identifiers (OIDC Core §8, Hydra's algorithm): sha256 hex of sector +
 * subject + salt, with the sector from the single redirect URI's host or the whole
 * sector_identifier_uri (fetched over https and required to list every redirect URI);
 * force_subject_identifier; and pairwise switched off with JWT access tokens.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { admin, authPath, Browser, challengeFrom, createClient, nonce, readResponse, runFlow, startEnv, startTimeout, state, verifyIdToken, type Env } from "../flows/kit.ts";

const salt = "pairwise-salt-for-tests";
const hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** The sector document server speaks https with a self-signed certificate (made by openssl). */
let sectorServer: ReturnType<typeof Bun.serve>;
let dir: string;
const sectorDocs = new Map<string, string>();
let previousTlsSetting: string | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gh-sector-"));
  const out = Bun.spawnSync([
    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
  ]);
  if (out.exitCode !== 0) throw new Error(`openssl failed: ${out.stderr.toString()}`);
  sectorServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") },
    fetch(req) {
      const body = sectorDocs.get(new URL(req.url).pathname);
      return body ? new Response(body, { headers: { "Content-Type": "application/json" } }) : new Response("no", { status: 404 });
    },
  });
  // This process (the test runner and the in-process server) trusts the self-signed certificate for this file only.
  previousTlsSetting = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
});
afterAll(() => {
  if (previousTlsSetting === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previousTlsSetting;
  sectorServer?.stop(true);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sectorUrl = (path: string) => `https://127.0.0.1:${sectorServer.port}${path}`;
const pairwiseConfig = { oidc: { subject_identifiers: { supported_types: ["public", "pairwise"], pairwise: { salt } } } };

for (const backend of ["PostgreSQL", "PGlite"] as const) {
  describe(`pairwise subjects on ${backend}`, () => {
    let env: Env;
    beforeAll(async () => {
      env = await startEnv(backend, "authz_pairwise", pairwiseConfig);
    }, startTimeout);
    afterAll(async () => {
      await env?.stop();
    });

    const flow = async (client: Record<string, any>, login: Record<string, unknown>, browser = new Browser(env)) =>
      readResponse(
        await runFlow(
          browser,
          { client_id: client.client_id, redirect_uri: client.redirect_uris[0], response_type: "id_token token", scope: "openid", state: state(), nonce: nonce() },
          { login },
        ),
      );

    test("sector = the redirect URI's host (with port): sub = sha256(host + subject + salt); public clients see the subject", async () => {
      const pairwise = await createClient(env, { subject_type: "pairwise", redirect_uris: ["https://rp.example:8443/cb"] });
      const res = await flow(pairwise, { subject: "alice" });
      const claims = await verifyIdToken(env, res.params.id_token!, pairwise.client_id);
      expect(claims.sub).toBe(hex(`rp.example:8443alice${salt}`));
      // The access token is the user's, with the client's view as obfuscated_subject (Hydra).
      const introspected = (await env.server
        .adminFetch("/oauth2/introspect", { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ token: res.params.access_token! }) })
        .then((r) => r.json())) as Record<string, unknown>;
      expect(introspected).toMatchObject({ active: true, sub: "alice", obfuscated_subject: claims.sub });
      const publicClient = await createClient(env, { redirect_uris: ["https://rp.example:8443/cb"] });
      expect((await verifyIdToken(env, (await flow(publicClient, { subject: "alice" })).params.id_token!, publicClient.client_id)).sub).toBe("alice");
    });

    test("sector_identifier_uri listing every redirect URI: the whole URI is the sector (as Hydra)", async () => {
      sectorDocs.set("/sector-ok.json", JSON.stringify(["https://client.test/cb", "https://client.test/two"]));
      const client = await createClient(env, { subject_type: "pairwise", sector_identifier_uri: sectorUrl("/sector-ok.json"), redirect_uris: ["https://client.test/cb", "https://client.test/two"] });
      const claims = await verifyIdToken(env, (await flow(client, { subject: "bob" })).params.id_token!, client.client_id);
      expect(claims.sub).toBe(hex(`${sectorUrl("/sector-ok.json")}bob${salt}`));
    });

    test("a sector document without the redirect URI, an unreachable one, or several redirect URIs without one: invalid_request", async () => {
      // Registration checks the documents too (clients/sector-identifier.ts), so both are good
      // while the clients are created and go bad afterwards: the flow must check again.
      const both = ["https://client.test/cb", "https://client.test/two"];
      sectorDocs.set("/sector-bad.json", JSON.stringify(both));
      sectorDocs.set("/sector-gone.json", JSON.stringify(["https://client.test/cb"]));
      const missing = await createClient(env, { subject_type: "pairwise", sector_identifier_uri: sectorUrl("/sector-bad.json"), redirect_uris: both });
      const unreachable = await createClient(env, { subject_type: "pairwise", sector_identifier_uri: sectorUrl("/sector-gone.json") });
      sectorDocs.set("/sector-bad.json", JSON.stringify(["https://client.test/cb"]));
      sectorDocs.delete("/sector-gone.json");
      const several = await createClient(env, { subject_type: "pairwise", redirect_uris: ["https://client.test/cb", "https://client.test/two"] });
      for (const [client, hint] of [
        [missing, "does not list its redirect URI 'https://client.test/two'"],
        [unreachable, "Unable to fetch the client's sector_identifier_uri"],
        [several, "has multiple redirect_uris but no sector_identifier_uri"],
      ] as const) {
        const res = readResponse(await new Browser(env).navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", redirect_uri: "https://client.test/cb", state: state() })));
        expect(res.target).toBe("https://client.test/cb");
        expect(res.params.error).toBe("invalid_request");
        expect(res.params.error_description).toContain(hint);
      }
    });

    test("force_subject_identifier: the client sees the forced value, and an id_token_hint with it matches the session", async () => {
      const client = await createClient(env, { subject_type: "pairwise", redirect_uris: ["https://client.test/cb"] });
      const browser = new Browser(env);
      const res = await flow(client, { subject: "carol", remember: true, force_subject_identifier: "forced-carol" }, browser);
      const claims = await verifyIdToken(env, res.params.id_token!, client.client_id);
      expect(claims.sub).toBe("forced-carol");
      const start = await browser.navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state(), id_token_hint: res.params.id_token! }));
      const login = await admin(env, `/oauth2/auth/requests/login?login_challenge=${challengeFrom(start, "login")}`);
      expect(login.body).toMatchObject({ skip: true, subject: "carol" });
    });
  });
}

describe("pairwise with JWT access tokens", () => {
  let env: Env;
  beforeAll(async () => {
    env = await startEnv("PostgreSQL", "authz_pairwise_jwt", { ...pairwiseConfig, strategies: { access_token: "jwt" } });
  }, startTimeout);
  afterAll(async () => {
    await env?.stop();
  });

  test("is switched off (Hydra): discovery drops it, a pairwise client's flow is invalid_request", async () => {
    const doc = (await (await env.server.publicFetch("/.well-known/openid-configuration")).json()) as Record<string, unknown>;
    expect(doc.subject_types_supported).toEqual(["public"]);
    const client = await createClient(env, { subject_type: "pairwise" });
    const res = readResponse(await new Browser(env).navigate(authPath({ client_id: client.client_id, response_type: "code", scope: "openid", state: state() })));
    expect(res.params.error).toBe("invalid_request");
    expect(res.params.error_description).toContain("Subject Identifier Algorithm 'pairwise'");
  });
});
