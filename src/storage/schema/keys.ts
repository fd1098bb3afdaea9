/** @module Table of JSON Web Keys, grouped in sets as Hydra's hydra_jwk. */
import { index, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

export const jsonWebKeys = pgTable(
  "json_web_keys",
  {
    setId: text("set_id").notNull(),
    kid: text("kid").notNull(),
    alg: text("alg").notNull(),
    use: text("use").notNull(),
    /** The public part, readable without the secret (null for symmetric keys, never published). */
    publicJwk: jsonb("public_jwk"),
    /** The whole JWK as stored (private, symmetric or public), AES-256-GCM sealed under secrets.system[0]. */
    sealedJwk: text("sealed_jwk").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.setId, t.kid] }), index("json_web_keys_set_id_created_at_idx").on(t.setId, t.createdAt)],
);
