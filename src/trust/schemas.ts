/**
 * @module Validation of POST /trust/grants/jwt-bearer/issuers bodies (valibot), once, at the
 * edge. Hydra v1's trust/validator.go rules (issuer, subject xor allow_any_subject, expires_at,
 * a jwk with kid) plus Gatehouse's: expires_at in the future, RFC 6749 §3.3 scope tokens, and a
 * jwk that is a public key for asymmetric signatures. Every problem is a 400 invalid_request
 * whose hint names the field.
 */
import * as v from "valibot";
import { invalidRequest, OAuthError } from "../errors.ts";
import { isAsymmetricSigningAlg, isSecretJwk, validateJwk } from "../keys/keystore.ts";
import { isScopeToken } from "../oauth2/scopes.ts";
import type { TrustRequest } from "./types.ts";

/** Hydra's columns are varchar(255). */
const maxLength = 255;

const controlChars = /[\u0000-\u001f\u007f]/;

function invalid(hint: string): OAuthError {
  return invalidRequest(undefined, { hint });
}

const name = (field: string) =>
  v.pipe(
    v.string(`Field '${field}' must be a string.`),
    v.maxLength(maxLength, `Field '${field}' must be at most ${maxLength} characters.`),
    v.check((s) => !controlChars.test(s), `Field '${field}' must not contain control characters.`),
  );

/** RFC 3339 date-time (§5.6): a time zone is required, so no value depends on the server's zone. */
export function isRfc3339DateTime(s: string): boolean {
  return /^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s));
}

export const TrustBody = v.object({
  issuer: v.pipe(name("issuer"), v.nonEmpty("Field 'issuer' is required.")),
  subject: v.optional(name("subject"), ""),
  allow_any_subject: v.optional(v.boolean("Field 'allow_any_subject' must be a boolean."), false),
  scope: v.array(
    v.pipe(
      v.string("Field 'scope' must be an array of strings."),
      v.check(isScopeToken, "Field 'scope' holds a value that is not an RFC 6749 scope token (printable ASCII without spaces, quotes or backslashes)."),
    ),
    "Field 'scope' must be an array of strings.",
  ),
  jwk: v.looseObject({}, "Field 'jwk' must be a JSON Web Key (a JSON object)."),
  expires_at: v.pipe(
    v.string("Field 'expires_at' must be an RFC 3339 date-time string."),
    v.check(isRfc3339DateTime, "Field 'expires_at' must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z."),
  ),
});

/** Members that make a JWK private or symmetric (RFC 7518 §6). */
const privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] as const;

/**
 * The issuer's key: public, asymmetric, for signatures, with a kid. A private key is refused
 * rather than stripped: whoever sent it leaked it, and should know.
 */
async function parseJwk(raw: Record<string, unknown>) {
  if (typeof raw.kid !== "string" || raw.kid === "") throw invalid("Field 'jwk' must contain a JWK with a kid.");
  if (raw.kty === "oct") throw invalid("Field 'jwk' must be an asymmetric public key; symmetric (kty oct) keys cannot be trusted.");
  const secret = privateMembers.filter((m) => raw[m] !== undefined);
  if (secret.length > 0) throw invalid(`Field 'jwk' must be a public key; it holds the private member(s) ${secret.join(", ")}.`);
  if (raw.use !== undefined && raw.use !== "sig") throw invalid(`Field 'jwk' must be a signature key (use "sig"), got use ${JSON.stringify(raw.use)}.`);
  let jwk;
  try {
    jwk = await validateJwk(raw);
  } catch (err) {
    if (err instanceof OAuthError) throw invalid(`Field 'jwk' is not a usable key: ${err.description}`);
    throw err;
  }
  if (isSecretJwk(jwk) || !isAsymmetricSigningAlg(jwk.alg)) {
    throw invalid(`Field 'jwk' must be a public key for an asymmetric signature algorithm (RS*, PS*, ES*, EdDSA), got alg ${jwk.alg}.`);
  }
  return jwk;
}

export interface TrustRules {
  now: Date;
  /** Key sets Gatehouse signs with or publishes; an issuer of that name would add keys to them. */
  reservedSets: ReadonlySet<string>;
}

/** Parses a trust request body or throws the 400. */
export async function parseTrustRequest(body: unknown, rules: TrustRules): Promise<TrustRequest> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalid("The request body must be a JSON object.");
  const result = v.safeParse(TrustBody, body, { abortPipeEarly: true });
  if (!result.success) {
    const issue = result.issues[0];
    const path = v.getDotPath(issue);
    // A missing key is reported by the object schema in valibot's words; name the field instead.
    if (issue.input === undefined && path) throw invalid(`Field '${path.split(".")[0]}' is required.`);
    throw invalid(issue.message);
  }
  const b = result.output;
  if (b.subject !== "" && b.allow_any_subject) throw invalid("Fields 'subject' and 'allow_any_subject' are mutually exclusive: set exactly one of them.");
  if (b.subject === "" && !b.allow_any_subject) throw invalid("Field 'subject' is required unless 'allow_any_subject' is true.");
  if (rules.reservedSets.has(b.issuer)) {
    throw invalid(`Field 'issuer' must not be "${b.issuer}": the issuer names the key set that holds its key, and that set is one Gatehouse signs with or publishes.`);
  }
  const expiresAt = new Date(b.expires_at);
  if (expiresAt.getTime() <= rules.now.getTime()) throw invalid("Field 'expires_at' must be in the future.");
  const jwk = await parseJwk(b.jwk);
  return { issuer: b.issuer, subject: b.subject, allowAnySubject: b.allow_any_subject, scope: [...new Set(b.scope)], jwk, expiresAt };
}
