CREATE TABLE "oauth2_clients" (
	"id" text PRIMARY KEY NOT NULL,
	"client_name" text DEFAULT '' NOT NULL,
	"owner" text DEFAULT '' NOT NULL,
	"secret_hash" text,
	"registration_token_signature" text,
	"fields" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "json_web_keys" (
	"set_id" text NOT NULL,
	"kid" text NOT NULL,
	"alg" text NOT NULL,
	"use" text NOT NULL,
	"public_jwk" jsonb,
	"sealed_jwk" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "json_web_keys_set_id_kid_pk" PRIMARY KEY("set_id","kid")
);
--> statement-breakpoint
CREATE INDEX "oauth2_clients_client_name_idx" ON "oauth2_clients" USING btree ("client_name");--> statement-breakpoint
CREATE INDEX "oauth2_clients_owner_idx" ON "oauth2_clients" USING btree ("owner");--> statement-breakpoint
CREATE INDEX "json_web_keys_set_id_created_at_idx" ON "json_web_keys" USING btree ("set_id","created_at");