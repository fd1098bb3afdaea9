/** @module What machine and which versions a run measured, saved with its raw output. */
import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";
import { runCommand } from "./processes.ts";

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  versions: Record<string, string>;
}

async function firstLine(cmd: string[]): Promise<string> {
  const out = await runCommand(cmd, { timeoutMs: 10_000 }).catch(() => undefined);
  return (out?.stdout || out?.stderr || "").trim().split("\n")[0] ?? "";
}

export async function machineInfo(versions: Record<string, string>): Promise<MachineInfo> {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const nproc = Number(await firstLine(["nproc"])) || availableParallelism();
  return {
    nproc,
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: await firstLine(["uname", "-srm"]),
    versions: {
      bun: Bun.version,
      wrk: (await firstLine(["wrk", "-v"])).replace(/ Copyright.*/, ""),
      pgbench: await firstLine(["pgbench", "--version"]),
      ...versions,
    },
  };
}
