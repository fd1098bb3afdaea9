/** @module The two databases every clients test runs against, each behind a real in-process server. */
import { createTestDatabase, openMigrated } from "../helpers/db.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

export interface Started {
  server: TestServer;
  stop(): Promise<void>;
}

export interface Backend {
  name: "PostgreSQL" | "PGlite";
  start(label: string, config?: Record<string, unknown>): Promise<Started>;
}

/** bcrypt cost 4 keeps tests quick where the hash cost is not what is being tested. */
export const fastHashing = { oauth2: { hashers: { bcrypt: { cost: 4 } } } };

export const backends: Backend[] = [
  {
    name: "PostgreSQL",
    async start(label, config = fastHashing) {
      const pg = await createTestDatabase(label);
      try {
        await (await openMigrated(pg.dsn)).close();
        const server = await startTestServer({ dsn: pg.dsn, config });
        return {
          server,
          async stop() {
            try {
              await server.stop();
            } finally {
              await pg.drop();
            }
          },
        };
      } catch (err) {
        await pg.drop();
        throw err;
      }
    },
  },
  {
    // One in-memory PGlite per server (and one server per file and backend).
    name: "PGlite",
    async start(_label, config = fastHashing) {
      const server = await startTestServer({ dsn: "memory", config });
      return { server, stop: () => server.stop() };
    },
  },
];

export const json = (body: unknown, method = "POST"): RequestInit => ({
  method,
  headers: { "Content-Type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

/** Hydra's invalid_client_metadata description (client/error.go); hints follow it after a space. */
export const metadataDescription =
  "The value of one of the Client Metadata fields is invalid and the server has rejected this request. Note that an Authorization Server MAY choose to substitute a valid value for any requested parameter of a Client's Metadata.";

export const nullLifespans = {
  authorization_code_grant_access_token_lifespan: null,
  authorization_code_grant_id_token_lifespan: null,
  authorization_code_grant_refresh_token_lifespan: null,
  client_credentials_grant_access_token_lifespan: null,
  implicit_grant_access_token_lifespan: null,
  implicit_grant_id_token_lifespan: null,
  jwt_bearer_grant_access_token_lifespan: null,
  password_grant_access_token_lifespan: null,
  password_grant_refresh_token_lifespan: null,
  refresh_token_grant_id_token_lifespan: null,
  refresh_token_grant_access_token_lifespan: null,
  refresh_token_grant_refresh_token_lifespan: null,
};

/** A body without the fields that change per run. */
export function stable(body: Record<string, unknown>, ...drop: string[]): Record<string, unknown> {
  const out = { ...body };
  for (const k of ["created_at", "updated_at", ...drop]) delete out[k];
  return out;
}
