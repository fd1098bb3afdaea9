/**
 * client_credentials tokens under concurrency go through the group commit of access token rows
 * (oauth2/store.ts): concurrent requests share INSERT statements, every answered token is
 * committed (introspectable at once), and a failing request in the same burst affects no other
 * and leaves no row. On PostgreSQL and PGlite.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { count, eq } from "drizzle-orm";
import { accessTokenGroup } from "../../src/oauth2/store.ts";
import { accessTokens } from "../../src/storage/schema/index.ts";
import { basic, createClient, form, introspect, startOAuthServer, tokenRequest, type BackendName, type OAuthServer } from "./support.ts";

const servers: Partial<Record<BackendName, OAuthServer>> = {};
const machine = { id: "machine", secret: "machine-secret-123456" };
const bystander = { id: "bystander", secret: "bystander-secret-123456" };

beforeAll(async () => {
  const [pg, lite] = await Promise.all([startOAuthServer("postgres", "group_commit"), startOAuthServer("pglite", "group_commit")]);
  servers.postgres = pg;
  servers.pglite = lite;
  for (const s of [pg, lite]) {
    for (const c of [machine, bystander]) {
      await createClient(s.server, { client_id: c.id, client_secret: c.secret, grant_types: ["client_credentials"], scope: "read write" });
    }
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([servers.postgres?.stop(), servers.pglite?.stop()]);
}, 60_000);

describe.each(["postgres", "pglite"] as const)("on %s", (name) => {
  test("a burst of concurrent token requests shares statements; every token is committed when answered", async () => {
    const { server } = servers[name]!;
    const group = accessTokenGroup(server.deps.db);
    const before = { batches: group.batches, rows: group.rows };
    const n = 64;
    const request = (i: number) =>
      i % 16 === 5
        ? // A wrong secret in the middle of the burst: refused, writes nothing, disturbs no one.
          tokenRequest(server, form({ grant_type: "client_credentials", scope: "read" }, { Authorization: basic(bystander.id, "wrong-secret") }))
        : tokenRequest(server, form({ grant_type: "client_credentials", scope: "read" }, { Authorization: basic(machine.id, machine.secret) }));
    // Warm the secret verification cache first, so the burst reaches the insert together.
    expect((await request(0)).status).toBe(200);
    const replies = await Promise.all(Array.from({ length: n }, (_, i) => request(i + 1)));
    const ok = replies.filter((r) => r.status === 200);
    const refused = replies.filter((r) => r.status === 401);
    expect(refused).toHaveLength(4);
    expect(ok).toHaveLength(n - 4);
    // Every answered token is introspectable right away (its row was committed before the answer).
    const seen = await Promise.all(ok.map((r) => introspect(server, r.body.access_token as string)));
    for (const s of seen) expect(s.body).toMatchObject({ active: true, client_id: machine.id, scope: "read" });
    expect(group.rows - before.rows).toBe(n - 4 + 1);
    // Shared statements: fewer INSERTs than tokens.
    expect(group.batches - before.batches).toBeLessThan(n - 4 + 1);
    const [bystanderRows] = await server.deps.db.select({ n: count() }).from(accessTokens).where(eq(accessTokens.clientId, bystander.id));
    expect(Number(bystanderRows!.n)).toBe(0);
  });
});
