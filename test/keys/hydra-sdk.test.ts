/** The official Hydra v1 SDK (@ory/hydra-client 1.11.8, axios) drives the JWK admin API, on PostgreSQL and PGlite. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AdminApi, Configuration, type JSONWebKey } from "@ory/hydra-client";
import { exportJWK, generateKeyPair } from "jose";
import { backendNames, startBackends, type Backends } from "./support.ts";

let backends: Backends;
beforeAll(async () => {
  backends = await startBackends("keys_sdk");
});
afterAll(async () => {
  await backends?.stop();
});

/** axios rejects non-2xx: the status and body of the rejection. */
async function failure(p: Promise<unknown>): Promise<{ status?: number; data?: unknown }> {
  try {
    await p;
  } catch (err) {
    const response = (err as { response?: { status: number; data: unknown } }).response;
    return { status: response?.status, data: response?.data };
  }
  throw new Error("expected the SDK call to fail");
}

describe.each(backendNames)("on %s", (name) => {
  const sdk = () => new AdminApi(new Configuration({ basePath: backends.servers[name].adminUrl }));

  test("createJsonWebKeySet → getJsonWebKeySet → getJsonWebKey → deleteJsonWebKey → deleteJsonWebKeySet", async () => {
    const api = sdk();
    const created = await api.createJsonWebKeySet("sdk-set", { alg: "RS256", kid: "sdk", use: "sig" });
    expect(created.status).toBe(201);
    expect(created.data.keys!.map((k) => k.kid)).toEqual(["private:sdk", "public:sdk"]);
    expect(created.data.keys![0]!.d).toBeString();

    const es = await api.createJsonWebKeySet("sdk-set", { alg: "ES512", kid: "sdk-ec", use: "sig" });
    expect(es.data.keys![1]).toMatchObject({ kty: "EC", crv: "P-521", alg: "ES512", kid: "public:sdk-ec" });

    const set = await api.getJsonWebKeySet("sdk-set");
    expect(set.status).toBe(200);
    expect(set.data.keys!.map((k) => k.kid)).toEqual(["private:sdk-ec", "public:sdk-ec", "private:sdk", "public:sdk"]);

    const one = await api.getJsonWebKey("public:sdk", "sdk-set");
    expect(one.data).toEqual({ keys: [created.data.keys![1]!] });

    expect((await api.deleteJsonWebKey("private:sdk", "sdk-set")).status).toBe(204);
    expect((await failure(api.getJsonWebKey("private:sdk", "sdk-set"))).status).toBe(404);

    expect((await api.deleteJsonWebKeySet("sdk-set")).status).toBe(204);
    expect(await failure(api.getJsonWebKeySet("sdk-set"))).toEqual({
      status: 404,
      data: { error: "Not Found", error_description: "Unable to locate the requested resource" },
    });
  });

  test("updateJsonWebKeySet and updateJsonWebKey import keys; HS256 keeps its kid", async () => {
    const api = sdk();
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: "imported", alg: "ES256", use: "sig" } as JSONWebKey;
    const put = await api.updateJsonWebKeySet("sdk-import", { keys: [jwk] });
    expect(put.status).toBe(200);
    expect(put.data).toEqual({ keys: [jwk] });

    const hs = await api.createJsonWebKeySet("sdk-import", { alg: "HS256", kid: "shared", use: "sig" });
    expect(hs.data.keys!.map((k) => [k.kid, k.kty])).toEqual([["shared", "oct"]]);

    const replaced = { ...jwk, use: "enc", alg: "ECDH-ES" };
    const updated = await api.updateJsonWebKey("imported", "sdk-import", replaced);
    expect(updated.status).toBe(200);
    expect(updated.data).toEqual(replaced);
    expect((await api.getJsonWebKey("imported", "sdk-import")).data.keys![0]!.use).toBe("enc");
  });

  test("errors reach the SDK as Hydra-shaped JSON: 400 unsupported alg, 409 duplicate", async () => {
    const api = sdk();
    const bad = await failure(api.createJsonWebKeySet("sdk-err", { alg: "ES999", kid: "x", use: "sig" }));
    expect(bad.status).toBe(400);
    expect(bad.data).toMatchObject({ error: "Bad Request" });
    await api.createJsonWebKeySet("sdk-err", { alg: "ES256", kid: "x", use: "sig" });
    const dup = await failure(api.createJsonWebKeySet("sdk-err", { alg: "ES256", kid: "x", use: "sig" }));
    expect(dup.status).toBe(409);
    expect(dup.data).toMatchObject({ error: "Conflict" });
  });
});
