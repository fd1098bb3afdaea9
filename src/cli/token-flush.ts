/**
 * @module `gatehouse token flush [--min-age]` (Hydra v1 cmd/token_flush.go): one cleanup run
 * over the admin API, POST /oauth2/flush {"notAfter": now − min-age}.
 */
import { defineCommand } from "citty";
import { parseDuration } from "../config/coerce.ts";
import { adminRequest, expectStatus, remoteArgs, type RemoteOptions } from "./admin-client.ts";
import { fail } from "./shared.ts";

/** Prints no API output, so --format does not apply. */
const { format: _format, ...connectionArgs } = remoteArgs;

export const tokenFlush = defineCommand({
  meta: { name: "flush", description: "Remove expired tokens (and codes, jti records, trust relationships) through the admin API" },
  args: {
    ...connectionArgs,
    "min-age": { type: "string", description: "Keep tokens issued less than this long ago, e.g. 1h (default 0)" },
  },
  async run({ args }) {
    const minAge = args["min-age"] ? parseDuration(args["min-age"]) : 0;
    if (minAge === undefined || minAge < 0) fail(`--min-age: expected a duration such as 30s, 10m or 1h, got "${args["min-age"]}"`);
    const notAfter = new Date(Date.now() - minAge).toISOString();
    const res = await adminRequest(args as RemoteOptions, "POST", "/oauth2/flush", { notAfter });
    expectStatus(res, 204);
    process.stdout.write("Successfully flushed inactive access tokens\n");
  },
});
