/**
 * @module The cleanup run shared by `gatehouse janitor` and POST /oauth2/flush: which tables
 * are cleaned (Hydra's --tokens, --requests, --grants), the batch loop, and the report of rows
 * deleted per table. The SQL is in janitor/store.ts, flows/store.ts and trust/store.ts.
 */
import { deleteExpiredLoginSessions, deleteExpiredLogoutRequests, deleteInactiveFlows } from "../flows/store.ts";
import type { Db } from "../storage/db.ts";
import { deleteExpiredTrustedIssuers } from "../trust/store.ts";
import {
  clearExpiredRotationPairs,
  deleteExpiredAccessTokens,
  deleteExpiredAuthorizationCodes,
  deleteExpiredJtiRecords,
  deleteExpiredRefreshTokens,
  type Cutoffs,
} from "./store.ts";

/** Hydra's janitor defaults (cmd/janitor.go). */
export const defaultLimit = 10_000;
export const defaultBatchSize = 100;

export type Group = "tokens" | "requests" | "grants";

export interface JanitorOptions {
  cutoffs: Cutoffs;
  /** Most rows deleted per table in one run. */
  limit: number;
  /** Rows per DELETE statement. */
  batchSize: number;
  groups: ReadonlySet<Group>;
  /** Hydra's --consent-request-lifespan (else ttl.login_consent_request), for the request routines. */
  requestLifespanMs: number;
}

export interface TableReport {
  /** Hydra's routine name, e.g. "access tokens". */
  name: string;
  table: string;
  /** Rows deleted, or (action "cleared") rows whose stale column was emptied. */
  deleted: number;
  /** "cleared" for a routine that empties a column instead of deleting rows. */
  action?: "cleared";
  /** DELETE statements (one per batch) run against the table. */
  statements: number;
  elapsedMs: number;
}

/**
 * One batch of one table: deletes up to n rows, returns how many went. A batch may delete
 * rows of other tables too (a trust relationship's key); those are reported under `also`.
 */
type Batch = (db: Db, n: number) => Promise<{ deleted: number; also?: Record<string, number> }>;

interface Routine {
  name: string;
  table: string;
  batch: Batch;
  action?: "cleared";
}

const count = (f: (db: Db, n: number) => Promise<number>): Batch => async (db, n) => ({ deleted: await f(db, n) });

function tokenRoutines(c: Cutoffs): Routine[] {
  return [
    { name: "access tokens", table: "oauth2_access_tokens", batch: count((db, n) => deleteExpiredAccessTokens(db, c, n)) },
    { name: "refresh tokens", table: "oauth2_refresh_tokens", batch: count((db, n) => deleteExpiredRefreshTokens(db, c, n)) },
    // The pair a rotation kept for its grace period (oauth2/grants/refresh-token.ts), once that period is over.
    { name: "refresh token rotation pairs", table: "oauth2_refresh_tokens", action: "cleared", batch: count((db, n) => clearExpiredRotationPairs(db, c, n)) },
    { name: "authorization codes", table: "oauth2_authorization_codes", batch: count((db, n) => deleteExpiredAuthorizationCodes(db, c, n)) },
    { name: "jti records", table: "oauth2_jti_records", batch: count((db, n) => deleteExpiredJtiRecords(db, c, n)) },
  ];
}

/**
 * Login, consent and logout requests, and login sessions. Login and consent requests (Hydra
 * FlushInactiveLoginConsentRequests): flows that can no longer complete — unfinished, denied
 * or failed — requested before min(notAfter, now − request lifespan), Hydra's one cut-off for
 * both kinds. Completed flows stay: they are the consent sessions, and revoking one revokes
 * its tokens by request id. Login sessions past their expiry go too (Hydra v1 keeps them;
 * hydra-v1 §7 item 5): a remembered one when its remember_for ran out, one that was not
 * remembered when its tokens could no longer be alive (flows/login-session-expiry.ts).
 */
function requestRoutines(c: Cutoffs, requestLifespanMs: number): Routine[] {
  // A request expires ttl.login_consent_request (or --consent-request-lifespan) after it arrived.
  const requestedBefore = new Date(Math.min(c.notAfter.getTime(), c.now.getTime() - requestLifespanMs));
  return [
    {
      name: "login and consent requests",
      table: "oauth2_flows",
      batch: count((db, n) => deleteInactiveFlows(db, { unfinishedBefore: requestedBefore, endedBefore: requestedBefore }, n)),
    },
    {
      name: "login sessions",
      table: "oauth2_login_sessions",
      batch: count((db, n) => deleteExpiredLoginSessions(db, c.notAfter < c.now ? c.notAfter : c.now, n)),
    },
    { name: "logout requests", table: "oauth2_logout_requests", batch: count((db, n) => deleteExpiredLogoutRequests(db, requestedBefore, n)) },
  ];
}

function grantRoutines(c: Cutoffs): Routine[] {
  // Hydra: expires_at < min(notAfter, now).
  const cutoff = c.notAfter < c.now ? c.notAfter : c.now;
  return [
    {
      name: "trust relationships",
      table: "trusted_jwt_issuers",
      batch: async (db, n) => {
        const { issuers, keys } = await deleteExpiredTrustedIssuers(db, cutoff, n);
        return { deleted: issuers, also: { json_web_keys: keys } };
      },
    },
  ];
}

export function routinesOf(o: JanitorOptions): Routine[] {
  return [
    ...(o.groups.has("tokens") ? tokenRoutines(o.cutoffs) : []),
    ...(o.groups.has("requests") ? requestRoutines(o.cutoffs, o.requestLifespanMs) : []),
    ...(o.groups.has("grants") ? grantRoutines(o.cutoffs) : []),
  ];
}

/**
 * Runs every routine of the chosen groups, one after the other: batches of `batchSize`
 * until a batch comes back short or `limit` rows are gone. Each batch commits on its own,
 * so an interrupted run keeps what it deleted.
 */
export async function runJanitor(db: Db, o: JanitorOptions, onTable: (r: TableReport) => void = () => {}): Promise<TableReport[]> {
  if (!(o.limit > 0 && o.batchSize > 0)) throw new RangeError("limit and batch size must both be greater than 0");
  const reports: TableReport[] = [];
  for (const routine of routinesOf(o)) {
    const started = performance.now();
    const report: TableReport = { name: routine.name, table: routine.table, deleted: 0, statements: 0, elapsedMs: 0, ...(routine.action ? { action: routine.action } : {}) };
    const extra = new Map<string, number>();
    while (report.deleted < o.limit) {
      const n = Math.min(o.batchSize, o.limit - report.deleted);
      const { deleted, also } = await routine.batch(db, n);
      report.statements++;
      report.deleted += deleted;
      for (const [table, k] of Object.entries(also ?? {})) extra.set(table, (extra.get(table) ?? 0) + k);
      if (deleted < n) break;
    }
    report.elapsedMs = performance.now() - started;
    reports.push(report);
    onTable(report);
    for (const [table, deleted] of extra) {
      const r: TableReport = { name: `keys of ${routine.name}`, table, deleted, statements: 0, elapsedMs: 0 };
      reports.push(r);
      onTable(r);
    }
  }
  return reports;
}
