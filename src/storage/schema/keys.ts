/** @module Table of JSON Web Keys, grouped in sets as Hydra's hydra_jwk. */
import { index, jsonb, pgTable, primaryKey, text, timestamp } from "drizzle-orm/pg-core";

export const jsonWebKeys = pgTable(
  "json_web_keys",
  {
    setId: text("set_id").notNull(),
    kid: text("kid").notNull(),
    alg: text("alg").notNull(),
    use: text("use").notNull(),
    /** Public JWK as published (null for symmetric keys, which are never published). */
    publicJwk: jsonb("public_jwk"),
    /** Private or symmetric JWK, AES-256-GCM sealed under secrets.system (null for public-only imports). */
    sealedPrivateJwk: text("sealed_private_jwk"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.setId, t.kid] }), index("json_web_keys_set_id_created_at_idx").on(t.setId, t.createdAt)],
);
