/**
 * @module Opens one listener: TCP (HTTP or HTTPS) or a Unix socket whose owner,
 * group and mode come from config. Also closes it gracefully.
 */
import { chmodSync, chownSync, lstatSync, readFileSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import type { Server } from "bun";
import type { ListenerConfig } from "../config/schema.ts";
import type { TlsMaterial } from "../config/load.ts";
import type { Deps } from "../deps.ts";
import { renderError } from "./render-error.ts";
import { buildRoutes, type ListenerPolicy } from "./pipeline.ts";
import type { RouteTable } from "./http.ts";

export class ListenError extends Error {
  override name = "ListenError";
}

export interface Listener {
  name: "public" | "admin";
  server: Server<undefined>;
  /** http://127.0.0.1:4444/ or unix:/run/gatehouse/admin.sock */
  address: string;
  /** Stops accepting, waits for in-flight requests up to graceMs, then closes the rest. */
  stop(graceMs: number): Promise<void>;
}

export interface ListenOptions {
  name: "public" | "admin";
  listener: ListenerConfig;
  routes: RouteTable;
  deps: Deps;
  tls?: TlsMaterial;
  terminationRanges: readonly string[];
  cors?: ListenerPolicy["cors"];
}

function lookupId(file: string, name: string, what: string, key: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const line = readFileSync(file, "utf8")
    .split("\n")
    .find((l) => l.split(":")[0] === name);
  if (!line) throw new ListenError(`${key}: there is no ${what} named "${name}" on this system`);
  return Number(line.split(":")[2]);
}

/** Whether something accepts connections on the socket; a listener too busy to answer counts as live. */
async function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = createConnection({ path });
    const timer = setTimeout(() => {
      conn.destroy();
      resolve(true);
    }, 1000);
    conn.once("connect", () => {
      clearTimeout(timer);
      conn.destroy();
      resolve(true);
    });
    conn.once("error", () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** A stale socket from a crashed run is removed; a live one or a non-socket file is an error. */
async function clearSocketPath(path: string, key: string) {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!stat.isSocket()) throw new ListenError(`${key}: "${path}" exists and is not a Unix socket; refusing to replace it`);
  if (await socketIsLive(path)) throw new ListenError(`${key}: "${path}" is in use by another running process`);
  rmSync(path, { force: true });
}

export async function listen(options: ListenOptions): Promise<Listener> {
  const { name, listener, deps } = options;
  const unixPath = listener.host.startsWith("unix:") ? listener.host.slice("unix:".length) : undefined;
  const built = buildRoutes(options.routes, deps, {
    name,
    unix: Boolean(unixPath),
    terminationRanges: options.terminationRanges,
    cors: options.cors,
  });
  const log = deps.log.withTag(name);
  const common = {
    development: false,
    // Bun refuses a bigger body itself (413, connection closed) before any handler reads it,
    // so an oversized upload never reaches memory or a parser.
    maxRequestBodySize: deps.config.serve.request_body_limit,
    routes: built.routes,
    fetch: built.fallback,
    // Reached only if the pipeline itself throws; still one renderer.
    error: (err: Error) => renderError(err, deps.config, log, "unknown"),
  };

  let server: Server<undefined>;
  let address: string;
  if (unixPath) {
    const key = `serve.${name}.host`;
    const uid = listener.socket.owner ? lookupId("/etc/passwd", listener.socket.owner, "user", `serve.${name}.socket.owner`) : -1;
    const gid = listener.socket.group ? lookupId("/etc/group", listener.socket.group, "group", `serve.${name}.socket.group`) : -1;
    await clearSocketPath(unixPath, key);
    // The socket is born 0700 (umask 077) and only then set to the configured owner and mode,
    // so there is no moment where others can connect before the configured mode applies.
    const previous = process.umask(0o077);
    try {
      server = Bun.serve({ ...common, unix: unixPath });
    } catch (err) {
      throw new ListenError(`${key}: cannot listen on "${unixPath}": ${(err as Error).message}`);
    } finally {
      process.umask(previous);
    }
    try {
      if (uid !== -1 || gid !== -1) chownSync(unixPath, uid, gid);
      chmodSync(unixPath, listener.socket.mode);
    } catch (err) {
      // Stopping also removes the socket file, so a failed start leaves nothing behind.
      await server.stop(true);
      throw new ListenError(`serve.${name}.socket: cannot set owner/group/mode of "${unixPath}": ${(err as Error).message}`);
    }
    address = `unix:${unixPath}`;
  } else {
    const tcp = (hostname: string) =>
      Bun.serve({
        ...common,
        hostname,
        port: listener.port,
        // serve.idle_timeout: a client that stalls mid-body or sits idle is cut off. Bun (uWS)
        // also closes a connection whose request line and headers are still incomplete after
        // ~10 s whatever this says, and answers 431 to oversized headers by itself. Bun's types
        // offer no idleTimeout on Unix sockets, which keep its 10 s default.
        idleTimeout: Math.ceil(deps.config.serve.idle_timeout / 1000),
        ...(options.tls ? { tls: { cert: options.tls.cert, key: options.tls.key } } : {}),
      });
    try {
      if (listener.host) {
        server = tcp(listener.host);
      } else {
        // An empty host means every interface, IPv6 and IPv4 (Go's ":4444" in Hydra);
        // a host without IPv6 falls back to every IPv4 interface.
        try {
          server = tcp("::");
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") throw err;
          server = tcp("0.0.0.0");
        }
      }
    } catch (err) {
      throw new ListenError(`serve.${name}: cannot listen on ${listener.host || "all interfaces"}:${listener.port}: ${(err as Error).message}`);
    }
    const host = server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname;
    address = `${options.tls ? "https" : "http"}://${host}:${server.port}/`;
  }

  return {
    name,
    server,
    address,
    async stop(graceMs) {
      const drained = server.stop(false).then(() => true);
      const late = await Promise.race([drained, Bun.sleep(graceMs).then(() => false)]);
      if (!late) {
        log.warn(`in-flight requests still running after ${graceMs} ms; closing them`);
        await server.stop(true);
      }
      if (unixPath) rmSync(unixPath, { force: true });
    },
  };
}
