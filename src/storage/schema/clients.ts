/**
 * @module Table of OAuth 2.0 clients. Columns for what is looked up or filtered
 * on; the rest of the Hydra OAuth2Client model lives in `fields`.
 */
import { sql } from "drizzle-orm";
import { index, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const oauth2Clients = pgTable(
  "oauth2_clients",
  {
    id: text("id").primaryKey(),
    clientName: text("client_name").notNull().default(""),
    owner: text("owner").notNull().default(""),
    /** Bun.password hash (bcrypt or argon2id) of the client secret; null for public clients. */
    secretHash: text("secret_hash"),
    /** HMAC signature of the DCR registration access token; null when none was issued. */
    registrationTokenSignature: text("registration_token_signature"),
    /** Every other OAuth2Client field, as Hydra's JSON names them. */
    fields: jsonb("fields").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [
    index("oauth2_clients_client_name_idx").on(t.clientName),
    index("oauth2_clients_owner_idx").on(t.owner),
    // GET /clients pages in byte order (same on PostgreSQL and PGlite whatever the locale).
    index("oauth2_clients_id_c_idx").on(sql`${t.id} collate "C"`),
  ],
);
