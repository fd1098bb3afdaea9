/** Deleting a client takes its flows, remembered consents and forced subjects with it (and its tokens). */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { count, eq } from "drizzle-orm";
import { flows, obfuscatedSubjects } from "../../src/storage/schema/index.ts";
import { admin, Browser, createClient, nonce, readResponse, runFlow, startEnv, startTimeout, state, type Env } from "./kit.ts";

let env: Env;
beforeAll(async () => {
  env = await startEnv("PostgreSQL", "flows_client_delete");
}, startTimeout);
afterAll(async () => {
  await env?.stop();
});

test("DELETE /clients/{id}: its remembered consent, flows and forced subject are gone; another client's stay", async () => {
  const db = env.server.deps.db;
  const [doomed, kept] = [await createClient(env), await createClient(env)];
  for (const client of [doomed, kept]) {
    const res = readResponse(
      await runFlow(
        new Browser(env),
        { client_id: client.client_id, response_type: "id_token", scope: "openid", state: state(), nonce: nonce() },
        { login: { subject: "dora", force_subject_identifier: `forced-${client.client_id}` }, consent: { grant_scope: ["openid"], remember: true } },
      ),
    );
    expect(res.params.id_token).toBeString();
  }
  const rows = async (id: string) => ({
    flows: (await db.select({ n: count() }).from(flows).where(eq(flows.clientId, id)))[0]!.n,
    forced: (await db.select({ n: count() }).from(obfuscatedSubjects).where(eq(obfuscatedSubjects.clientId, id)))[0]!.n,
  });
  expect(await rows(doomed.client_id)).toEqual({ flows: 1, forced: 1 });

  expect((await admin(env, `/clients/${doomed.client_id}`, { method: "DELETE" })).status).toBe(204);
  expect(await rows(doomed.client_id)).toEqual({ flows: 0, forced: 0 });
  expect(await rows(kept.client_id)).toEqual({ flows: 1, forced: 1 });
  // The remembered consent of the deleted client is no longer listed for the subject.
  const sessions = await admin(env, "/oauth2/auth/sessions/consent?subject=dora");
  expect(sessions.body.map((s: any) => s.consent_request.client.client_id)).toEqual([kept.client_id]);
});
