/** @module `gatehouse serve all|public|admin`. */
import { defineCommand } from "citty";
import type { ServeWhich } from "../config/load.ts";
import { ConfigError } from "../config/load.ts";
import { startServer, StartupError } from "../server/app.ts";
import { ListenError } from "../server/listen.ts";
import { DatabaseError } from "../storage/db.ts";
import { version } from "../version.ts";
import { configArgs, fail, loadOrExit, parseList } from "./shared.ts";

const serveArgs = {
  ...configArgs,
  dev: { type: "boolean", description: "Development mode: plain HTTP, generated secret if none, loud warnings. Never in production." },
  "dangerous-force-http": { type: "boolean", description: "Serve plain HTTP without TLS and allow an http issuer. Never in production." },
  "dangerous-allow-insecure-redirect-urls": { type: "string", description: "Comma-separated http redirect URIs to allow (needs --dangerous-force-http)" },
  "sqa-opt-out": { type: "boolean", description: "Accepted for Hydra compatibility; Gatehouse sends no telemetry." },
} as const;

function serveCommand(which: ServeWhich, description: string) {
  return defineCommand({
    meta: { name: which, description },
    args: serveArgs,
    async run({ args, rawArgs }) {
      const insecureRedirectUrls = parseList(args["dangerous-allow-insecure-redirect-urls"]);
      if (insecureRedirectUrls.length > 0 && !args["dangerous-force-http"]) {
        fail("--dangerous-allow-insecure-redirect-urls can only be used together with --dangerous-force-http");
      }
      const mode = { dev: Boolean(args.dev), forceHttp: Boolean(args["dangerous-force-http"]), insecureRedirectUrls };
      const { loaded, log } = loadOrExit(rawArgs, mode);
      if (mode.dev) log.warn("running with --dev: insecure defaults are on. Never do this in production.");
      else if (mode.forceHttp) log.warn("HTTPS disabled (--dangerous-force-http). Never do this in production.");
      log.info(`gatehouse ${version} starting (serve ${which})`);
      let running;
      try {
        running = await startServer(loaded, which, log);
      } catch (err) {
        if (err instanceof ConfigError || err instanceof StartupError || err instanceof ListenError || err instanceof DatabaseError) {
          fail(err.message);
        }
        throw err;
      }
      const shutdown = async (signal: string) => {
        const grace = loaded.config.serve.shutdown_timeout;
        log.info(`${signal} received: finishing in-flight requests (up to ${grace} ms)`);
        // Listeners are bounded by the grace period; this bounds the rest (closing the database).
        setTimeout(() => {
          log.error(`shutdown did not finish within ${grace + 10_000} ms; exiting anyway`);
          process.exit(1);
        }, grace + 10_000).unref();
        try {
          await running.stop();
        } catch (err) {
          log.error("shutdown failed", err);
          process.exit(1);
        }
        log.info("stopped");
        process.exit(0);
      };
      process.once("SIGTERM", () => void shutdown("SIGTERM"));
      process.once("SIGINT", () => void shutdown("SIGINT"));
    },
  });
}

export const serve = defineCommand({
  meta: { name: "serve", description: "Run the HTTP listeners" },
  subCommands: {
    all: serveCommand("all", "Serve the public and the admin API in one process"),
    public: serveCommand("public", "Serve only the public API"),
    admin: serveCommand("admin", "Serve only the admin API"),
  },
});
