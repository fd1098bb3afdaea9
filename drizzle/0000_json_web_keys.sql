CREATE TABLE "json_web_keys" (
	"set_id" text NOT NULL,
	"kid" text NOT NULL,
	"alg" text NOT NULL,
	"use" text NOT NULL,
	"public_jwk" jsonb,
	"sealed_private_jwk" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "json_web_keys_set_id_kid_pk" PRIMARY KEY("set_id","kid")
);
--> statement-breakpoint
CREATE INDEX "json_web_keys_set_id_created_at_idx" ON "json_web_keys" USING btree ("set_id","created_at");