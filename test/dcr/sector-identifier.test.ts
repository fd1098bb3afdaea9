/**
 * sector_identifier_uri is fetched at registration time (OpenID Connect Registration 1.0 §5)
 * for the admin API and dynamic registration: it must be a JSON array listing every
 * redirect_uri, or the request fails with 400 invalid_client_metadata naming the field.
 * Documents come from a real HTTP server on 127.0.0.1 (plain http to loopback is allowed
 * because test servers run with --dangerous-force-http; production needs https).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sectorIdentifierUriAllowed } from "../../src/clients/schemas.ts";
import { checkSectorIdentifier } from "../../src/clients/sector-identifier.ts";
import { OAuthError } from "../../src/errors.ts";
import type { TestServer } from "../helpers/server.ts";
import { backends, closedPort, dcrConfig, json, readBody, startDocumentServer, startTimeout, withToken, type DocumentServer, type Started } from "./support.ts";

const rp = ["https://rp.example/cb", "https://rp.example/two"];
// Started at load time: the test table below names its URLs.
const docs: DocumentServer = startDocumentServer();

beforeAll(() => {
  docs.set("/good.json", JSON.stringify([...rp, "https://rp.example/three"]));
  docs.set("/partial.json", JSON.stringify([rp[0]]));
  docs.set("/not-json.txt", "<html>hello</html>");
  docs.set("/object.json", JSON.stringify({ redirect_uris: rp }));
  docs.set("/numbers.json", JSON.stringify([1, 2]));
  docs.set("/empty.json", "[]");
  // 64 KiB is the limit (oauth2/remote-document.ts); this is about 100 KiB of valid JSON.
  docs.set("/big.json", JSON.stringify([...rp, ...Array.from({ length: 4000 }, (_, i) => `https://rp.example/padding/${i}`)]));
});
afterAll(() => {
  docs.stop();
});

const url = (path: string) => `${docs.base}${path}`;
const metadataError = { error: "invalid_client_metadata" };
/** The document server is on loopback: the SSRF guard is told to let it through (clients.http.*). */
const loopbackAllowed = { clients: { http: { disallow_private_ip_ranges: false, private_ip_exception_urls: [] } } };

