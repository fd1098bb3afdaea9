/**
 * @module POST /oauth2/flush (Hydra v1 oauth2/handler.go FlushHandler, admin listener):
 * one bounded cleanup run over the API. `gatehouse janitor` is the tool for large backlogs.
 */
import * as v from "valibot";
import type { Deps } from "../deps.ts";
import { invalidRequest } from "../errors.ts";
import type { Handler, RouteTable } from "../server/http.ts";
import { isRfc3339DateTime } from "../trust/schemas.ts";
import { runJanitor, type Group } from "./janitor.ts";

export const flushPath = "/oauth2/flush";

/**
 * Per table and call. Hydra deletes at most 1000 access and 1000 refresh tokens per call in
 * batches of 100, so a large backlog needs many calls; ten times that still finishes in well
 * under a second per table (see the janitor throughput test), far from any HTTP timeout.
 */
export const flushLimit = 10_000;
export const flushBatchSize = 1_000;

const FlushBody = v.object({
  // camelCase as Hydra's FlushInactiveOAuth2TokensRequest; absent or null means now.
  notAfter: v.nullish(
    v.pipe(
      v.string("Field 'notAfter' must be an RFC 3339 date-time string."),
      v.check(isRfc3339DateTime, "Field 'notAfter' must be an RFC 3339 date-time such as 2030-01-02T15:04:05Z."),
    ),
  ),
});

const goZeroTime = Date.parse("0001-01-01T00:00:00Z");

const allGroups: ReadonlySet<Group> = new Set(["tokens", "requests", "grants"]);

/** Reads the body: empty means {} (Hydra answers an empty body with a 500). */
async function readFlushBody(req: Request): Promise<Date | undefined> {
  const text = await req.text();
  if (text.trim() === "") return undefined;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalidRequest(undefined, { hint: "The request body must be JSON: {\"notAfter\": \"<RFC 3339 date-time>\"}." });
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidRequest(undefined, { hint: "The request body must be a JSON object." });
  const parsed = v.safeParse(FlushBody, body);
  if (!parsed.success) throw invalidRequest(undefined, { hint: parsed.issues[0].message });
  if (!parsed.output.notAfter) return undefined;
  const notAfter = new Date(parsed.output.notAfter);
  // Go's zero time is how a Go client sends "unset"; Hydra reads it as now (fr.NotAfter.IsZero()).
  return notAfter.getTime() === goZeroTime ? undefined : notAfter;
}

/**
 * Deletes expired access and refresh tokens issued before `notAfter` (default now), and —
 * beyond Hydra, which stops there (hydra-v1 §7 item 5) — expired authorization codes, stale
 * jti records, expired trust relationships, and login/consent/logout requests that can no
 * longer complete (requested before now − ttl.login_consent_request) with expired login
 * sessions. 204, as Hydra; the counts go to the log.
 */
export function flushInactiveOAuth2Tokens(deps: Deps): Handler {
  return async (req, cx) => {
    const notAfterInput = await readFlushBody(req);
    const now = deps.clock.now();
    const reports = await runJanitor(deps.db, {
      cutoffs: {
        now,
        notAfter: notAfterInput ?? now,
        refreshGraceMs: deps.config.oauth2.grant.refresh_token.rotation_grace_period,
      },
      limit: flushLimit,
      batchSize: flushBatchSize,
      groups: allGroups,
      requestLifespanMs: deps.config.ttl.login_consent_request,
    });
    cx.log.info(`flush: ${reports.map((r) => `${r.table} ${r.deleted}`).join(", ")}`);
    return new Response(null, { status: 204 });
  };
}

export function janitorRoutes(deps: Deps): RouteTable {
  return { [flushPath]: { POST: flushInactiveOAuth2Tokens(deps) } };
}
