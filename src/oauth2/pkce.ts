/**
 * @module PKCE (RFC 7636): the authorization request's code_challenge, checked at the
 * authorization endpoint, and the code_verifier check the token endpoint makes. Only S256:
 * Hydra (fosite EnablePKCEPlainChallengeMethod=false) refuses `plain` and a missing method,
 * and so do we, so discovery advertises S256 alone.
 */
import { createHash } from "node:crypto";
import type { Config } from "../config/schema.ts";
import { invalidRequest } from "../errors.ts";
import { constantTimeEqual } from "../lib/crypto.ts";

export const codeChallengeMethods = ["S256"] as const;

/** RFC 7636 §4.1/§4.2: 43–128 characters of [A-Za-z0-9-._~]. */
const pkceValue = /^[A-Za-z0-9\-._~]{43,128}$/;

export interface Pkce {
  challenge: string;
  method: "S256";
}

/**
 * The PKCE part of an authorization request, or undefined when none is sent and none is
 * required. Only requests that ask for a code carry PKCE (fosite's pkce handler).
 */
export function checkCodeChallenge(
  config: Pick<Config, "oauth2">,
  params: { challenge: string | undefined; method: string | undefined; wantsCode: boolean; publicClient: boolean },
): Pkce | undefined {
  if (!params.wantsCode) return undefined;
  const { challenge, method } = params;
  if (!challenge) {
    if (config.oauth2.pkce.enforced) {
      throw invalidRequest(undefined, { hint: "Clients must include a code_challenge when performing the authorize code flow, but it is missing." });
    }
    if (config.oauth2.pkce.enforced_for_public_clients && params.publicClient) {
      throw invalidRequest(undefined, {
        hint: "This client must include a code_challenge when performing the authorize code flow, but it is missing.",
      });
    }
    if (method) throw invalidRequest(undefined, { hint: "The code_challenge_method was given without a code_challenge." });
    return undefined;
  }
  if (!method || method === "plain") {
    throw invalidRequest(undefined, { hint: "Clients must use code_challenge_method=S256, plain is not allowed." });
  }
  if (method !== "S256") throw invalidRequest(undefined, { hint: "The code_challenge_method is not supported, use S256 instead." });
  if (!pkceValue.test(challenge)) {
    throw invalidRequest(undefined, {
      hint: "The code_challenge must be 43 to 128 characters from the unreserved set [A-Za-z0-9-._~] (RFC 7636 §4.2).",
    });
  }
  return { challenge, method };
}

/** BASE64URL(SHA256(verifier)), RFC 7636 §4.2. */
export function s256(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

/**
 * For the token endpoint: whether `verifier` answers the stored challenge (RFC 7636 §4.6).
 * A malformed verifier never matches.
 */
export function verifyCodeVerifier(pkce: Pkce, verifier: string | undefined): boolean {
  if (!verifier || !pkceValue.test(verifier)) return false;
  return constantTimeEqual(s256(verifier), pkce.challenge);
}
