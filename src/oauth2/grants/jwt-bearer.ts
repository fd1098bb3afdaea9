/**
 * @module The JWT bearer grant (RFC 7523 §2.1, §3; Hydra via fosite handler/rfc7523): an
 * authenticated client trades an assertion signed by a trusted issuer (trust/) for an access
 * token whose subject is the assertion's `sub`. No refresh token, as in Hydra.
 */
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK, type JWTPayload } from "jose";
import type { Config } from "../../config/schema.ts";
import { invalidGrant, invalidRequest, invalidScope, type OAuthError } from "../../errors.ts";
import type { Db } from "../../storage/db.ts";
import { assertionKeys } from "../../trust/store.ts";
import type { AssertionKey } from "../../trust/types.ts";
import { claimJti } from "../jti.ts";
import { firstDisallowedAudience, firstDisallowedScope } from "../scopes.ts";
import { accessTokenResponse, issueAccessToken } from "../tokens.ts";
import type { GrantHandler } from "./types.ts";

export const jwtBearerGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/** Far above any real assertion; a bigger one is refused before any parsing or key lookup. */
const maxAssertionLength = 16 * 1024;

function refused(hint: string): OAuthError {
  return invalidGrant(undefined, { hint });
}

/**
 * The values `aud` may name (RFC 7523 §3 item 3): the token endpoint's URL, as Hydra
 * (<urls.self.public>oauth2/token), and the URL discovery publishes when that is configured.
 */
export function assertionAudiences(config: Pick<Config, "urls" | "webfinger">): string[] {
  const own = new URL("oauth2/token", config.urls.self.public).toString();
  const published = config.webfinger.oidc_discovery.token_url;
  return published && published !== own ? [own, published] : [own];
}

/** Header and claims read before the signature is checked: only to find the key. */
function peek(assertion: string): { kid: string | undefined; iss: string; sub: string } {
  let kid: unknown;
  let claims: JWTPayload;
  try {
    // A JWE (five parts) or an unsecured JWT (alg none) has no signature to check.
    if (assertion.split(".").length !== 3) throw new Error("not a JWS in compact serialization");
    const header = decodeProtectedHeader(assertion);
    if (header.alg === undefined || header.alg === "none") throw new Error(`alg ${header.alg ?? "(missing)"} is not a signature`);
    kid = header.kid;
    claims = decodeJwt(assertion);
  } catch (err) {
    throw invalidGrant(undefined, {
      hint: "Unable to parse the JSON web token passed in the 'assertion' request parameter.",
      debug: (err as Error).message,
    });
  }
  if (typeof claims.iss !== "string" || claims.iss === "") throw refused("The JWT in 'assertion' request parameter MUST contain an 'iss' (issuer) claim.");
  if (typeof claims.sub !== "string" || claims.sub === "") throw refused("The JWT in 'assertion' request parameter MUST contain a 'sub' (subject) claim.");
  if (kid !== undefined && (typeof kid !== "string" || kid === "")) throw refused("The 'kid' header of the JWT in 'assertion' must be a non-empty string.");
  return { kid: kid as string | undefined, iss: claims.iss, sub: claims.sub };
}

/** The key that verifies the signature, and the verified claims; only the key's own alg is accepted. */
async function verify(assertion: string, keys: readonly AssertionKey[]): Promise<{ key: AssertionKey; claims: JWTPayload } | undefined> {
  for (const key of keys) {
    try {
      const cryptoKey = await importJWK(key.jwk, key.jwk.alg);
      const { payload } = await compactVerify(assertion, cryptoKey, { algorithms: [key.jwk.alg] });
      const claims = JSON.parse(new TextDecoder().decode(payload)) as unknown;
      if (typeof claims !== "object" || claims === null || Array.isArray(claims)) return undefined;
      return { key, claims: claims as JWTPayload };
    } catch {
      // Not this key (or a bad signature): try the next one.
    }
  }
  return undefined;
}

const isNumericDate = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);

