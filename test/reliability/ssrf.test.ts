/**
 * @module The SSRF guard (lib/outbound.ts, Hydra v2's clients.http.disallow_private_ip_ranges
 * and clients.http.private_ip_exception_urls): every request the server makes for a client —
 * sector_identifier_uri, jwks_uri, request_uri, back-channel logout — is refused before it is
 * sent when its host is or resolves to a loopback, private, link-local or other non-public
 * address, in every spelling of it; registration answers 400 invalid_client_metadata and
 * request time invalid_client / invalid_request_uri / invalid_request; back-channel refusals
 * are logged without the token. Two servers share one PostgreSQL database: A with the guard
 * off (registers clients whose URLs are on loopback, as a client whose DNS later changed
 * would be), B with the guard on (the default) and one exception URL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createConsola, type LogObject } from "consola";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { sendBackchannelLogout } from "../../src/flows/back-channel.ts";
import { checkOutboundUrl, outboundFetch, OutboundRefusedError, pinTo, refusedAddressReason, type OutboundPolicy } from "../../src/lib/outbound.ts";
import { createTestDatabase, openMigrated, type TestDatabase } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { figuresOf } from "./figures.ts";
import { authPath, baseConfig, Browser, issuer, jsonInit, readResponse, startTimeout, state } from "../flows/kit.ts";

const guardOn: OutboundPolicy = { disallowPrivateIpRanges: true, privateIpExceptionUrls: [] };
const guardOff: OutboundPolicy = { disallowPrivateIpRanges: false, privateIpExceptionUrls: [] };

/** Every spelling of a place the guard must not reach (port 9 is discard: nothing is ever sent). */
const refusedUrls = [
  "http://127.0.0.1:9/x",
  "http://127.1:9/x",
  "http://10.1.2.3:9/x",
  "http://172.16.0.1:9/x",
  "http://192.168.1.1:9/x",
  "http://169.254.169.254/latest/meta-data/",
  "http://100.64.0.1:9/x",
  "http://0.0.0.0:9/x",
  "http://224.0.0.1:9/x",
  "http://[::1]:9/x",
  "http://[::]:9/x",
  "http://[::ffff:127.0.0.1]:9/x",
  "http://[::ffff:169.254.169.254]/x",
  "http://[fd00::1]:9/x",
  "http://[fe80::1]:9/x",
  "http://[64:ff9b::7f00:1]:9/x",
  "http://2130706433:9/x", // 127.0.0.1 in decimal
  "http://0177.0.0.1:9/x", // octal
  "http://0x7f.0.0.1:9/x", // hex
  "http://0x7f000001:9/x",
  "http://localhost:9/x", // a name that resolves to 127.0.0.1
  "http://LocalHost:9/x",
];

