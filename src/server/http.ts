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

/** For bodies built once and served many times (discovery, health). */
export function preserialized(text: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(text, { status, headers: { "Content-Type": jsonType, ...headers } });
}

export function noStore(res: Response): Response {
  res.headers.set("Cache-Control", "no-store");
  res.headers.set("Pragma", "no-cache");
  return res;
}

/** Reads a JSON body; malformed JSON is a 400, never a crash. */
export async function readJson(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === "") throw badRequest("The request body is empty; a JSON document was expected");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest("The request body is not valid JSON", { debug: (err as Error).message });
  }
}
