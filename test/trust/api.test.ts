/** Admin API of jwt-bearer trust relationships over real HTTP, on PostgreSQL and PGlite. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { getKey } from "../../src/keys/store.ts";
import { backends, type Started } from "../clients/backends.ts";
import { testSecret } from "../helpers/server.ts";
import { inOneYear, invalidRequestDescription, issuerKey, jsonInit, trustBody, trustPath, type IssuerKey } from "./support.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const rfc3339Seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const conflictDescription = "Unable to insert or update resource because a resource with that value exists already";

for (const backend of backends) {
  describe(backend.name, () => {
    let started: Started;
    let es: IssuerKey;
    let rsa: IssuerKey;
    beforeAll(async () => {
      started = await backend.start("trust_api");
      [es, rsa] = await Promise.all([issuerKey("es-1"), issuerKey("rsa-1", "RS256")]);
    });
    afterAll(async () => {
      await started?.stop();
    });
    const admin = (path: string, init?: RequestInit) => started.server.adminFetch(path, init);
    const db = () => started.server.deps.db;

    async function expectInvalid(body: unknown, hint: string) {
      const res = await admin(trustPath, jsonInit(body));
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 400,
        body: { error: "invalid_request", error_description: `${invalidRequestDescription} ${hint}` },
      });
    }

    test("POST stores the relationship and its public key; 201 with Hydra's Grant JSON and a Location", async () => {
      const expiresAt = "2099-01-02T03:04:05.678+02:00";
      const before = Date.now();
      const res = await admin(trustPath, jsonInit(trustBody(es, { issuer: "https://idp-a.example.com", expires_at: expiresAt })));
      expect(res.status).toBe(201);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      const body = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(body)).toEqual(["id", "issuer", "subject", "allow_any_subject", "scope", "public_key", "created_at", "expires_at"]);
      expect(body.id).toMatch(uuid);
      expect(res.headers.get("location")).toBe(`${trustPath}/${body.id}`);
      expect(body).toEqual({
        id: body.id,
        issuer: "https://idp-a.example.com",
        subject: "mike@example.com",
        allow_any_subject: false,
        scope: ["read", "write"],
        public_key: { set: "https://idp-a.example.com", kid: "es-1" },
        created_at: body.created_at,
        // UTC, rounded to the second as Hydra stores it (.678 rounds up).
        expires_at: "2099-01-02T01:04:06Z",
      });
      expect(body.created_at).toMatch(rfc3339Seconds);
      expect(Math.abs(Date.parse(body.created_at as string) - before)).toBeLessThan(5_000);

      // GET shows the same document.
      const got = await admin(`${trustPath}/${body.id}`);
      expect(got.status).toBe(200);
      expect(await got.json()).toEqual(body);

      // The key is in json_web_keys, set = issuer, as given (public only).
      const key = await getKey(db(), [testSecret], "https://idp-a.example.com", "es-1");
      expect(key?.jwk).toEqual({ use: "sig", kty: "EC", kid: "es-1", crv: "P-256", alg: "ES256", x: es.publicJwk.x!, y: es.publicJwk.y! });
    });

    test("allow_any_subject stores an empty subject; RSA, EdDSA and PS256 keys are accepted", async () => {
      const ed = await issuerKey("ed-1", "EdDSA");
      const ps = await issuerKey("ps-1", "PS256");
      for (const k of [rsa, ed, ps]) {
        const res = await admin(trustPath, jsonInit(trustBody(k, { issuer: "https://any.example.com", subject: undefined, allow_any_subject: true })));
        expect(res.status).toBe(201);
        const body = (await res.json()) as Record<string, unknown>;
        expect({ subject: body.subject, allow_any_subject: body.allow_any_subject, public_key: body.public_key }).toEqual({
          subject: "",
          allow_any_subject: true,
          public_key: { set: "https://any.example.com", kid: k.kid },
        });
      }
    });

    test("validation: every problem is a 400 invalid_request naming the field", async () => {
      const ok = trustBody(es, { issuer: "https://invalid.example.com" });
      const without = (field: string) => Object.fromEntries(Object.entries(ok).filter(([k]) => k !== field));
      await expectInvalid(without("issuer"), "Field 'issuer' is required.");
      await expectInvalid({ ...ok, issuer: "" }, "Field 'issuer' is required.");
      await expectInvalid({ ...ok, issuer: 42 }, "Field 'issuer' must be a string.");
      await expectInvalid({ ...ok, issuer: "x".repeat(256) }, "Field 'issuer' must be at most 255 characters.");
      await expectInvalid({ ...ok, allow_any_subject: true }, "Fields 'subject' and 'allow_any_subject' are mutually exclusive: set exactly one of them.");
      await expectInvalid(without("subject"), "Field 'subject' is required unless 'allow_any_subject' is true.");
      await expectInvalid({ ...ok, subject: "", allow_any_subject: false }, "Field 'subject' is required unless 'allow_any_subject' is true.");
      await expectInvalid({ ...ok, allow_any_subject: "yes" }, "Field 'allow_any_subject' must be a boolean.");
      await expectInvalid(without("scope"), "Field 'scope' is required.");
      await expectInvalid({ ...ok, scope: "read write" }, "Field 'scope' must be an array of strings.");
      await expectInvalid({ ...ok, scope: ["read", 1] }, "Field 'scope' must be an array of strings.");
      await expectInvalid({ ...ok, scope: ["has space"] }, "Field 'scope' holds a value that is not an RFC 6749 scope token (printable ASCII without spaces, quotes or backslashes).");
      await expectInvalid(without("expires_at"), "Field 'expires_at' is required.");
      await expectInvalid({ ...ok, expires_at: "2099-01-02" }, "Field 'expires_at' must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z.");
      await expectInvalid({ ...ok, expires_at: "2099-01-02T03:04:05" }, "Field 'expires_at' must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z.");
      await expectInvalid({ ...ok, expires_at: "2020-01-01T00:00:00Z" }, "Field 'expires_at' must be in the future.");
      await expectInvalid(without("jwk"), "Field 'jwk' is required.");
      await expectInvalid({ ...ok, jwk: "key" }, "Field 'jwk' must be a JSON Web Key (a JSON object).");
      await expectInvalid({ ...ok, jwk: { ...es.publicJwk, kid: undefined } }, "Field 'jwk' must contain a JWK with a kid.");
      await expectInvalid({ ...ok, jwk: es.privateJwk }, "Field 'jwk' must be a public key; it holds the private member(s) d.");
      await expectInvalid({ ...ok, jwk: rsa.privateJwk }, "Field 'jwk' must be a public key; it holds the private member(s) d, p, q, dp, dq, qi.");
      await expectInvalid(
        { ...ok, jwk: { kty: "oct", kid: "hs", alg: "HS256", k: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0" } },
        "Field 'jwk' must be an asymmetric public key; symmetric (kty oct) keys cannot be trusted.",
      );
      await expectInvalid({ ...ok, jwk: { ...rsa.publicJwk, use: "enc" } }, "Field 'jwk' must be a signature key (use 'sig'), got use 'enc'.");
      await expectInvalid({ ...ok, jwk: { ...rsa.publicJwk, alg: "RSA-OAEP", use: undefined } }, "Field 'jwk' must be a public key for an asymmetric signature algorithm (RS*, PS*, ES*, EdDSA), got alg RSA-OAEP.");
      await expectInvalid({ ...ok, jwk: { ...es.publicJwk, x: "not-a-point" } }, "Field 'jwk' is not a usable key: JWK 'es-1': the key cannot be used with ES256: Invalid keyData");
      await expectInvalid({ ...ok, issuer: "hydra.openid.id-token" }, "Field 'issuer' must not be 'hydra.openid.id-token': the issuer names the key set that holds its key, and that set is one Gatehouse signs with or publishes.");
      await expectInvalid([ok], "The request body must be a JSON object.");
      // Nothing of the refused requests was stored.
      const list = await admin(`${trustPath}?issuer=${encodeURIComponent("https://invalid.example.com")}`);
      expect(await list.json()).toEqual([]);
    });

    test("a body that is not JSON is a 400 Bad Request", async () => {
      const res = await admin(trustPath, jsonInit("{not json"));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe("Bad Request");
    });

    test("a duplicate (issuer, subject, kid) is a 409; another subject shares the key; another key under the same kid is a 409", async () => {
      const issuer = "https://dup.example.com";
      const first = await admin(trustPath, jsonInit(trustBody(es, { issuer })));
      expect(first.status).toBe(201);
      const { id } = (await first.json()) as { id: string };

      const dup = await admin(trustPath, jsonInit(trustBody(es, { issuer, scope: ["other"] })));
      expect({ status: dup.status, body: await dup.json() }).toEqual({
        status: 409,
        body: { error: "Conflict", error_description: `${conflictDescription} A trust relationship for issuer 'https://dup.example.com', subject 'mike@example.com' and kid 'es-1' exists already (id ${id}).` },
      });

      const other = await admin(trustPath, jsonInit(trustBody(es, { issuer, subject: "anne@example.com" })));
      expect(other.status).toBe(201);

      const impostor = await issuerKey("es-1");
      const clash = await admin(trustPath, jsonInit(trustBody(impostor, { issuer, subject: "carl@example.com" })));
      expect({ status: clash.status, body: await clash.json() }).toEqual({
        status: 409,
        body: { error: "Conflict", error_description: `${conflictDescription} Issuer 'https://dup.example.com' is already trusted with a different key under kid 'es-1'; a kid names one key.` },
      });
    });

    test("concurrent identical POSTs: exactly one is stored, the others are 409", async () => {
      const k = await issuerKey("race-1");
      const body = trustBody(k, { issuer: "https://race.example.com" });
      const statuses = await Promise.all(Array.from({ length: 10 }, () => admin(trustPath, jsonInit(body)).then((r) => r.status)));
      expect(statuses.sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409, 409, 409]);
      const list = await admin(`${trustPath}?issuer=${encodeURIComponent("https://race.example.com")}`);
      expect((await list.json()) as unknown[]).toHaveLength(1);
    });

    test("a kid already in the issuer's set but put there through /keys is a 409, and that key is left alone", async () => {
      const issuer = "admin-made-set";
      const put = await admin(`/keys/${issuer}/es-1`, jsonInit(es.publicJwk, "PUT"));
      expect(put.status).toBe(200);
      const res = await admin(trustPath, jsonInit(trustBody(es, { issuer })));
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 409,
        body: { error: "Conflict", error_description: `${conflictDescription} Key set 'admin-made-set' already holds a key with kid 'es-1' that no trust relationship owns; choose another kid.` },
      });
      expect(await getKey(db(), [testSecret], issuer, "es-1")).toBeDefined();
    });

    test("GET lists by id with Hydra's pagination headers, filtered by issuer", async () => {
      const issuer = "https://list.example.com";
      const ids: string[] = [];
      for (const subject of ["a", "b", "c", "d", "e"]) {
        const res = await admin(trustPath, jsonInit(trustBody(es, { issuer, subject })));
        ids.push(((await res.json()) as { id: string }).id);
      }
      ids.sort();
      const q = (extra: string) => `${trustPath}?issuer=${encodeURIComponent(issuer)}${extra}`;
      const all = await admin(q(""));
      expect(all.status).toBe(200);
      expect(all.headers.get("x-total-count")).toBe("5");
      const items = (await all.json()) as { id: string; issuer: string; subject: string }[];
      expect(items.map((i) => i.id)).toEqual(ids);
      expect(new Set(items.map((i) => i.issuer))).toEqual(new Set([issuer]));

      const page = await admin(q("&limit=2&offset=2"));
      expect(((await page.json()) as { id: string }[]).map((i) => i.id)).toEqual(ids.slice(2, 4));
      expect(page.headers.get("x-total-count")).toBe("5");
      expect(page.headers.get("link")).toBe(
        [
          `<${trustPath}?issuer=https%3A%2F%2Flist.example.com&limit=2&offset=0>; rel="first"`,
          `<${trustPath}?issuer=https%3A%2F%2Flist.example.com&limit=2&offset=4>; rel="next"`,
          `<${trustPath}?issuer=https%3A%2F%2Flist.example.com&limit=2&offset=0>; rel="prev"`,
          `<${trustPath}?issuer=https%3A%2F%2Flist.example.com&limit=2&offset=4>; rel="last"`,
        ].join(","),
      );

      const none = await admin(`${trustPath}?issuer=nobody`);
      expect({ status: none.status, total: none.headers.get("x-total-count"), body: await none.json() }).toEqual({ status: 200, total: "0", body: [] });
      // Unfiltered, the list holds the other issuers' relationships too.
      const everything = await admin(`${trustPath}?limit=500`);
      expect(Number(everything.headers.get("x-total-count"))).toBeGreaterThan(5);
    });

    test("GET and DELETE of an unknown id are 404; DELETE is 204 and takes the key with the last relationship using it", async () => {
      const notFound = { error: "Not Found", error_description: "Unable to locate the requested resource" };
      for (const method of ["GET", "DELETE"]) {
        const res = await admin(`${trustPath}/00000000-0000-4000-8000-000000000000`, { method });
        expect({ status: res.status, body: await res.json() }).toEqual({ status: 404, body: notFound });
      }
      const issuer = "https://delete.example.com";
      const k = await issuerKey("del-1");
      const a = (await (await admin(trustPath, jsonInit(trustBody(k, { issuer, subject: "a" })))).json()) as { id: string };
      const b = (await (await admin(trustPath, jsonInit(trustBody(k, { issuer, subject: "b" })))).json()) as { id: string };

      const delA = await admin(`${trustPath}/${a.id}`, { method: "DELETE" });
      expect({ status: delA.status, text: await delA.text() }).toEqual({ status: 204, text: "" });
      expect((await admin(`${trustPath}/${a.id}`)).status).toBe(404);
      // b still uses the key.
      expect(await getKey(db(), [testSecret], issuer, "del-1")).toBeDefined();

      expect((await admin(`${trustPath}/${b.id}`, { method: "DELETE" })).status).toBe(204);
      expect(await getKey(db(), [testSecret], issuer, "del-1")).toBeUndefined();
      expect((await admin(`${trustPath}/${b.id}`, { method: "DELETE" })).status).toBe(404);

      // With the key gone, the same kid may come back with another key.
      const again = await admin(trustPath, jsonInit(trustBody(await issuerKey("del-1"), { issuer, subject: "a", expires_at: inOneYear() })));
      expect(again.status).toBe(201);
    });

    test("a NUL (which PostgreSQL text cannot hold) is a 404, an empty list or a 400, never a 500", async () => {
      for (const method of ["GET", "DELETE"]) expect((await admin(`${trustPath}/%00`, { method })).status).toBe(404);
      const list = await admin(`${trustPath}?issuer=%00`);
      expect({ status: list.status, total: list.headers.get("x-total-count"), body: await list.json() }).toEqual({ status: 200, total: "0", body: [] });
      await expectInvalid(trustBody(es, { subject: "a\u0000b" }), "Field 'subject' must not contain control characters.");
      await expectInvalid(trustBody(es, { issuer: "https://nul.example.com\u0000" }), "Field 'issuer' must not contain control characters.");
    });

    test("other methods are 405", async () => {
      const res = await admin(trustPath, { method: "PUT" });
      expect(res.status).toBe(405);
    });
  });
}