describe("the outbound policy", () => {
  test("refuses loopback, RFC 1918, link-local, CGNAT, unique-local, mapped, unspecified and multicast addresses in every spelling", async () => {
    for (const raw of refusedUrls) {
      const err = await checkOutboundUrl(guardOn, new URL(raw)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, raw).toBeInstanceOf(OutboundRefusedError);
      expect((err as OutboundRefusedError).kind, raw).toBe("forbidden");
    }
    for (const address of ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]) expect(refusedAddressReason(address), address).toBeUndefined();
    expect(await checkOutboundUrl(guardOn, new URL("https://8.8.8.8/x"))).toEqual({});
    // A name with no address is not fetched either.
    await expect(checkOutboundUrl(guardOn, new URL("http://no-such-host.invalid/x"))).rejects.toBeInstanceOf(OutboundRefusedError);
    await expect(checkOutboundUrl(guardOn, new URL("file:///etc/passwd"))).rejects.toBeInstanceOf(OutboundRefusedError);
    figuresOf("ssrf").add("refused", { "URL spellings refused before connecting": refusedUrls.length, "fetch kinds guarded": "sector_identifier_uri, jwks_uri (token endpoint and request objects), request_uri, back-channel logout" });
  });

  test("allows everything when clients.http.disallow_private_ip_ranges is false, and exactly the listed exception URLs (query ignored) when true", async () => {
    for (const raw of refusedUrls) expect(await checkOutboundUrl(guardOff, new URL(raw))).toEqual({});
    const policy = { disallowPrivateIpRanges: true, privateIpExceptionUrls: ["http://127.0.0.1:9/allowed"] };
    expect(await checkOutboundUrl(policy, new URL("http://127.0.0.1:9/allowed?x=1#f"))).toEqual({});
    await expect(checkOutboundUrl(policy, new URL("http://127.0.0.1:9/allowed/more"))).rejects.toBeInstanceOf(OutboundRefusedError);
    await expect(checkOutboundUrl(policy, new URL("http://127.0.0.1:10/allowed"))).rejects.toBeInstanceOf(OutboundRefusedError);
  });

  test("a refused URL is never connected to, and redirects are handed back, not followed", async () => {
    let hits = 0;
    const target = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req) => {
        hits++;
        return new URL(req.url).pathname === "/bounce" ? Response.redirect("http://169.254.169.254/", 302) : new Response("ok");
      },
    });
    try {
      await expect(outboundFetch(guardOn, `http://127.0.0.1:${target.port}/x`)).rejects.toBeInstanceOf(OutboundRefusedError);
      await expect(outboundFetch(guardOn, `http://localhost:${target.port}/x`)).rejects.toBeInstanceOf(OutboundRefusedError);
      expect(hits).toBe(0);
      const bounced = await outboundFetch(guardOff, `http://127.0.0.1:${target.port}/bounce`, { redirect: "follow" });
      expect(bounced.status).toBe(302);
      expect(hits).toBe(1);
    } finally {
      target.stop(true);
    }
  });

  test("the pinned request goes to the checked address with the original Host header and, over https, the original TLS server name", async () => {
    const dir = `/tmp/gatehouse-ssrf-${process.pid}`;
    const made = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${dir}-key.pem`, "-out", `${dir}-cert.pem`, "-days", "1", "-subj", "/CN=rp.example.test", "-addext", "subjectAltName=DNS:rp.example.test"],
      { stderr: "pipe" },
    );
    expect(made.exitCode).toBe(0);
    const echo = (req: Request) => new Response(`${req.headers.get("host")} ${new URL(req.url).pathname}`);
    const plain = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: echo });
    const tls = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: Bun.file(`${dir}-cert.pem`), key: Bun.file(`${dir}-key.pem`) }, fetch: echo });
    try {
      const [httpUrl, httpInit] = pinTo(new URL(`http://rp.example.test:${plain.port}/doc`), "127.0.0.1");
      expect(httpUrl.hostname).toBe("127.0.0.1");
      expect(await (await fetch(httpUrl, httpInit)).text()).toBe(`rp.example.test:${plain.port} /doc`);
      const ca = await Bun.file(`${dir}-cert.pem`).text();
      const [tlsUrl, tlsInit] = pinTo(new URL(`https://rp.example.test:${tls.port}/jwks`), "127.0.0.1", { tls: { ca } });
      expect(await (await fetch(tlsUrl, tlsInit)).text()).toBe(`rp.example.test:${tls.port} /jwks`);
      // The certificate is checked against the registered name: another name with the same IP fails.
      const [wrongUrl, wrongInit] = pinTo(new URL(`https://other.example.test:${tls.port}/jwks`), "127.0.0.1", { tls: { ca } });
      await expect(fetch(wrongUrl, wrongInit)).rejects.toThrow();
    } finally {
      plain.stop(true);
      tls.stop(true);
      Bun.spawnSync(["rm", "-f", `${dir}-key.pem`, `${dir}-cert.pem`]);
    }
  });
});