/** RFC 7523 §3 items 2–7 (besides iss and sub) with Hydra's options; returns exp as a Date. */
function checkClaims(claims: JWTPayload, config: Config, now: Date): { expiresAt: Date; jti: string | undefined } {
  const { jwt } = config.oauth2.grant;
  const audiences = assertionAudiences(config);
  const aud = typeof claims.aud === "string" ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud.filter((a) => typeof a === "string") : [];
  if (aud.length === 0) throw refused("The JWT in 'assertion' request parameter MUST contain an 'aud' (audience) claim.");
  if (!aud.some((a) => audiences.includes(a))) {
    throw refused(`The JWT in 'assertion' request parameter MUST contain an 'aud' (audience) claim containing a value '${audiences[0]}' that identifies the authorization server as an intended audience.`);
  }
  if (!isNumericDate(claims.exp)) throw refused("The JWT in 'assertion' request parameter MUST contain an 'exp' (expiration time) claim.");
  const nowMs = now.getTime();
  const expMs = claims.exp * 1000;
  if (expMs <= nowMs) throw refused("The JWT in 'assertion' request parameter expired.");
  if (claims.nbf !== undefined) {
    if (!isNumericDate(claims.nbf)) throw refused("The 'nbf' (not before) claim of the JWT in 'assertion' must be a number.");
    if (claims.nbf * 1000 > nowMs) {
      throw refused(`The JWT in 'assertion' request parameter contains an 'nbf' (not before) claim, that identifies the time '${new Date(claims.nbf * 1000).toISOString()}' before which the token MUST NOT be accepted.`);
    }
  }
  if (claims.iat === undefined) {
    if (!jwt.iat_optional) throw refused("The JWT in 'assertion' request parameter MUST contain an 'iat' (issued at) claim.");
  } else if (!isNumericDate(claims.iat)) {
    throw refused("The 'iat' (issued at) claim of the JWT in 'assertion' must be a number.");
  }
  // fosite measures exp − iat; an iat in the future must not stretch that, so count from now at the latest.
  const issuedMs = Math.min(claims.iat === undefined ? nowMs : claims.iat * 1000, nowMs);
  if (expMs - issuedMs > jwt.max_ttl) {
    throw refused(`The JWT in 'assertion' request parameter contains an 'exp' (expiration time) claim with value '${new Date(expMs).toISOString()}' that is unreasonably far in the future, considering token issued at '${new Date(issuedMs).toISOString()}' (at most oauth2.grant.jwt.max_ttl).`);
  }
  if (claims.jti === undefined) {
    if (!jwt.jti_optional) throw refused("The JWT in 'assertion' request parameter MUST contain a 'jti' (JWT ID) claim.");
  } else if (typeof claims.jti !== "string" || claims.jti === "") {
    throw refused("The 'jti' (JWT ID) claim of the JWT in 'assertion' must be a non-empty string.");
  }
  return { expiresAt: new Date(expMs), jti: claims.jti };
}

export const jwtBearerGrant: GrantHandler = {
  grantType: jwtBearerGrantType,
  params: new Set(["assertion"]),
  // Hydra: GrantTypeJWTBearerCanSkipClientAuth = false; the assertion proves the subject, not the client.
  allowsPublicClient: false,
  async handle(req, cx) {
    const { deps } = cx;
    const { config } = deps;
    const { client, now } = req;
    const assertion = req.form.get("assertion") ?? "";
    if (assertion === "") throw invalidRequest(undefined, { hint: `The assertion request parameter must be set when using grant_type of '${jwtBearerGrantType}'.` });
    if (assertion.length > maxAssertionLength) throw refused(`The 'assertion' must not be longer than ${maxAssertionLength} characters.`);

    const { kid, iss, sub } = peek(assertion);
    const keys = await assertionKeys(deps.db, iss, sub, kid, now);
    const noKey = () =>
      refused(
        `No public JWK was registered for issuer '${iss}' and subject '${sub}'${kid === undefined ? "" : ` with kid '${kid}'`}, and public key is required to check signature of JWT in 'assertion' request parameter.`,
      );
    if (keys.length === 0) throw noKey();
    const verified = await verify(assertion, keys);
    if (!verified) {
      if (kid === undefined) throw noKey();
      throw refused("Unable to verify the integrity of the 'assertion' value.");
    }
    // The verified claims, not the peeked ones, from here on (they are the same bytes).
    const { claims, key } = verified;
    const { expiresAt, jti } = checkClaims(claims, config, now);

    const untrusted = firstDisallowedScope(config.strategies.scope, key.scope, req.requestedScope);
    if (untrusted !== undefined) {
      throw invalidScope(undefined, { hint: `The public key registered for issuer '${iss}' and subject '${sub}' is not allowed to request scope '${untrusted}'.` });
    }
    const clientScope = client.scope.split(" ").filter(Boolean);
    const disallowed = firstDisallowedScope(config.strategies.scope, clientScope, req.requestedScope);
    if (disallowed !== undefined) throw invalidScope(undefined, { hint: `The OAuth 2.0 Client is not allowed to request scope '${disallowed}'.` });
    // The token's audience is what the client asked for and may have; the assertion's `aud` names us, not a resource server.
    const badAudience = firstDisallowedAudience(client.audience, req.requestedAudience);
    if (badAudience !== undefined) throw invalidRequest(undefined, { hint: `Requested audience '${badAudience}' has not been whitelisted by the OAuth 2.0 Client.` });

    // The jti is claimed in the transaction that writes the token: a replay wins nothing, and a
    // failed issue does not burn the assertion.
    const issued = await deps.db.transaction(async (tx) => {
      if (jti !== undefined && !(await claimJti(tx as unknown as Db, iss, jti, expiresAt, now))) {
        throw refused("The 'jti' (JWT ID) of the JWT in 'assertion' was already used; an assertion is accepted once (RFC 7523 §3 item 7).");
      }
      return issueAccessToken(deps, tx as unknown as Db, {
        requestId: crypto.randomUUID(),
        client,
        subject: sub,
        grantedScope: req.requestedScope,
        grantedAudience: req.requestedAudience,
        session: { ext: {} },
        grantType: "jwt_bearer",
        now,
      });
    });
    return accessTokenResponse(issued, req.requestedScope);
  },
};
