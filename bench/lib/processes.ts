/**
 * @module Every process the harness starts, each in its own process group, so that stopping
 * one (or all of them on failure, Ctrl-C or SIGTERM) also stops whatever it started itself.
 */
import { openSync, closeSync, readFileSync } from "node:fs";
import type { Subprocess } from "bun";

export interface Managed {
  name: string;
  pid: number;
  proc: Subprocess;
  /** performance.now() when spawned. */
  startedAt: number;
}

const live = new Set<Managed>();

export interface SpawnOptions {
  cwd?: string;
  env: Record<string, string | undefined>;
  /** stdout and stderr both go to this file (raw output of the run). */
  logFile: string;
}

/** Starts a long-running process in a new process group, output appended to `logFile`. */
export function spawnManaged(name: string, cmd: string[], options: SpawnOptions): Managed {
  const fd = openSync(options.logFile, "a");
  try {
    const proc = Bun.spawn(cmd, {
      cwd: options.cwd,
      env: options.env,
      stdin: "ignore",
      stdout: fd,
      stderr: fd,
      // setsid(): the child leads a new process group; stopManaged() signals the whole group.
      detached: true,
    });
    const m: Managed = { name, pid: proc.pid, proc, startedAt: performance.now() };
    live.add(m);
    return m;
  } finally {
    closeSync(fd);
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

function exited(m: Managed): boolean {
  return m.proc.exitCode !== null || m.proc.signalCode !== null;
}

/** SIGTERM to the group, then SIGKILL after `graceMs`. */
export async function stopManaged(m: Managed, graceMs = 8000): Promise<void> {
  if (!exited(m)) {
    signalGroup(m.pid, "SIGTERM");
    const done = await Promise.race([m.proc.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
    if (!done) {
      signalGroup(m.pid, "SIGKILL");
      await Promise.race([m.proc.exited, Bun.sleep(2000)]);
    }
  }
  // A child of the group may outlive its leader; make sure none does.
  signalGroup(m.pid, "SIGKILL");
  live.delete(m);
}

/** Stops everything still running (used in finally blocks and signal handlers). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((m) => stopManaged(m, 3000)));
}

/** Synchronous last resort for process exit: SIGKILL every group we started. */
export function killAllNow(): void {
  for (const m of live) signalGroup(m.pid, "SIGKILL");
  live.clear();
}

/** Peak resident set size (VmHWM) of a running process, in KiB; undefined once it has exited. */
export function peakRssKiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a short command to completion with a hard time limit; output captured. */
export async function runCommand(
  cmd: string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs: number },
): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const proc = Bun.spawn(cmd, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  const m: Managed = { name: cmd[0]!, pid: proc.pid, proc, startedAt: performance.now() };
  live.add(m);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(proc.pid, "SIGKILL");
  }, options.timeoutMs);
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    return { code, stdout, stderr, timedOut };
  } finally {
    clearTimeout(timer);
    signalGroup(proc.pid, "SIGKILL");
    live.delete(m);
  }
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export async function freePort(): Promise<number> {
  const probe = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

/** Polls `url` until it answers 200; returns ms since `m` was spawned. Fails fast if the process dies. */
export async function waitReady(m: Managed, url: string, timeoutMs = 60_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (exited(m)) throw new Error(`${m.name} exited (${m.proc.exitCode ?? m.proc.signalCode}) before it was ready`);
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
    if (res) {
      await res.arrayBuffer().catch(() => {});
      if (res.status === 200) return performance.now() - m.startedAt;
    }
    await Bun.sleep(5);
  }
  throw new Error(`${m.name} not ready at ${url} within ${timeoutMs} ms`);
}
