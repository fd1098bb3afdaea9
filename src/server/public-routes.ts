/** @module Every path of the public listener (Hydra v1). Admin handlers are never imported here. */
import { dynamicClientRegistrationRoutes } from "../clients/dynamic-registration.ts";
import type { Deps } from "../deps.ts";
import { discoveryRoutes } from "../discovery/routes.ts";
import { fallbackRoutes } from "../flows/fallbacks.ts";
import { logoutRoutes } from "../flows/logout.ts";
import { healthRoutes } from "../health/routes.ts";
import { authorizeRoutes } from "../oauth2/authorize.ts";
import { oauth2PublicRoutes } from "../oauth2/routes.ts";
import type { RouteTable } from "./http.ts";

/** Paths that get CORS on the public listener, as Hydra's OAuth2AwareMiddleware. */
export const publicCorsPaths: ReadonlySet<string> = new Set([
  "/oauth2/token",
  "/oauth2/revoke",
  "/.well-known/openid-configuration",
  "/.well-known/jwks.json",
  "/userinfo",
]);

export function publicRoutes(deps: Deps): RouteTable {
  return {
    ...healthRoutes(deps),
    ...discoveryRoutes(deps),
    ...oauth2PublicRoutes(deps),
    ...authorizeRoutes(deps),
    ...logoutRoutes(deps),
    ...fallbackRoutes(deps),
    // Not registered at all when disabled (404), as Hydra's client/handler.go SetRoutes.
    ...(deps.config.oidc.dynamic_client_registration.enabled ? dynamicClientRegistrationRoutes(deps) : {}),
  };
}
