/**
 * @module The HTTP load generator for single-request workloads: wrk (Debian's package,
 * installed with apt-get when missing), one thread, a fixed connection count and duration,
 * driven by bench/wrk/request.lua. Parses its report into a Measurement.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCommand } from "./processes.ts";
import type { Measurement } from "./types.ts";

const luaScript = join(import.meta.dir, "..", "wrk", "request.lua");

/** Finds wrk, or installs it from Debian (apt-get update first only if the first try fails). */
export async function ensureWrk(log: (s: string) => void): Promise<string> {
  const found = Bun.which("wrk");
  if (found) return found;
  log("wrk not found: installing it with apt-get (Debian package wrk)");
  const install = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "wrk"];
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let out = await runCommand(install, { env, timeoutMs: 600_000 });
  if (out.code !== 0) {
    await runCommand(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"], { env, timeoutMs: 600_000 });
    out = await runCommand(install, { env, timeoutMs: 600_000 });
  }
  const after = Bun.which("wrk");
  if (!after) throw new Error(`could not install wrk (apt-get exit ${out.code}):\n${out.stdout}${out.stderr}`);
  return after;
}

export interface WrkSpec {
  url: string;
  method: "GET" | "POST";
  body?: string;
  /** Each request uses one of these at random in place of {{token}}. */
  tokens?: string[];
  headers?: string[];
  connections: number;
  durationS: number;
}

/** Converts wrk's "1.23ms" / "850.00us" / "1.02s" / "2.00m" to milliseconds. */
export function wrkTimeMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`cannot read wrk time "${text}"`);
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

/** Reads wrk --latency output. Errors = socket errors + non-2xx/3xx responses. */
export function parseWrk(out: string): Omit<Measurement, "raw"> {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+\w+),/.exec(out);
  if (!rps || !total) throw new Error(`unexpected wrk output:\n${out}`);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(out);
    return m ? wrkTimeMs(m[1]!) : NaN;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rps: Number(rps[1]),
    p50Ms: pct("50"),
    p99Ms: pct("99"),
    errors: socketErrors + (non2xx ? Number(non2xx[1]) : 0),
    requests: Number(total[1]),
    durationS: wrkTimeMs(total[2]!) / 1000,
  };
}

/** One wrk run (wrk -t1 -c<n> -d<s>s --latency). `tokensFile` is written beside the raw output. */
export async function runWrk(wrk: string, spec: WrkSpec, tokensFile: string): Promise<Measurement> {
  let tokensArg = "-";
  if (spec.tokens && spec.tokens.length > 0) {
    writeFileSync(tokensFile, `${spec.tokens.join("\n")}\n`);
    tokensArg = tokensFile;
  }
  if (!existsSync(luaScript)) throw new Error(`missing ${luaScript}`);
  const cmd = [
    wrk,
    "-t1",
    `-c${spec.connections}`,
    `-d${spec.durationS}s`,
    "--timeout",
    "10s",
    "--latency",
    "-s",
    luaScript,
    spec.url,
    "--",
    spec.method,
    spec.body ?? "-",
    tokensArg,
    ...(spec.headers ?? []),
  ];
  const out = await runCommand(cmd, { timeoutMs: (spec.durationS + 30) * 1000 });
  if (out.code !== 0 || out.timedOut) throw new Error(`wrk failed (${out.timedOut ? "timed out" : `exit ${out.code}`}):\n${out.stdout}${out.stderr}`);
  // Client secrets stay out of the saved output.
  const shown = cmd.map((a) => (a.startsWith("Authorization: Basic") ? "Authorization: Basic ***" : a));
  return { ...parseWrk(out.stdout), raw: `$ ${shown.join(" ")}\n${out.stdout}${out.stderr}` };
}
