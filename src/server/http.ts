/** @module The HTTP vocabulary every route module shares: handler types, JSON replies, body parsing. */
import type { BunRequest, Server } from "bun";
import type { Deps } from "../deps.ts";
import type { Logger } from "../lib/log.ts";
import { badRequest } from "../errors.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What a handler is given besides the request; built per request, never shared. */
export interface Cx {
  deps: Deps;
  requestId: string;
  log: Logger;
  /** Socket peer address; undefined on a Unix socket. */
  ip: string | undefined;
  /** The route template that matched, e.g. "/clients/:id". */
  route: string;
  server: Server<undefined>;
}

export type Handler = (req: BunRequest, cx: Cx) => Promise<Response> | Response;
export type RouteTable = Record<string, Partial<Record<Method, Handler>>>;

const jsonType = "application/json; charset=utf-8";

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": jsonType, ...headers } });
}

/**
 * Headers for preserialized responses, built once: Bun copies a Headers instance into a
 * Response faster than it converts a plain object, and each Response gets its own copy.
 */
export function jsonHeaders(headers: Record<string, string> = {}): Headers {
  return new Headers({ "Content-Type": jsonType, ...headers });
}

const plainJsonHeaders = jsonHeaders();

/** For bodies built once and served many times (discovery, health). */
export function preserialized(text: string, status = 200, headers: Headers = plainJsonHeaders): Response {
  return new Response(text, { status, headers });
}

export function noStore(res: Response): Response {
  res.headers.set("Cache-Control", "no-store");
  res.headers.set("Pragma", "no-cache");
  return res;
}

/** Deepest nesting of objects and arrays admin bodies may have; real documents stay far below. */
export const maxJsonDepth = 64;

/** Nesting depth of a JSON text, counted outside strings, without parsing it. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/**
 * Whether a parsed JSON value holds a NUL in any key or string. PostgreSQL text and jsonb cannot
 * store one, so stores would fail with a 500; input parsers refuse it as a 400 instead.
 */
export function containsNul(value: unknown): boolean {
  if (typeof value === "string") return value.includes("\0");
  if (Array.isArray(value)) return value.some(containsNul);
  if (value && typeof value === "object") return Object.entries(value).some(([k, v]) => k.includes("\0") || containsNul(v));
  return false;
}

/**
 * JSON may spell an unpaired UTF-16 surrogate (`"\udfff"`), which JSON.parse keeps as is;
 * written back to jsonb it is an escape PostgreSQL refuses, so stores would fail with a 500.
 * Go's decoder (Hydra) turns it into U+FFFD, and so does this, in keys and strings;
 * well-formed input comes back as is.
 */
export function wellFormedJson(value: unknown): unknown {
  if (typeof value === "string") return value.isWellFormed() ? value : value.toWellFormed();
  if (Array.isArray(value)) {
    const out = value.map(wellFormedJson);
    return out.some((v, i) => v !== value[i]) ? out : value;
  }
  if (value && typeof value === "object") {
    const entries = Object.entries(value);
    const out = entries.map(([k, v]) => [wellFormedJson(k) as string, wellFormedJson(v)] as const);
    // fromEntries defines own properties: a "__proto__" key stays data, never a prototype.
    return out.some(([k, v], i) => k !== entries[i]![0] || v !== entries[i]![1]) ? Object.fromEntries(out) : value;
  }
  return value;
}

/** Reads a JSON body; malformed or absurdly nested JSON is a 400, never a crash. */
export async function readJson(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === "") throw badRequest("The request body is empty; a JSON document was expected");
  // Checked before parsing: deep nesting costs stack in JSON.parse and in every walker after it.
  if (jsonDepth(text) > maxJsonDepth) throw badRequest(`The request body is nested deeper than ${maxJsonDepth} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw badRequest("The request body is not valid JSON", { debug: (err as Error).message });
  }
  return wellFormedJson(parsed);
}
