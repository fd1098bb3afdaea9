/**
 * @module Where the reliability tests leave their figures: one JSON file per test under
 * test/.artifacts/reliability/ (git-ignored), read by report.ts to render RELIABILITY.md.
 * Each file says which variant ran (short in CI, long with RELIABILITY_LONG=1), when, on
 * what machine and at which commit, so the report never mixes up where a number came from.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

export const figuresDir = join(import.meta.dir, "..", ".artifacts", "reliability");

export const variant: "short" | "long" = process.env.RELIABILITY_LONG === "1" ? "long" : "short";

export interface FiguresFile {
  test: string;
  variant: "short" | "long";
  recordedAt: string;
  machine: string;
  commit: string;
  figures: Record<string, unknown>;
}

function git(args: string[]): string {
  const out = Bun.spawnSync(["git", ...args], { cwd: join(import.meta.dir, "..", ".."), stdout: "pipe", stderr: "ignore", timeout: 5000 });
  return out.exitCode === 0 ? out.stdout.toString().trim() : "";
}

export function describeMachine(): string {
  const cpu = cpus();
  return `${cpu.length} CPU (${cpu[0]?.model.trim() ?? "unknown"}), ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}/${process.arch}, Bun ${Bun.version}`;
}

export function describeCommit(): string {
  const head = git(["rev-parse", "--short=12", "HEAD"]) || "unknown";
  return git(["status", "--porcelain", "--untracked-files=no"]) ? `${head} + uncommitted changes` : head;
}

/** Writes (replaces) the figures of one test: `name` is the test file's base name. */
export function recordFigures(name: string, figures: Record<string, unknown>): void {
  mkdirSync(figuresDir, { recursive: true });
  const file: FiguresFile = { test: name, variant, recordedAt: new Date().toISOString(), machine: describeMachine(), commit: describeCommit(), figures };
  writeFileSync(join(figuresDir, `${name}.${variant}.json`), `${JSON.stringify(file, null, 2)}\n`);
}


/** For files with several tests: each adds its part, the file is rewritten with all parts so far. */
export function figuresOf(name: string): { add(part: string, figures: Record<string, unknown>): void } {
  const parts: Record<string, unknown> = {};
  return {
    add(part, figures) {
      parts[part] = figures;
      recordFigures(name, parts);
    },
  };
}