for (const backend of backends) {
  describe(`sector_identifier_uri at registration on ${backend.name}`, () => {
    let started: Started;
    let server: TestServer;
    beforeAll(async () => {
      // error_debug on, so that the fetch failure's reason can be asserted.
      started = await backend.start("dcr_sector", { ...dcrConfig, oauth2: { ...dcrConfig.oauth2, expose_internal_errors: true } });
      server = started.server;
    }, startTimeout);
    afterAll(async () => {
      await started?.stop();
    });

    const adminCreate = (body: Record<string, unknown>) => server.adminFetch("/clients", json({ redirect_uris: rp, ...body }));
    const dcrCreate = (body: Record<string, unknown>) => server.publicFetch("/oauth2/register", json({ redirect_uris: rp, ...body }));
    const creators = [
      ["admin POST /clients", adminCreate],
      ["DCR POST /oauth2/register", dcrCreate],
    ] as const;

    test("a document listing every redirect URI (and more): 201, and it was fetched", async () => {
      for (const [, create] of creators) {
        const before = docs.hits();
        const res = await create({ sector_identifier_uri: url("/good.json"), subject_type: "public" });
        expect(res.status).toBe(201);
        expect((await readBody(res)).sector_identifier_uri).toBe(url("/good.json"));
        expect(docs.hits()).toBe(before + 1);
      }
    });

    const bad: [string, string, string][] = [
      ["a redirect URI missing", "/partial.json", `Field sector_identifier_uri: the document at '${url("/partial.json")}' does not list the redirect URI 'https://rp.example/two'.`],
      ["not JSON", "/not-json.txt", `Field sector_identifier_uri: the document at '${url("/not-json.txt")}' is not a JSON array of redirect URIs.`],
      ["a JSON object", "/object.json", `Field sector_identifier_uri: the document at '${url("/object.json")}' is not a JSON array of redirect URIs.`],
      ["an array of numbers", "/numbers.json", `Field sector_identifier_uri: the document at '${url("/numbers.json")}' is not a JSON array of redirect URIs.`],
      ["an empty array", "/empty.json", `Field sector_identifier_uri: the document at '${url("/empty.json")}' lists no redirect URIs.`],
      ["too big", "/big.json", "is larger than 65536 bytes"],
      ["a 404", "/absent.json", "answered status 404, expected 200"],
      ["a redirect (not followed)", "/redirect", "answered status 302, expected 200"],
    ];
    for (const [name, path, expected] of bad) {
      test(`${name}: 400 invalid_client_metadata naming the field, for admin and DCR alike`, async () => {
        for (const [who, create] of creators) {
          const res = await create({ sector_identifier_uri: url(path) });
          const body = await readBody(res);
          expect({ who, status: res.status, error: body.error }).toEqual({ who, status: 400, ...metadataError });
          expect(body.error_description).toContain("sector_identifier_uri");
          expect(body.error_description).toContain(expected);
        }
      });
    }

    test("an unreachable host: 400, unable to fetch", async () => {
      const dead = `http://127.0.0.1:${closedPort()}/sector.json`;
      for (const [, create] of creators) {
        const body = await readBody(await create({ sector_identifier_uri: dead }));
        expect(body.error).toBe("invalid_client_metadata");
        expect(body.error_description).toContain(`Field sector_identifier_uri: unable to fetch '${dead}'`);
      }
    });

    test("plain http to a host that is not loopback is refused before any fetch, even with --dangerous-force-http", async () => {
      const before = docs.hits();
      for (const [, create] of creators) {
        const body = await readBody(await create({ sector_identifier_uri: "http://sector.example/doc.json" }));
        expect(body).toEqual({
          error: "invalid_client_metadata",
          error_description: expect.stringContaining("Field sector_identifier_uri must be an HTTPS URL, got 'http://sector.example/doc.json'."),
        });
      }
      expect(docs.hits()).toBe(before);
    });

    test("admin PUT and PATCH: checked again when the URI or the redirect URIs change, not for unrelated edits", async () => {
      docs.set("/mutable.json", JSON.stringify(rp));
      const res = await adminCreate({ client_id: `sector-admin-${backend.name}`, sector_identifier_uri: url("/mutable.json") });
      expect(res.status).toBe(201);
      const client = await readBody(res);
      const path = `/clients/${client.client_id}`;
      // The document no longer lists the second redirect URI.
      docs.set("/mutable.json", JSON.stringify([rp[0]]));
      const before = docs.hits();
      expect((await server.adminFetch(path, json({ ...client, client_name: "renamed" }, "PUT"))).status).toBe(200);
      expect((await server.adminFetch(path, json([{ op: "replace", path: "/client_name", value: "patched" }], "PATCH"))).status).toBe(200);
      expect(docs.hits()).toBe(before);
      const added = await server.adminFetch(path, json({ ...client, redirect_uris: [...rp, "https://rp.example/new"] }, "PUT"));
      expect(added.status).toBe(400);
      expect((await readBody(added)).error_description).toContain("does not list the redirect URI");
      const moved = await server.adminFetch(path, json([{ op: "replace", path: "/sector_identifier_uri", value: url("/not-json.txt") }], "PATCH"));
      expect(moved.status).toBe(400);
      expect((await readBody(moved)).error_description).toContain("is not a JSON array of redirect URIs");
      expect(docs.hits()).toBe(before + 2);
    });

    test("DCR PUT: a new sector_identifier_uri is fetched and checked", async () => {
      const created = await readBody(await dcrCreate({}));
      const path = `/oauth2/register/${created.client_id}`;
      const refused = await server.publicFetch(path, withToken(created.registration_access_token, "PUT", { redirect_uris: rp, sector_identifier_uri: url("/partial.json") }));
      expect(refused.status).toBe(400);
      expect((await readBody(refused)).error_description).toContain("does not list the redirect URI 'https://rp.example/two'");
      // A refused update leaves the token as it was.
      const accepted = await server.publicFetch(path, withToken(created.registration_access_token, "PUT", { redirect_uris: rp, sector_identifier_uri: url("/good.json") }));
      expect(accepted.status).toBe(200);
      expect((await readBody(accepted)).sector_identifier_uri).toBe(url("/good.json"));
    });
  });
}

describe("sector_identifier_uri outside the test servers' mode", () => {
  test("production (no --dev, no --dangerous-force-http): https only, loopback http too is refused without a fetch", async () => {
    const production = { dev: false, forceHttp: false };
    expect(sectorIdentifierUriAllowed("https://rp.example/sector.json", production)).toBe(true);
    expect(sectorIdentifierUriAllowed(url("/good.json"), production)).toBe(false);
    expect(sectorIdentifierUriAllowed(url("/good.json"), { dev: true, forceHttp: false })).toBe(true);
    expect(sectorIdentifierUriAllowed("http://localhost:1/x", { dev: false, forceHttp: true })).toBe(true);
    expect(sectorIdentifierUriAllowed("http://10.0.0.1/x", { dev: true, forceHttp: true })).toBe(false);
    expect(sectorIdentifierUriAllowed("ftp://127.0.0.1/x", { dev: true, forceHttp: true })).toBe(false);
    const before = docs.hits();
    const refused = await checkSectorIdentifier({ mode: { ...production, insecureRedirectUrls: [] }, config: loopbackAllowed }, { sectorIdentifierUri: url("/good.json"), redirectUris: rp }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OAuthError);
    expect((refused as OAuthError).code).toBe("invalid_client_metadata");
    expect(docs.hits()).toBe(before);
  });

  test(
    "a document that does not answer within 3 s: 400 (the fetch is abandoned, the request does not hang)",
    async () => {
      const started = Date.now();
      const refused = await checkSectorIdentifier({ mode: { dev: false, forceHttp: true, insecureRedirectUrls: [] }, config: loopbackAllowed }, { sectorIdentifierUri: url("/slow"), redirectUris: rp }).catch(
        (e: unknown) => e,
      );
      const elapsed = Date.now() - started;
      expect(refused).toBeInstanceOf(OAuthError);
      expect((refused as OAuthError).hint).toContain("unable to fetch");
      expect((refused as OAuthError).debug).toContain("no answer within 3000 ms");
      expect(elapsed).toBeGreaterThanOrEqual(2_900);
      expect(elapsed).toBeLessThan(4_500);
    },
    10_000,
  );
});
