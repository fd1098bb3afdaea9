/**
 * Hydra's own SDK (@ory/hydra-client 1.11.8, axios) unchanged against Gatehouse: the
 * PublicApi.dynamicClientRegistration* methods, which call /connect/register.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AdminApi, Configuration, PublicApi, type OAuth2Client } from "@ory/hydra-client";
import { backends, dcrConfig, forbiddenSecretBody, startTimeout, unauthorizedBody, type Started } from "./support.ts";

const auth = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

/** The SDK rejects non-2xx answers; this returns their status and body instead. */
async function failure(call: Promise<unknown>): Promise<{ status: number; data: unknown; challenge?: string }> {
  try {
    await call;
  } catch (err) {
    const response = (err as { response?: { status: number; data: unknown; headers: Record<string, string> } }).response;
    if (!response) throw err;
    return { status: response.status, data: response.data, challenge: response.headers["www-authenticate"] };
  }
  throw new Error("the call succeeded");
}

for (const backend of backends) {
  describe(`@ory/hydra-client 1.11.8 PublicApi DCR against Gatehouse on ${backend.name}`, () => {
    let started: Started;
    let publicApi: PublicApi;
    let adminApi: AdminApi;
    beforeAll(async () => {
      started = await backend.start("dcr_sdk", dcrConfig);
      publicApi = new PublicApi(new Configuration({ basePath: started.server.publicUrl }));
      adminApi = new AdminApi(new Configuration({ basePath: started.server.adminUrl }));
    }, startTimeout);
    afterAll(async () => {
      await started?.stop();
    });

    test("create, get, update (token rotation), delete", async () => {
      const input: OAuth2Client = {
        client_name: "SDK RP",
        redirect_uris: ["https://sdk-rp.example/cb"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        contacts: ["ops@sdk-rp.example"],
      };
      const created = await publicApi.dynamicClientRegistrationCreateOAuth2Client(input);
      expect(created.status).toBe(201);
      expect(created.data).toMatchObject({ ...input, scope: "offline_access offline openid", token_endpoint_auth_method: "client_secret_basic", client_secret_expires_at: 0 });
      const id = created.data.client_id!;
      const token = created.data.registration_access_token!;
      expect(created.data.client_secret).toHaveLength(32);
      expect(created.data.registration_client_uri).toBe(`http://127.0.0.1:4444/oauth2/register/${id}`);

      const got = await publicApi.dynamicClientRegistrationGetOAuth2Client(id, auth(token));
      expect(got.status).toBe(200);
      expect(got.data).toMatchObject({ client_id: id, client_name: "SDK RP", registration_access_token: token });
      expect(got.data.metadata).toBeUndefined();
      expect(got.data.client_secret).toBeUndefined();

      // A read-modify-write, as an SDK user writes it: the registration fields ride along and are ignored.
      const updated = await publicApi.dynamicClientRegistrationUpdateOAuth2Client(id, { ...got.data, client_name: "SDK RP 2" }, auth(token));
      expect(updated.status).toBe(200);
      expect(updated.data.client_name).toBe("SDK RP 2");
      const rotated = updated.data.registration_access_token!;
      expect(rotated).not.toBe(token);
      expect(await failure(publicApi.dynamicClientRegistrationGetOAuth2Client(id, auth(token)))).toEqual({ status: 401, data: unauthorizedBody, challenge: 'Bearer error="invalid_token"' });

      // The admin sees the same client.
      expect((await adminApi.getOAuth2Client(id)).data.client_name).toBe("SDK RP 2");

      const deleted = await publicApi.dynamicClientRegistrationDeleteOAuth2Client(id, auth(rotated));
      expect(deleted.status).toBe(204);
      expect(await failure(publicApi.dynamicClientRegistrationGetOAuth2Client(id, auth(rotated)))).toMatchObject({ status: 401, data: unauthorizedBody });
      expect(await failure(adminApi.getOAuth2Client(id))).toMatchObject({ status: 404 });
    });

    test("SDK errors carry Hydra's bodies: 403 for a chosen secret, 400 for metadata, 401 without the token", async () => {
      expect(await failure(publicApi.dynamicClientRegistrationCreateOAuth2Client({ client_secret: "chosen-by-me" }))).toMatchObject({ status: 403, data: forbiddenSecretBody });
      expect(await failure(publicApi.dynamicClientRegistrationCreateOAuth2Client({ metadata: { a: 1 } }))).toMatchObject({
        status: 400,
        data: { error: "invalid_client_metadata" },
      });
      const created = await publicApi.dynamicClientRegistrationCreateOAuth2Client({ redirect_uris: ["https://sdk-rp.example/cb"] });
      const id = created.data.client_id!;
      expect(await failure(publicApi.dynamicClientRegistrationGetOAuth2Client(id))).toEqual({ status: 401, data: unauthorizedBody, challenge: "Bearer" });
      expect(await failure(publicApi.dynamicClientRegistrationUpdateOAuth2Client(id, { client_name: "x" }))).toMatchObject({ status: 401 });
      expect(await failure(publicApi.dynamicClientRegistrationDeleteOAuth2Client(id))).toMatchObject({ status: 401 });
      expect(await failure(publicApi.dynamicClientRegistrationUpdateOAuth2Client(id, { client_secret: "new-secret" }, auth(created.data.registration_access_token!)))).toMatchObject({
        status: 403,
        data: forbiddenSecretBody,
      });
    });
  });
}
