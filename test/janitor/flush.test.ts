/** POST /oauth2/flush on the admin listener over real HTTP, on PostgreSQL and PGlite. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { backends, type Started } from "../clients/backends.ts";
import { addAccessToken, addCode, addJti, addRefreshToken, addTrust, emptyTables, hour, minute, remaining } from "./support.ts";

const invalidRequestDescription =
  "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.";

for (const backend of backends) {
  describe(backend.name, () => {
    let started: Started;
    beforeAll(async () => {
      started = await backend.start("janitor_flush");
    });
    afterAll(async () => {
      await started?.stop();
    });
    const db = () => started.server.deps.db;
    const flush = (body?: string, headers: Record<string, string> = { "Content-Type": "application/json" }) =>
      started.server.adminFetch("/oauth2/flush", { method: "POST", headers, body });

    beforeEach(async () => {
      const now = Date.now();
      const at = (ms: number) => new Date(now + ms);
      await emptyTables(db());
      await addAccessToken(db(), { signature: "expired-old", requestedAt: at(-2 * hour), expiresAt: at(-hour) });
      await addAccessToken(db(), { signature: "expired-young", requestedAt: at(-10 * minute), expiresAt: at(-minute) });
      await addAccessToken(db(), { signature: "live", requestedAt: at(-minute), expiresAt: at(hour) });
      await addRefreshToken(db(), { signature: "expired-old", requestedAt: at(-2 * hour), expiresAt: at(-hour) });
      await addRefreshToken(db(), { signature: "live", requestedAt: at(-minute), expiresAt: at(hour) });
      await addCode(db(), { signature: "expired-old", requestedAt: at(-2 * hour), expiresAt: at(-hour) });
      await addJti(db(), "expired", at(-minute));
      await addJti(db(), "live", at(minute));
      await addTrust(db(), { id: "expired", issuer: "https://flush.example.com", subject: "a", kid: "k1", expiresAt: at(-minute) });
      await addTrust(db(), { id: "live", issuer: "https://flush.example.com", subject: "b", kid: "k2", expiresAt: at(hour) });
    });

    test("an empty body flushes everything expired by now: 204 without a body", async () => {
      const res = await flush(undefined, {});
      expect({ status: res.status, text: await res.text() }).toEqual({ status: 204, text: "" });
      expect(await remaining(db())).toEqual({
        access: ["live"],
        refresh: ["live"],
        codes: [],
        jti: ["live"],
        trust: ["live"],
        keys: ["https://flush.example.com/k2"],
      });
    });

    test("notAfter keeps what was issued after it (Hydra's `token flush --min-age`); null means now", async () => {
      const notAfter = new Date(Date.now() - hour).toISOString();
      expect((await flush(JSON.stringify({ notAfter }))).status).toBe(204);
      expect((await remaining(db())).access).toEqual(["expired-young", "live"]);
      // Go's zero time, which a Go client sends for an unset time, means now as in Hydra.
      expect((await flush(JSON.stringify({ notAfter: "0001-01-01T00:00:00Z" }))).status).toBe(204);
      expect((await remaining(db())).access).toEqual(["live"]);
      expect((await flush(JSON.stringify({ notAfter: null }))).status).toBe(204);
    });

    test("a bad body is a 400 invalid_request and deletes nothing", async () => {
      const cases: [string, string][] = [
        ['{"notAfter":"yesterday"}', "Field 'notAfter' must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z."],
        ['{"notAfter":1700000000}', "Field 'notAfter' must be an RFC 3339 date-time string."],
        ["[]", "The request body must be a JSON object."],
        ["{not json", 'The request body must be JSON: {"notAfter": "<RFC 3339 date-time>"}.'.replace(/"/g, "'")],
      ];
      for (const [body, hint] of cases) {
        const res = await flush(body);
        expect({ status: res.status, body: await res.json() }).toEqual({
          status: 400,
          body: { error: "invalid_request", error_description: `${invalidRequestDescription} ${hint}` },
        });
      }
      expect((await remaining(db())).access).toEqual(["expired-old", "expired-young", "live"]);
    });

    test("only POST", async () => {
      expect((await started.server.adminFetch("/oauth2/flush")).status).toBe(405);
      // Not on the public listener.
      expect((await started.server.publicFetch("/oauth2/flush", { method: "POST" })).status).toBe(404);
    });
  });
}
