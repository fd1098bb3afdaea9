-- Logins that were not remembered had no expiry, so the janitor never removed them. Rows
-- written before this migration get the lifetime new ones get with the default TTLs
-- (ttl.refresh_token, 720h, from the login), so that the constraint below holds.
UPDATE "oauth2_login_sessions" SET "expires_at" = "authenticated_at" + interval '720 hours' WHERE NOT "remember" AND "expires_at" IS NULL;--> statement-breakpoint
ALTER TABLE "oauth2_login_sessions" ADD CONSTRAINT "oauth2_login_sessions_expiry_check" CHECK ("oauth2_login_sessions"."remember" OR "oauth2_login_sessions"."expires_at" IS NOT NULL);
