import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AdminApi, Configuration, type OAuth2Client } from "@ory/hydra-client";
import { authenticateClientSecret } from "../../src/clients/secrets.ts";
import { backends, type Started } from "./backends.ts";

/** Hydra's own SDK (v1.11.8, axios) unchanged: the code existing Hydra users run. */
for (const backend of backends) {
  describe(`@ory/hydra-client 1.11.8 AdminApi against Gatehouse on ${backend.name}`, () => {
    let started: Started;
    let admin: AdminApi;
    beforeAll(async () => {
      started = await backend.start("clients_sdk");
      admin = new AdminApi(new Configuration({ basePath: started.server.adminUrl }));
    });
    afterAll(async () => {
      await started?.stop();
    });

    const statusOf = async (call: Promise<unknown>) => {
      try {
        await call;
        return 0;
      } catch (err) {
        const response = (err as { response?: { status: number; data: unknown } }).response;
        if (!response) throw err;
        return { status: response.status, data: response.data };
      }
    };

    test("createOAuth2Client, getOAuth2Client, listOAuth2Clients, updateOAuth2Client, patchOAuth2Client, deleteOAuth2Client", async () => {
      const input: OAuth2Client = {
        client_id: "sdk-client",
        client_name: "SDK",
        redirect_uris: ["https://sdk.example/cb"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        scope: "openid offline",
        owner: "sdk-owner",
        metadata: { from: "sdk" },
      };
      const created = await admin.createOAuth2Client(input);
      expect(created.status).toBe(201);
      expect(created.headers.location).toBe("/clients/sdk-client");
      expect(created.data).toMatchObject({ ...input, token_endpoint_auth_method: "client_secret_basic", subject_type: "public" });
      const secret = created.data.client_secret!;
      expect(secret).toHaveLength(32);

      const got = await admin.getOAuth2Client("sdk-client");
      expect(got.status).toBe(200);
      expect(got.data.client_secret).toBeUndefined();
      expect(got.data).toMatchObject({ client_id: "sdk-client", client_name: "SDK", metadata: { from: "sdk" } });

      await admin.createOAuth2Client({ client_id: "sdk-client-2", owner: "sdk-owner", token_endpoint_auth_method: "none" });
      const listed = await admin.listOAuth2Clients(1, 0, undefined, "sdk-owner");
      expect(listed.status).toBe(200);
      expect(listed.data.map((c) => c.client_id)).toEqual(["sdk-client"]);
      expect(listed.headers["x-total-count"]).toBe("2");
      expect(listed.headers.link).toBe('</clients?limit=1&offset=1&owner=sdk-owner>; rel="next",</clients?limit=1&offset=1&owner=sdk-owner>; rel="last"');
      const byName = await admin.listOAuth2Clients(undefined, undefined, "SDK");
      expect(byName.data.map((c) => c.client_id)).toEqual(["sdk-client"]);

      // A typical read-modify-write: the secret is kept because GET does not return it.
      const updated = await admin.updateOAuth2Client("sdk-client", { ...got.data, client_name: "SDK 2" });
      expect(updated.status).toBe(200);
      expect(updated.data.client_name).toBe("SDK 2");
      expect(updated.data.client_secret).toBeUndefined();
      expect(await authenticateClientSecret(started.server.deps, "sdk-client", secret)).toBeDefined();

      const patched = await admin.patchOAuth2Client("sdk-client", [
        { op: "replace", path: "/client_name", value: "SDK 3" as unknown as object },
        { op: "add", path: "/audience/-", value: "https://api.example" as unknown as object },
      ]);
      expect(patched.status).toBe(200);
      expect(patched.data).toMatchObject({ client_name: "SDK 3", audience: ["https://api.example"] });

      const rotated = await admin.updateOAuth2Client("sdk-client", { ...patched.data, client_secret: "rotated-by-sdk" });
      expect(rotated.data.client_secret).toBe("rotated-by-sdk");

      const deleted = await admin.deleteOAuth2Client("sdk-client");
      expect(deleted.status).toBe(204);
      expect(await statusOf(admin.getOAuth2Client("sdk-client"))).toEqual({
        status: 404,
        data: { error: "Not Found", error_description: "Unable to locate the requested resource" },
      });
      expect(await statusOf(admin.deleteOAuth2Client("sdk-client"))).toMatchObject({ status: 404 });
    });

    test("SDK errors carry Hydra's bodies: 409 on a duplicate, 400 invalid_client_metadata, 400 on a failing patch", async () => {
      await admin.createOAuth2Client({ client_id: "sdk-dup" });
      expect(await statusOf(admin.createOAuth2Client({ client_id: "sdk-dup" }))).toMatchObject({ status: 409, data: { error: "Conflict" } });
      expect(await statusOf(admin.createOAuth2Client({ client_secret: "short" }))).toMatchObject({
        status: 400,
        data: { error: "invalid_client_metadata" },
      });
      expect(
        await statusOf(admin.patchOAuth2Client("sdk-dup", [{ op: "test", path: "/client_name", value: "not this" as unknown as object }])),
      ).toMatchObject({ status: 400, data: { error: "Bad Request" } });
    });
  });
}
