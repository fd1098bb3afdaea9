/**
 * @module How remote CLI commands (clients, keys, token …) reach a Gatehouse or Hydra
 * admin API: endpoint resolution (http(s):// or unix:/path) and one request helper.
 */
import { fail } from "./shared.ts";

export const remoteArgs = {
  endpoint: {
    type: "string",
    description: "Admin API: http(s)://host:port or unix:/path/to/admin.sock (default: $HYDRA_ADMIN_URL, $ADMIN_URL, http://127.0.0.1:4445)",
  },
  "fake-tls-termination": { type: "boolean", description: "Send X-Forwarded-Proto: https (for a TLS-terminating setup)" },
  "skip-tls-verify": { type: "boolean", description: "Do not verify the server's TLS certificate" },
  "fail-after": { type: "string", description: "Give up after this long (e.g. 1m, 30s)", default: "1m" },
  format: { type: "string", description: "Output format: json or table", default: "json" },
} as const;

export interface RemoteOptions {
  endpoint?: string;
  "fake-tls-termination"?: boolean;
  "skip-tls-verify"?: boolean;
  "fail-after"?: string;
  format?: string;
}

export function resolveEndpoint(flag: string | undefined, env: Record<string, string | undefined> = process.env): string {
  const endpoint = flag || env.HYDRA_ADMIN_URL || env.ADMIN_URL || "http://127.0.0.1:4445";
  // Hydra accepts unix:///path; we also take unix:/path.
  const normalized = endpoint.replace(/^unix:\/\/(?=\/)/, "unix:");
  if (!/^https?:\/\//.test(normalized) && !/^unix:\//.test(normalized)) {
    fail(`--endpoint: expected http(s)://host:port or unix:/absolute/path, got "${endpoint}"`);
  }
  return normalized.replace(/\/+$/, "");
}

function parseTimeout(text: string | undefined): number {
  const m = /^(\d+)(ms|s|m)?$/.exec(text ?? "1m");
  if (!m) fail(`--fail-after: expected a duration such as 30s or 1m, got "${text}"`);
  return Number(m[1]) * (m[2] === "m" ? 60_000 : m[2] === "ms" ? 1 : 1000);
}

export interface AdminResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One request to the admin API; network failures end the command with a clear message. */
export async function adminRequest(options: RemoteOptions, method: string, path: string, body?: unknown): Promise<AdminResponse> {
  return remoteRequest({ endpoint: resolveEndpoint(options.endpoint), label: "the admin API" }, options, method, path, body);
}

/**
 * One request to a resolved endpoint (admin or public API). A URLSearchParams body is sent as
 * a form (the OAuth 2.0 endpoints), anything else as JSON.
 */
export async function remoteRequest(
  { endpoint, label }: { endpoint: string; label: string },
  options: RemoteOptions,
  method: string,
  path: string,
  body?: unknown,
  extraHeaders: Record<string, string> = {},
): Promise<AdminResponse> {
  const headers: Record<string, string> = { Accept: "application/json", ...extraHeaders };
  const form = body instanceof URLSearchParams;
  if (body !== undefined) headers["Content-Type"] = form ? "application/x-www-form-urlencoded" : "application/json";
  if (options["fake-tls-termination"]) headers["X-Forwarded-Proto"] = "https";
  const init: RequestInit & { unix?: string; tls?: { rejectUnauthorized: boolean } } = {
    method,
    headers,
    body: body === undefined ? undefined : form ? body.toString() : JSON.stringify(body),
    signal: AbortSignal.timeout(parseTimeout(options["fail-after"])),
  };
  let url: string;
  if (endpoint.startsWith("unix:")) {
    init.unix = endpoint.slice("unix:".length);
    url = `http://localhost${path}`;
  } else {
    url = `${endpoint}${path}`;
    if (options["skip-tls-verify"]) init.tls = { rejectUnauthorized: false };
  }
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    fail(`cannot reach ${label} at ${endpoint}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON; keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Ends the command with the API's own error body when the status is not the expected one. */
export function expectStatus(res: AdminResponse, ...ok: number[]): void {
  if (ok.includes(res.status)) return;
  const body = res.body as { error?: string; error_description?: string } | undefined;
  const detail = body && typeof body === "object" && body.error ? `${body.error}: ${body.error_description ?? ""}` : String(res.body ?? "");
  fail(`the admin API answered ${res.status}: ${detail.trim()}`);
}

/** JSON exactly as the API returned it, or a plain table of the named columns. */
export function printOutput(value: unknown, format: string | undefined, columns: string[]): void {
  if (format === "table") {
    const rows = (Array.isArray(value) ? value : [value]) as Record<string, unknown>[];
    const cell = (v: unknown) => (v === undefined || v === null ? "" : Array.isArray(v) ? v.join(",") : typeof v === "object" ? JSON.stringify(v) : String(v));
    const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
    process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
    for (const r of rows) process.stdout.write(`${line(columns.map((c) => cell(r[c])))}\n`);
    return;
  }
  if (format !== undefined && format !== "json") fail(`--format: expected json or table, got "${format}"`);
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
