/**
 * @module The grant types the token endpoint serves: add a module in this folder and one
 * line here (STYLE convention 6). Order does not matter; grant_type values are unique.
 */
import { authorizationCodeGrant } from "./authorization-code.ts";
import { clientCredentialsGrant } from "./client-credentials.ts";
import { jwtBearerGrant } from "./jwt-bearer.ts";
import { refreshTokenGrant } from "./refresh-token.ts";
import type { GrantHandler } from "./types.ts";

export const grantHandlers: readonly GrantHandler[] = [
  authorizationCodeGrant,
  clientCredentialsGrant,
  jwtBearerGrant,
  refreshTokenGrant,
];

/** The handler of a grant_type, by exact value. */
export function findGrant(grantType: string): GrantHandler | undefined {
  return grantHandlers.find((g) => g.grantType === grantType);
}
