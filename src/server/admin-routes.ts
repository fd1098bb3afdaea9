/** @module Every path of the admin listener (Hydra v1). The only module that imports admin handlers. */
import { clientRoutes } from "../clients/routes.ts";
import type { Deps } from "../deps.ts";
import { flowRoutes } from "../flows/routes.ts";
import { getPrometheusMetrics, getVersion, healthRoutes } from "../health/routes.ts";
import { janitorRoutes } from "../janitor/routes.ts";
import { keyRoutes } from "../keys/routes.ts";
import { oauth2AdminRoutes } from "../oauth2/admin-routes.ts";
import { trustRoutes } from "../trust/routes.ts";
import type { RouteTable } from "./http.ts";

export function adminRoutes(deps: Deps): RouteTable {
  return {
    ...healthRoutes(deps),
    "/version": { GET: getVersion() },
    "/metrics/prometheus": { GET: getPrometheusMetrics(deps) },
    ...clientRoutes(deps),
    ...keyRoutes(deps),
    ...flowRoutes(deps),
    ...oauth2AdminRoutes(deps),
    ...trustRoutes(deps),
    ...janitorRoutes(deps),
  };
}