describe("the SSRF guard on a running server (PostgreSQL)", () => {
  let pg: TestDatabase;
  let open: TestServer; // clients.http.disallow_private_ip_ranges: false
  let guarded: TestServer; // the default: true
  let rp: ReturnType<typeof Bun.serve>;
  const fetched: string[] = [];
  let key: { privateKey: CryptoKey; publicKey: CryptoKey };
  let jwks: string;
  const rpUrl = (path: string) => `http://127.0.0.1:${rp.port}${path}`;
  const pairwise = { oidc: { subject_identifiers: { supported_types: ["public", "pairwise"], pairwise: { salt: "ssrf-test-salt-0123456789" } } } };

  beforeAll(async () => {
    key = await generateKeyPair("ES256");
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(key.publicKey)), kid: "k1", alg: "ES256", use: "sig" }] });
    rp = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const path = new URL(req.url).pathname;
        fetched.push(path);
        if (path === "/jwks.json") return new Response(jwks, { headers: { "Content-Type": "application/json" } });
        if (path.startsWith("/sector")) return Response.json(["https://client.test/cb"]);
        if (path === "/request") return new Response(new URLSearchParams().toString(), { status: 404 });
        return new Response("ok");
      },
    });
    pg = await createTestDatabase("reliability_ssrf");
    await (await openMigrated(pg.dsn)).close();
    const config = { ...baseConfig, ...pairwise, oidc: { ...pairwise.oidc, dynamic_client_registration: { enabled: true } } };
    open = await startTestServer({ dsn: pg.dsn, config });
    guarded = await startTestServer({
      dsn: pg.dsn,
      config: { ...config, clients: { http: { disallow_private_ip_ranges: true, private_ip_exception_urls: [rpUrl("/sector-excepted.json")] } } },
    });
  }, startTimeout);
  afterAll(async () => {
    await guarded?.stop();
    await open?.stop();
    await pg?.drop();
    rp?.stop(true);
  });

  const register = (server: TestServer, body: Record<string, unknown>) =>
    server.adminFetch("/clients", jsonInit({ redirect_uris: ["https://client.test/cb"], token_endpoint_auth_method: "none", ...body }, "POST"));

  test("registration (admin API and dynamic registration): each outbound field pointing at a refused host is 400 invalid_client_metadata, nothing fetched", async () => {
    const before = fetched.length;
    // https: the schema itself refuses plain http to hosts other than loopback for some fields.
    const samples = ["https://127.0.0.1:9/x", "https://10.0.0.1/x", "https://169.254.169.254/x", "https://[::1]:9/x", "https://[::ffff:127.0.0.1]:9/x", "https://localhost:9/x", "https://2130706433:9/x", "https://0177.0.0.1:9/x"];
    for (const url of samples) {
      for (const [field, value, extra] of [
        ["sector_identifier_uri", url, { subject_type: "pairwise" }],
        ["jwks_uri", url, { token_endpoint_auth_method: "private_key_jwt" }],
        ["request_uris", [url], {}],
        ["backchannel_logout_uri", url, {}],
      ] as const) {
        const res = await register(guarded, { [field]: value, ...extra });
        const body = (await res.json()) as Record<string, string>;
        expect(res.status, `${field} ${url}`).toBe(400);
        expect(body.error).toBe("invalid_client_metadata");
        expect(body.error_description).toContain(field);
        expect(body.error_description).toContain("non-public address");
      }
    }
    const dcr = await guarded.publicFetch("/oauth2/register", jsonInit({ redirect_uris: ["https://client.test/cb"], jwks_uri: "http://169.254.169.254/jwks" }, "POST"));
    expect(dcr.status).toBe(400);
    expect(((await dcr.json()) as Record<string, string>).error).toBe("invalid_client_metadata");
    expect(fetched.length).toBe(before);
    // The exception URL is fetched; the open server fetches loopback documents.
    expect((await register(guarded, { subject_type: "pairwise", sector_identifier_uri: rpUrl("/sector-excepted.json") })).status).toBe(201);
    expect((await register(open, { subject_type: "pairwise", sector_identifier_uri: rpUrl("/sector.json"), jwks_uri: rpUrl("/jwks.json") })).status).toBe(201);
    expect(fetched.slice(before)).toEqual(["/sector-excepted.json", "/sector.json"]);
  });

  test("jwks_uri at the token endpoint: refused with 401 invalid_client on the guarded server, used on the open one", async () => {
    const client = (await (await register(open, { jwks_uri: rpUrl("/jwks.json"), token_endpoint_auth_method: "private_key_jwt", token_endpoint_auth_signing_alg: "ES256", grant_types: ["client_credentials"] })).json()) as Record<string, string>;
    const assertion = () =>
      new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: "ES256", kid: "k1" })
        .setIssuer(client.client_id!)
        .setSubject(client.client_id!)
        .setAudience(`${issuer}oauth2/token`)
        .setIssuedAt()
        .setExpirationTime("1m")
        .sign(key.privateKey);
    const tokenRequest = async (server: TestServer) =>
      server.publicFetch("/oauth2/token", {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: await assertion() }),
      });
    const before = fetched.filter((p) => p === "/jwks.json").length;
    const refused = await tokenRequest(guarded);
    expect(refused.status).toBe(401);
    const body = (await refused.json()) as Record<string, string>;
    expect(body.error).toBe("invalid_client");
    expect(body.error_description).toContain("jwks_uri points to a loopback, private or otherwise non-public address");
    expect(fetched.filter((p) => p === "/jwks.json").length).toBe(before);
    expect((await tokenRequest(open)).status).toBe(200);
    expect(fetched.filter((p) => p === "/jwks.json").length).toBe(before + 1);
  });

  test("request_uri and a pairwise client's sector_identifier_uri at the authorization endpoint: refused on the guarded server", async () => {
    const registered = (await (await register(open, { request_uris: [rpUrl("/request")], grant_types: ["implicit"], response_types: ["token"] })).json()) as Record<string, string>;
    const anyUri = (await (await register(open, { grant_types: ["implicit"], response_types: ["token"] })).json()) as Record<string, string>;
    const browser = () => new Browser({ name: "PostgreSQL", server: guarded, stop: async () => {} });
    const before = fetched.length;
    const base = { response_type: "token", redirect_uri: "https://client.test/cb", state: state() };
    const first = readResponse(await browser().navigate(authPath({ ...base, client_id: registered.client_id, request_uri: rpUrl("/request") })));
    expect(first.params.error).toBe("invalid_request_uri");
    expect(first.params.error_description).toContain("non-public address");
    for (const uri of ["http://localhost:9/request", "http://[::ffff:7f00:1]:9/request", "http://169.254.169.254/request", "http://0x7f000001:9/request"]) {
      const res = readResponse(await browser().navigate(authPath({ ...base, client_id: anyUri.client_id, request_uri: uri })));
      expect(res.params.error, uri).toBe("invalid_request_uri");
      expect(res.params.error_description, uri).toContain("non-public address");
    }
    expect(fetched.length).toBe(before);

    // A request object signed with keys from the jwks_uri: refused on the guarded server; a
    // jwks_uri that refuses connections is a 400 on the open one, never a 500.
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const deadPort = dead.port;
    dead.stop(true);
    const signed = (await (await register(open, { jwks_uri: rpUrl("/jwks.json"), grant_types: ["implicit"], response_types: ["token"] })).json()) as Record<string, string>;
    const unreachable = (await (await register(open, { jwks_uri: `http://127.0.0.1:${deadPort}/jwks.json`, grant_types: ["implicit"], response_types: ["token"] })).json()) as Record<string, string>;
    const requestObject = (clientId: string) =>
      new SignJWT({ client_id: clientId, response_type: "token", redirect_uri: "https://client.test/cb" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(clientId).setAudience(issuer).setIssuedAt().setExpirationTime("5m").sign(key.privateKey);
    const byValue = async (server: TestServer, clientId: string) =>
      new Browser({ name: "PostgreSQL", server, stop: async () => {} }).navigate(authPath({ ...base, client_id: clientId, request: await requestObject(clientId) }));
    const jwksBefore = fetched.length;
    const refusedKeys = readResponse(await byValue(guarded, signed.client_id!));
    expect(refusedKeys.params.error).toBe("invalid_request_object");
    expect(refusedKeys.params.error_description).toContain("non-public address");
    expect(fetched.length).toBe(jwksBefore);
    expect((await byValue(open, signed.client_id!)).location).toStartWith("https://login.test/login");
    const deadKeys = readResponse(await byValue(open, unreachable.client_id!));
    expect(deadKeys.params.error).toBe("invalid_request_object");
    expect(deadKeys.params.error_description).toContain("jwks_uri could not be fetched");

    const pairwiseClient = (await (await register(open, { subject_type: "pairwise", sector_identifier_uri: rpUrl("/sector.json"), grant_types: ["implicit"], response_types: ["token"] })).json()) as Record<string, string>;
    const sectorBefore = fetched.length;
    const flow = readResponse(await browser().navigate(authPath({ ...base, client_id: pairwiseClient.client_id! })));
    expect(flow.params.error).toBe("invalid_request");
    expect(flow.params.error_description).toContain("sector_identifier_uri");
    expect(fetched.length).toBe(sectorBefore);
  });

  test("back-channel logout to a refused receiver: nothing is sent, the refusal is logged with the receiver and without the token", async () => {
    const lines: string[] = [];
    const log = createConsola({ level: 5, reporters: [{ log: (e: LogObject) => lines.push(e.args.map(String).join(" ")) }] });
    const before = fetched.length;
    const targets = ["/bc", "/bc?x=secret-query"].map((p, i) => ({ clientId: `bc-${i}`, uri: rpUrl(p), subject: "alice", sid: `sid-${i}` }));
    await sendBackchannelLogout({ ...guarded.deps, log }, [...targets, { clientId: "bc-meta", uri: "http://169.254.169.254/latest", subject: "alice", sid: "sid-m" }]);
    expect(fetched.length).toBe(before);
    expect(lines.length).toBe(3);
    for (const line of lines) {
      expect(line).toContain("back-channel logout of client");
      expect(line).toContain("non-public");
      expect(line).not.toMatch(/eyJ[\w-]+\.[\w-]+/); // no JWT
      expect(line).not.toContain("logout_token");
      expect(line).not.toContain("secret-query");
    }
    // The open server delivers.
    await sendBackchannelLogout(open.deps, [targets[0]!]);
    expect(fetched.slice(before)).toEqual(["/bc"]);
  });
});
