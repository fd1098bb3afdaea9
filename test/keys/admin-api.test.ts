/** Admin API /keys/{set}[/{kid}] over real HTTP, on PostgreSQL and on PGlite. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { eq } from "drizzle-orm";
import { exportJWK, generateKeyPair, generateSecret, type JWK } from "jose";
import { unseal } from "../../src/lib/crypto.ts";
import { jsonWebKeys } from "../../src/storage/schema/keys.ts";
import { testSecret } from "../helpers/server.ts";
import { backendNames, postJson, secretMembers, startBackends, type Backends } from "./support.ts";

let backends: Backends;
beforeAll(async () => {
  backends = await startBackends("keys_admin");
});
afterAll(async () => {
  await backends?.stop();
});

const notFoundBody = { error: "Not Found", error_description: "Unable to locate the requested resource" };
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function modulusBits(n: string): number {
  return Buffer.from(n, "base64url").length * 8;
}

async function freshJwk(alg: "RS256" | "ES256" | "EdDSA" | "ES384", kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === "EdDSA" ? { crv: "Ed25519" } : {}) });
  return { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
}

describe.each(backendNames)("on %s", (name) => {
  const admin = (path: string, init?: RequestInit) => backends.servers[name].adminFetch(path, init);
  const set = (suffix: string) => `${name}-${suffix}`;

  describe("POST /keys/{set}", () => {
    const asymmetric: [string, string, Record<string, unknown>][] = [
      ["RS256", "RSA", { bits: 2048 }],
      ["RS384", "RSA", { bits: 2048 }],
      ["RS512", "RSA", { bits: 2048 }],
      ["PS256", "RSA", { bits: 2048 }],
      ["PS384", "RSA", { bits: 2048 }],
      ["PS512", "RSA", { bits: 2048 }],
      ["ES256", "EC", { crv: "P-256" }],
      ["ES384", "EC", { crv: "P-384" }],
      ["ES512", "EC", { crv: "P-521" }],
      ["EdDSA", "OKP", { crv: "Ed25519" }],
    ];
    test.each(asymmetric)("%s generates private:<kid> and public:<kid>, private material included", async (alg, kty, extra) => {
      const res = await admin(`/keys/${set("gen")}`, postJson({ alg, kid: `k-${alg}`, use: "sig" }));
      expect(res.status).toBe(201);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect(res.headers.get("location")).toBe(`/keys/${set("gen")}`);
      const { keys } = (await res.json()) as { keys: JWK[] };
      expect(keys.map((k) => [k.kid, k.kty, k.alg, k.use])).toEqual([
        [`private:k-${alg}`, kty, alg, "sig"],
        [`public:k-${alg}`, kty, alg, "sig"],
      ]);
      const [priv, pub] = keys as [JWK, JWK];
      expect(priv.d).toBeString();
      for (const m of secretMembers) expect(pub[m]).toBeUndefined();
      if (kty === "RSA") {
        expect(modulusBits(pub.n!)).toBe(extra.bits as number);
        for (const m of ["p", "q", "dp", "dq", "qi"] as const) expect(priv[m]).toBeString();
      } else {
        expect(pub.crv).toBe(extra.crv as string);
      }
      expect(pub.x ?? pub.n).toBe(priv.x ?? priv.n);
    });

    test.each([
      ["HS256", 32],
      ["HS384", 48],
      ["HS512", 64],
    ] as const)("%s generates one symmetric key with the kid as given", async (alg, bytes) => {
      const res = await admin(`/keys/${set("sym")}`, postJson({ alg, kid: `sym-${alg}`, use: "sig" }));
      expect(res.status).toBe(201);
      const { keys } = (await res.json()) as { keys: JWK[] };
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ kty: "oct", kid: `sym-${alg}`, alg, use: "sig" });
      expect(Buffer.from(keys[0]!.k!, "base64url").length).toBe(bytes);
    });

    test("an RSA size may be chosen: 3072 and 4096 bits", async () => {
      for (const bits of [3072, 4096]) {
        const res = await admin(`/keys/${set("sizes")}`, postJson({ alg: "RS256", kid: `rsa-${bits}`, use: "sig", bits }));
        expect(res.status).toBe(201);
        const { keys } = (await res.json()) as { keys: JWK[] };
        expect(modulusBits(keys[1]!.n!)).toBe(bits);
      }
    });

    test("an empty or absent kid becomes a UUID, for key pairs and for symmetric keys", async () => {
      const pair = (await (await admin(`/keys/${set("uuid")}`, postJson({ alg: "ES256", kid: "", use: "sig" }))).json()) as { keys: JWK[] };
      const id = pair.keys[0]!.kid!.slice("private:".length);
      expect(id).toMatch(uuid);
      expect(pair.keys[1]!.kid).toBe(`public:${id}`);
      const sym = (await (await admin(`/keys/${set("uuid")}`, postJson({ alg: "HS256", use: "sig" }))).json()) as { keys: JWK[] };
      expect(sym.keys[0]!.kid).toMatch(uuid);
    });

    test("use defaults to sig; enc is accepted as a label (Hydra)", async () => {
      const res = await admin(`/keys/${set("use")}`, postJson({ alg: "ES256", kid: "no-use" }));
      expect(((await res.json()) as { keys: JWK[] }).keys[0]!.use).toBe("sig");
      const enc = await admin(`/keys/${set("use")}`, postJson({ alg: "RS256", kid: "enc", use: "enc" }));
      expect(enc.status).toBe(201);
      expect(((await enc.json()) as { keys: JWK[] }).keys[1]!.use).toBe("enc");
    });

    test("a duplicate (set, kid) is a 409 and leaves the set unchanged", async () => {
      expect((await admin(`/keys/${set("dup")}`, postJson({ alg: "ES256", kid: "same", use: "sig" }))).status).toBe(201);
      const before = await (await admin(`/keys/${set("dup")}`)).json();
      const res = await admin(`/keys/${set("dup")}`, postJson({ alg: "ES256", kid: "same", use: "sig" }));
      expect(res.status).toBe(409);
      expect(await res.json()).toEqual({
        error: "Conflict",
        error_description: `Unable to insert or update resource because a resource with that value exists already: set '${set("dup")}' already has a key with one of the kids private:same, public:same.`,
      });
      expect(await (await admin(`/keys/${set("dup")}`)).json()).toEqual(before);
      const hs = await admin(`/keys/${set("dup")}`, postJson({ alg: "HS256", kid: "private:same", use: "sig" }));
      expect(hs.status).toBe(409);
    });

    test.each([
      ["an unsupported alg", { alg: "RS1024", kid: "x", use: "sig" }, "alg 'RS1024' cannot be generated; supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512."],
      ["alg none", { alg: "none", use: "sig" }, "alg 'none' cannot be generated; supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512."],
      ["no alg", { kid: "x", use: "sig" }, "Invalid request body: alg is required."],
      ["a numeric alg", { alg: 256 }, "Invalid request body: alg: alg must be a string."],
      ["an empty alg", { alg: "", use: "sig" }, "Invalid request body: alg: alg is required."],
      ["a non-string kid", { alg: "ES256", kid: 7, use: "sig" }, "Invalid request body: kid: kid must be a string."],
      ["an unknown use", { alg: "ES256", use: "encrypt" }, "Invalid request body: use: use must be 'sig' or 'enc'."],
      ["bits on an EC key", { alg: "ES256", bits: 2048 }, "bits applies to RSA keys (RS*, PS*) only, not to ES256."],
      ["a weak RSA size", { alg: "RS256", bits: 1024 }, "bits must be one of 2048, 3072, 4096 for RS256, got 1024."],
      ["a fractional size", { alg: "RS256", bits: 2048.5 }, "Invalid request body: bits: bits must be an integer."],
      ["a body that is an array", [1, 2], "Invalid request body: a JSON object was expected."],
      ["a body that is a string", '"RS256"', "Invalid request body: a JSON object was expected."],
      ["a too long kid", { alg: "HS256", kid: "k".repeat(256) }, "the key to generate: kid must be at most 255 characters, got 256."],
    ])("%s is a 400", async (_what, body, description) => {
      const res = await admin(`/keys/${set("bad")}`, postJson(body));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: "Bad Request", error_description: description });
      expect((await admin(`/keys/${set("bad")}`)).status).toBe(404);
    });

    test("malformed and empty bodies are 400", async () => {
      const bad = await admin(`/keys/${set("bad")}`, postJson("{not json"));
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toBe("Bad Request");
      const empty = await admin(`/keys/${set("bad")}`, { method: "POST" });
      expect(empty.status).toBe(400);
      expect(await empty.json()).toEqual({
        error: "Bad Request",
        error_description: "The request body is empty; a JSON document was expected",
      });
    });
  });

  describe("GET /keys/{set} and /keys/{set}/{kid}", () => {
    test("a set is listed newest first, private keys included", async () => {
      const first = (await (await admin(`/keys/${set("order")}`, postJson({ alg: "ES256", kid: "one", use: "sig" }))).json()) as { keys: JWK[] };
      await Bun.sleep(5);
      const second = (await (await admin(`/keys/${set("order")}`, postJson({ alg: "RS256", kid: "two", use: "sig" }))).json()) as { keys: JWK[] };
      await Bun.sleep(5);
      const third = (await (await admin(`/keys/${set("order")}`, postJson({ alg: "HS256", kid: "three", use: "sig" }))).json()) as { keys: JWK[] };
      const res = await admin(`/keys/${set("order")}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ keys: [...third.keys, ...second.keys, ...first.keys] });
    });

    test("a missing set is a 404", async () => {
      const res = await admin(`/keys/${set("nope")}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual(notFoundBody);
    });

    test("one key by kid (kids with ':' and '/' are path-encoded)", async () => {
      const created = (await (await admin(`/keys/${set("one")}`, postJson({ alg: "EdDSA", kid: "a/b", use: "sig" }))).json()) as { keys: JWK[] };
      const res = await admin(`/keys/${set("one")}/${encodeURIComponent("public:a/b")}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ keys: [created.keys[1]] });
      const missing = await admin(`/keys/${set("one")}/nope`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual(notFoundBody);
    });
  });

  describe("PUT /keys/{set}", () => {
    test("replaces the whole set in the order given, and echoes it", async () => {
      await admin(`/keys/${set("put")}`, postJson({ alg: "ES256", kid: "old", use: "sig" }));
      const a = await freshJwk("RS256", "a");
      const b = await freshJwk("ES256", "b");
      const c = { ...(await exportJWK(await generateSecret("HS256", { extractable: true }))), kid: "c", alg: "HS256", use: "sig" };
      const res = await admin(`/keys/${set("put")}`, postJson({ keys: [a, b, c] }, "PUT"));
      expect(res.status).toBe(200);
      const echoed = (await res.json()) as { keys: JWK[] };
      expect(echoed.keys.map((k) => k.kid)).toEqual(["a", "b", "c"]);
      expect(echoed.keys[0]).toEqual(a);
      const listed = (await (await admin(`/keys/${set("put")}`)).json()) as { keys: JWK[] };
      expect(listed).toEqual(echoed);
    });

    test("one bad key rejects the whole request and changes nothing", async () => {
      const before = await (await admin(`/keys/${set("put")}`)).json();
      const good = await freshJwk("ES256", "good");
      const weak = { kty: "oct", kid: "weak", alg: "HS256", k: Buffer.alloc(16, 1).toString("base64url") };
      const res = await admin(`/keys/${set("put")}`, postJson({ keys: [good, weak] }, "PUT"));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: "Bad Request", error_description: "JWK 'weak': HS256 needs a key of at least 32 bytes, got 16." });
      expect(await (await admin(`/keys/${set("put")}`)).json()).toEqual(before);
    });

    test("duplicate kids in the body are a 400", async () => {
      const k = await freshJwk("ES256", "twice");
      const res = await admin(`/keys/${set("put")}`, postJson({ keys: [k, k] }, "PUT"));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: "Bad Request",
        error_description: "The JWK Set has two keys with kid 'twice'; kids must be unique within a set.",
      });
    });

    test("a body without keys is a 400; an empty key list empties the set", async () => {
      const res = await admin(`/keys/${set("put-empty")}`, postJson({ key: [] }, "PUT"));
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: "Bad Request", error_description: "Invalid request body: keys is required." });
      const notArray = await admin(`/keys/${set("put-empty")}`, postJson({ keys: {} }, "PUT"));
      expect(await notArray.json()).toEqual({ error: "Bad Request", error_description: "Invalid request body: keys: keys must be an array of JSON Web Keys." });
      await admin(`/keys/${set("put-empty")}`, postJson({ alg: "ES256", kid: "x", use: "sig" }));
      const emptied = await admin(`/keys/${set("put-empty")}`, postJson({ keys: [] }, "PUT"));
      expect(emptied.status).toBe(200);
      expect(await emptied.json()).toEqual({ keys: [] });
      expect((await admin(`/keys/${set("put-empty")}`)).status).toBe(404);
    });
  });

  describe("PUT /keys/{set}/{kid}", () => {
    test("imports one JWK and replaces it when put again", async () => {
      const first = await freshJwk("ES384", "imp");
      const res = await admin(`/keys/${set("imp")}/imp`, postJson(first, "PUT"));
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(first);
      const second = await freshJwk("ES384", "imp");
      expect((await admin(`/keys/${set("imp")}/imp`, postJson(second, "PUT"))).status).toBe(200);
      expect(await (await admin(`/keys/${set("imp")}/imp`)).json()).toEqual({ keys: [second] });
    });

    test("the body's kid wins over the path's (Hydra); the path's fills a missing one", async () => {
      const key = await freshJwk("EdDSA", "from-body");
      expect((await admin(`/keys/${set("imp2")}/from-path`, postJson(key, "PUT"))).status).toBe(200);
      expect((await admin(`/keys/${set("imp2")}/from-body`)).status).toBe(200);
      expect((await admin(`/keys/${set("imp2")}/from-path`)).status).toBe(404);
      const { kid: _, ...noKid } = await freshJwk("ES256", "");
      const res = await admin(`/keys/${set("imp2")}/from-path`, postJson(noKid, "PUT"));
      expect(res.status).toBe(200);
      expect(((await res.json()) as JWK).kid).toBe("from-path");
    });

    test("alg and use are filled in for signature keys that lack them", async () => {
      const { alg: _a, use: _u, ...bare } = await freshJwk("ES256", "bare");
      const res = await admin(`/keys/${set("imp3")}/bare`, postJson(bare, "PUT"));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ kid: "bare", alg: "ES256", use: "sig" });
    });

    // jose refuses to make one, so node:crypto does.
    const rsa1024 = async () => ({ ...generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "jwk" }), kid: "weak", alg: "RS256", use: "sig" });
    const mismatched = async () => {
      const a = await freshJwk("ES256", "mix");
      const b = await freshJwk("ES256", "mix");
      return { ...a, d: b.d };
    };
    const rsaForeignD = async () => {
      const a = await freshJwk("RS256", "mix");
      const b = await freshJwk("RS256", "mix");
      return { ...a, d: b.d };
    };
    test.each([
      ["not an object", async () => 42, "A JSON Web Key must be a JSON object."],
      ["no kty", async () => ({ kid: "x", alg: "ES256" }), "JWK 'x': kty must be one of RSA, EC, OKP, oct; got null."],
      ["an unknown alg", async () => ({ ...(await freshJwk("ES256", "x")), alg: "ES999" }), "JWK 'x': unsupported alg 'ES999'; supported: RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, HS256, HS384, HS512, RSA-OAEP, RSA-OAEP-256, RSA-OAEP-384, RSA-OAEP-512, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A192KW, ECDH-ES+A256KW, A128KW, A192KW, A256KW, A128GCMKW, A192GCMKW, A256GCMKW."],
      ["alg and curve disagreeing", async () => ({ ...(await freshJwk("ES384", "x")), alg: "ES256" }), "JWK 'x': alg ES256 needs crv P-256, got 'P-384'."],
      ["alg and key type disagreeing", async () => ({ ...(await freshJwk("ES256", "x")), alg: "RS256" }), "JWK 'x': alg RS256 needs kty RSA, got EC."],
      ["an RSA key under 2048 bits", rsa1024, "JWK 'weak': RSA keys must be at least 2048 bits, got 1024."],
      ["an EC private key that does not match its public part", mismatched, "JWK 'mix': the key cannot be used with ES256"],
      ["an RSA key whose d belongs to another key", rsaForeignD, "JWK 'mix': the private and public members do not form one key pair (n, d and the CRT members disagree)."],
      ["a member that is not base64url", async () => ({ ...(await freshJwk("ES256", "x")), x: "abc+/=" }), "JWK 'x': member 'x' must be base64url without padding."],
      ["a missing member", async () => ({ kty: "RSA", kid: "x", alg: "RS256", e: "AQAB" }), "JWK 'x': member 'n' is required for a RSA key."],
      ["an invalid use", async () => ({ ...(await freshJwk("ES256", "x")), use: "both" }), "JWK 'x': use must be 'sig' or 'enc', got 'both'."],
      ["an enc key without alg", async () => ({ ...(await freshJwk("ES256", "x")), alg: undefined, use: "enc" }), "JWK 'x': alg is required for this key (it cannot be inferred from kty EC and crv P-256)."],
    ])("%s is a 400", async (_what, make, description) => {
      const res = await admin(`/keys/${set("badimp")}/x`, postJson(await make(), "PUT"));
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error).toBe("Bad Request");
      expect(body.error_description.slice(0, description.length)).toBe(description);
      expect((await admin(`/keys/${set("badimp")}`)).status).toBe(404);
    });
  });

  describe("DELETE", () => {
    test("/keys/{set}/{kid} removes one key; /keys/{set} the rest; both 204 (also when absent)", async () => {
      await admin(`/keys/${set("del")}`, postJson({ alg: "ES256", kid: "d", use: "sig" }));
      const one = await admin(`/keys/${set("del")}/private:d`, { method: "DELETE" });
      expect(one.status).toBe(204);
      expect(await one.text()).toBe("");
      expect((await admin(`/keys/${set("del")}/private:d`)).status).toBe(404);
      expect(((await (await admin(`/keys/${set("del")}`)).json()) as { keys: JWK[] }).keys.map((k) => k.kid)).toEqual(["public:d"]);
      expect((await admin(`/keys/${set("del")}`, { method: "DELETE" })).status).toBe(204);
      expect((await admin(`/keys/${set("del")}`)).status).toBe(404);
      expect((await admin(`/keys/${set("del")}`, { method: "DELETE" })).status).toBe(204);
      expect((await admin(`/keys/${set("del")}/gone`, { method: "DELETE" })).status).toBe(204);
    });
  });

  test("unsupported methods are 405", async () => {
    expect((await admin(`/keys/${set("x")}`, { method: "PATCH" })).status).toBe(405);
    expect((await admin(`/keys/${set("x")}/y`, { method: "POST" })).status).toBe(405);
  });

  test("keys are sealed at rest: no private or symmetric member in clear, public part kept for publishing", async () => {
    const pair = (await (await admin(`/keys/${set("rest")}`, postJson({ alg: "RS256", kid: "r", use: "sig" }))).json()) as { keys: JWK[] };
    const sym = (await (await admin(`/keys/${set("rest")}`, postJson({ alg: "HS512", kid: "s", use: "sig" }))).json()) as { keys: JWK[] };
    const rows = await backends.servers[name].deps.db.select().from(jsonWebKeys).where(eq(jsonWebKeys.setId, set("rest")));
    expect(rows).toHaveLength(3);
    const secrets = [pair.keys[0]!.d!, pair.keys[0]!.p!, sym.keys[0]!.k!];
    for (const row of rows) {
      const raw = JSON.stringify(row);
      for (const s of secrets) expect(raw).not.toContain(s);
      expect(row.sealedJwk).toStartWith("v1.");
      const opened = JSON.parse(unseal([testSecret], row.sealedJwk, "jwk")) as JWK;
      expect(opened.kid).toBe(row.kid);
    }
    const byKid = Object.fromEntries(rows.map((r) => [r.kid, r]));
    expect(byKid.s!.publicJwk).toBeNull();
    expect(byKid["private:r"]!.publicJwk).toEqual({ kty: "RSA", kid: "public:r", alg: "RS256", use: "sig", n: pair.keys[1]!.n, e: "AQAB" });
  });
});
