/**
 * @module The example app's one user (as Ory's example app: foo@bar.com / foobar) and the
 * OpenID Connect standard claims (OIDC Core §5.1, §5.4) it releases for the granted scopes.
 * A real app looks users up in its own store and checks a password hash.
 */
import { constantTimeEqual } from "../lib/crypto.ts";

export const demoUser = {
  subject: "foo@bar.com",
  email: "foo@bar.com",
  password: "foobar",
} as const;

/** OIDC Core §5.4: the claims each scope asks for; only these are released. */
const claimsByScope: Record<string, Record<string, unknown>> = {
  email: { email: demoUser.email, email_verified: true },
  profile: {
    name: "Foo Bar",
    given_name: "Foo",
    family_name: "Bar",
    nickname: "foo",
    preferred_username: "foo",
    zoneinfo: "Europe/Berlin",
    locale: "en-US",
    // Seconds since the epoch (§5.1): when this profile last changed.
    updated_at: 1700000000,
  },
};

/** The subject when the email and password are the demo user's, else undefined. */
export function checkCredentials(email: string, password: string): string | undefined {
  // Both compared in constant time, and both always compared, so timing tells nothing.
  const emailOk = constantTimeEqual(email.trim().toLowerCase(), demoUser.email);
  const passwordOk = constantTimeEqual(password, demoUser.password);
  return emailOk && passwordOk ? demoUser.subject : undefined;
}

/** The ID-token claims of a subject for the granted scopes (session.id_token of the consent). */
export function idTokenClaims(subject: string, grantedScope: readonly string[]): Record<string, unknown> {
  if (subject !== demoUser.subject) return {};
  const claims: Record<string, unknown> = {};
  for (const scope of grantedScope) Object.assign(claims, claimsByScope[scope] ?? {});
  return claims;
}
