/** @module The `gatehouse` command: thin citty wrappers over the domain code. */
import { defineCommand } from "citty";
import { commit, version } from "../version.ts";

export const root = defineCommand({
  meta: { name: "gatehouse", version, description: "OAuth 2.0 and OpenID Connect server, a drop-in replacement for ORY Hydra v1" },
  subCommands: {
    serve: () => import("./serve.ts").then((m) => m.serve),
    migrate: () => import("./migrate.ts").then((m) => m.migrate),
    keys: () => import("./keys.ts").then((m) => m.keys),
    clients: () => import("./clients.ts").then((m) => m.clients),
    token: () => import("./token.ts").then((m) => m.token),
    janitor: () => import("./janitor.ts").then((m) => m.janitor),
    version: defineCommand({
      meta: { name: "version", description: "Print the version and the git commit it was built from" },
      run() {
        process.stdout.write(`Version:    ${version}\nGit Hash:   ${commit}\n`);
      },
    }),
  },
});
