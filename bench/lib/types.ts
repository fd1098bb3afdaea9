/** @module What the harness measures and reports. */

export interface Measurement {
  /** Operations per second: requests (wrk), complete flows (W4), transactions (pgbench). */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Failed operations: socket errors, unexpected statuses or bodies, failed transactions. */
  errors: number;
  /** Operations counted. */
  requests: number;
  durationS: number;
  /** The load generator's own output, kept under bench/results/. */
  raw: string;
  /** Anything the reader needs to know about this row (e.g. what a "flow" contains). */
  note?: string;
}

export type TargetId = "gatehouse" | "peer-pg" | "peer-memory" | "ceiling";

export interface Row extends Measurement {
  workload: string;
  target: TargetId;
  /** Human label of the target (e.g. "oidc-provider 9.13.3 (PostgreSQL)"). */
  label: string;
}

export interface ServerStats {
  label: string;
  startupMs: number;
  /** VmHWM at the end of its workloads, KiB. */
  peakRssKiB: number | undefined;
  note?: string;
}

export interface LongRunWindow {
  fromS: number;
  toS: number;
  rps: number;
  /** From the server's own latency histogram (bucket bounds), ms. */
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** PostgreSQL during the window (long run only): checkpoints begun, WAL written, token table size at its end. */
  checkpoints?: number;
  walMiB?: number;
  tableMiB?: number;
}
