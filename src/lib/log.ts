/** @module Loggers: consola with Hydra's level names, text or JSON lines on stderr. */
import { createConsola, type ConsolaInstance, type LogObject } from "consola";
import type { Config } from "../config/schema.ts";

export type Logger = ConsolaInstance;

const levels: Record<Config["log"]["level"], number> = {
  panic: 0,
  fatal: 0,
  error: 0,
  warn: 1,
  info: 3,
  debug: 4,
  trace: 5,
};

function jsonReporter(pretty: boolean) {
  return {
    log(entry: LogObject) {
      const fields: Record<string, unknown> = {};
      const words: string[] = [];
      for (const arg of entry.args) {
        if (arg instanceof Error) fields.error = { message: arg.message, stack: arg.stack };
        else if (typeof arg === "object" && arg !== null) Object.assign(fields, arg);
        else words.push(String(arg));
      }
      const line = { time: entry.date.toISOString(), level: entry.type, tag: entry.tag || undefined, msg: words.join(" "), ...fields };
      process.stderr.write(`${JSON.stringify(line, null, pretty ? 2 : undefined)}\n`);
    },
  };
}

function textReporter() {
  return {
    log(entry: LogObject) {
      const parts = entry.args.map((arg) => {
        if (arg instanceof Error) return arg.stack ?? arg.message;
        if (typeof arg === "object" && arg !== null) {
          return Object.entries(arg)
            .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
            .join(" ");
        }
        return String(arg);
      });
      const tag = entry.tag ? `[${entry.tag}] ` : "";
      process.stderr.write(`${entry.date.toISOString()} ${entry.type.toUpperCase().padEnd(5)} ${tag}${parts.join(" ")}\n`);
    },
  };
}

export function createLogger(log: Pick<Config["log"], "level" | "format">): Logger {
  return createConsola({
    level: levels[log.level],
    reporters: [log.format === "text" ? textReporter() : jsonReporter(log.format === "json_pretty")],
  });
}
