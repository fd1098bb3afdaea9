/**
 * @module Value readers for config leaves. A leaf can arrive as a YAML
 * scalar (read as text, see load.ts), an environment string, a flag string
 * or a typed default, so every reader takes `unknown` and says what it expected.
 */
import * as v from "valibot";

export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === "object") return JSON.stringify(value).slice(0, 80);
  return String(value);
}

/** A schema that turns `unknown` into T, or fails with "expected …, got …". */
export function reader<T>(expected: string, parse: (input: unknown) => T | undefined) {
  return v.pipe(
    v.unknown(),
    v.rawTransform<unknown, T>(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value);
      if (out === undefined) {
        addIssue({ message: `expected ${expected}, got ${show(dataset.value)}` });
        return NEVER;
      }
      return out;
    }),
  );
}

export function parseIntLike(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isInteger(input) ? input : undefined;
  if (typeof input === "string" && /^\s*-?\d+\s*$/.test(input)) return Number.parseInt(input, 10);
  return undefined;
}

export function parseBool(input: unknown): boolean | undefined {
  if (typeof input === "boolean") return input;
  if (typeof input === "string") {
    const s = input.trim().toLowerCase();
    if (s === "true" || s === "1") return true;
    if (s === "false" || s === "0") return false;
  }
  return undefined;
}

/** Lists come as YAML sequences, or from env/flags as CSV or a JSON array (as Hydra's configx). */
export function parseStringList(input: unknown): string[] | undefined {
  if (Array.isArray(input)) {
    return input.every((x) => typeof x === "string" || typeof x === "number")
      ? input.map(String)
      : undefined;
  }
  if (typeof input !== "string") return undefined;
  const s = input.trim();
  if (s === "") return [];
  if (s.startsWith("[")) {
    try {
      return parseStringList(JSON.parse(s));
    } catch {
      return undefined;
    }
  }
  return s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");
}

const durationUnitsMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const maxDurationMs = Number(2n ** 63n - 1n) / 1e6;

/** Go duration syntax (`1h`, `30m`, `1h30m`, `500ms`) as Hydra takes it; result in milliseconds. */
export function parseDuration(input: unknown): number | undefined {
  if (typeof input === "number") return Number.isFinite(input) ? input : undefined;
  if (typeof input !== "string") return undefined;
  const s = input.trim();
  if (s === "0") return 0;
  if (!/^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(m[1]) * (durationUnitsMs[m[2]!] ?? 0);
  }
  // Go refuses durations over int64 nanoseconds (about 292 years); so do we.
  return total <= maxDurationMs ? Math.round(total) : undefined;
}

/**
 * A file mode read as `chmod` reads it: the digits are octal whether written
 * `770`, `0770` or `0o770`. Returns undefined for an 8 or 9 or a mode over 0777.
 */
export function parseOctalMode(input: unknown): number | undefined {
  const text = typeof input === "number" ? String(input) : typeof input === "string" ? input.trim() : "";
  const m = /^(?:0o|0)?([0-7]{1,4})$/i.exec(text);
  if (!m) return undefined;
  const mode = Number.parseInt(m[1]!, 8);
  return mode <= 0o777 ? mode : undefined;
}

export function parseUrl(input: unknown): URL | undefined {
  if (typeof input !== "string" || input.trim() === "") return undefined;
  try {
    return new URL(input.trim());
  } catch {
    return undefined;
  }
}
