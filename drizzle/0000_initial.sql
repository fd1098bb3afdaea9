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
CREATE TABLE "oauth2_access_tokens" (
	"signature" text PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"client_id" text NOT NULL,
	"subject" text NOT NULL,
	"granted_scope" text DEFAULT '' NOT NULL,
	"granted_audience" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"session" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oauth2_authorization_codes" (
	"signature" text PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"client_id" text NOT NULL,
	"subject" text NOT NULL,
	"granted_scope" text DEFAULT '' NOT NULL,
	"granted_audience" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"session" text NOT NULL,
	"used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "oauth2_jti_records" (
	"signature" text PRIMARY KEY NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oauth2_refresh_tokens" (
	"signature" text PRIMARY KEY NOT NULL,
	"request_id" text NOT NULL,
	"client_id" text NOT NULL,
	"subject" text NOT NULL,
	"granted_scope" text DEFAULT '' NOT NULL,
	"granted_audience" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"session" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"used_at" timestamp with time zone,
	"rotated_pair" text
);
--> statement-breakpoint
CREATE TABLE "trusted_jwt_issuers" (
	"id" text PRIMARY KEY NOT NULL,
	"issuer" text NOT NULL,
	"subject" text DEFAULT '' NOT NULL,
	"allow_any_subject" boolean DEFAULT false NOT NULL,
	"scope" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"key_set" text NOT NULL,
	"key_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oauth2_flows" (
	"id" text PRIMARY KEY NOT NULL,
	"state" text NOT NULL,
	"client_id" text NOT NULL,
	"subject" text DEFAULT '' NOT NULL,
	"login_session_id" text NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"request" jsonb NOT NULL,
	"login_challenge" text NOT NULL,
	"login_challenge_sealed" text NOT NULL,
	"login_csrf" text NOT NULL,
	"login_verifier" text,
	"login_skip" boolean DEFAULT false NOT NULL,
	"authenticated_at" timestamp with time zone,
	"login" jsonb,
	"consent_challenge" text,
	"consent_challenge_sealed" text,
	"consent_csrf" text,
	"consent_verifier" text,
	"consent_verifier_sealed" text,
	"consent_skip" boolean DEFAULT false NOT NULL,
	"consent" jsonb,
	"consent_error" boolean DEFAULT false NOT NULL,
	"consent_remember" boolean DEFAULT false NOT NULL,
	"consent_remember_for" integer DEFAULT 0 NOT NULL,
	"consent_handled_at" timestamp with time zone,
	"subject_identifier" text,
	"request_id" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oauth2_login_sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"subject" text NOT NULL,
	"authenticated_at" timestamp with time zone NOT NULL,
	"remember" boolean DEFAULT false NOT NULL,
	"expires_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oauth2_logout_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"state" text NOT NULL,
	"challenge" text NOT NULL,
	"verifier" text,
	"subject" text NOT NULL,
	"sid" text NOT NULL,
	"client_id" text,
	"rp_initiated" boolean DEFAULT false NOT NULL,
	"request_url" text NOT NULL,
	"post_logout_redirect_uri" text NOT NULL,
	"requested_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "oauth2_obfuscated_subjects" (
	"client_id" text NOT NULL,
	"subject" text NOT NULL,
	"obfuscated" text NOT NULL,
	CONSTRAINT "oauth2_obfuscated_subjects_client_id_subject_pk" PRIMARY KEY("client_id","subject")
);
--> statement-breakpoint
CREATE INDEX "oauth2_clients_client_name_idx" ON "oauth2_clients" USING btree ("client_name");--> statement-breakpoint
CREATE INDEX "oauth2_clients_owner_idx" ON "oauth2_clients" USING btree ("owner");--> statement-breakpoint
CREATE INDEX "oauth2_clients_id_c_idx" ON "oauth2_clients" USING btree ("id" collate "C");--> statement-breakpoint
CREATE INDEX "json_web_keys_set_id_created_at_idx" ON "json_web_keys" USING btree ("set_id","created_at");--> statement-breakpoint
CREATE INDEX "oauth2_access_tokens_request_id_idx" ON "oauth2_access_tokens" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "oauth2_access_tokens_client_id_idx" ON "oauth2_access_tokens" USING btree ("client_id");--> statement-breakpoint
CREATE INDEX "oauth2_access_tokens_expires_at_idx" ON "oauth2_access_tokens" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oauth2_authorization_codes_request_id_idx" ON "oauth2_authorization_codes" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "oauth2_authorization_codes_expires_at_idx" ON "oauth2_authorization_codes" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oauth2_jti_records_expires_at_idx" ON "oauth2_jti_records" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oauth2_refresh_tokens_request_id_idx" ON "oauth2_refresh_tokens" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "oauth2_refresh_tokens_client_id_idx" ON "oauth2_refresh_tokens" USING btree ("client_id");--> statement-breakpoint
CREATE INDEX "oauth2_refresh_tokens_expires_at_idx" ON "oauth2_refresh_tokens" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "trusted_jwt_issuers_issuer_idx" ON "trusted_jwt_issuers" USING btree ("issuer");--> statement-breakpoint
CREATE INDEX "trusted_jwt_issuers_expires_at_idx" ON "trusted_jwt_issuers" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth2_flows_login_challenge_idx" ON "oauth2_flows" USING btree ("login_challenge");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth2_flows_login_verifier_idx" ON "oauth2_flows" USING btree ("login_verifier");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth2_flows_consent_challenge_idx" ON "oauth2_flows" USING btree ("consent_challenge");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth2_flows_consent_verifier_idx" ON "oauth2_flows" USING btree ("consent_verifier");--> statement-breakpoint
CREATE INDEX "oauth2_flows_subject_client_id_idx" ON "oauth2_flows" USING btree ("subject","client_id");--> statement-breakpoint
CREATE INDEX "oauth2_flows_requested_at_idx" ON "oauth2_flows" USING btree ("requested_at");--> statement-breakpoint
CREATE INDEX "oauth2_flows_request_id_idx" ON "oauth2_flows" USING btree ("request_id");--> statement-breakpoint
CREATE INDEX "oauth2_flows_login_session_id_idx" ON "oauth2_flows" USING btree ("login_session_id");--> statement-breakpoint
CREATE INDEX "oauth2_login_sessions_subject_idx" ON "oauth2_login_sessions" USING btree ("subject");--> statement-breakpoint
CREATE INDEX "oauth2_login_sessions_expires_at_idx" ON "oauth2_login_sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth2_logout_requests_challenge_idx" ON "oauth2_logout_requests" USING btree ("challenge");--> statement-breakpoint
CREATE UNIQUE INDEX "oauth2_logout_requests_verifier_idx" ON "oauth2_logout_requests" USING btree ("verifier");--> statement-breakpoint
CREATE INDEX "oauth2_logout_requests_requested_at_idx" ON "oauth2_logout_requests" USING btree ("requested_at");--> statement-breakpoint
CREATE INDEX "oauth2_obfuscated_subjects_client_id_obfuscated_idx" ON "oauth2_obfuscated_subjects" USING btree ("client_id","obfuscated");