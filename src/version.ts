/** @module Version and commit, baked in by build.ts; a source run says "dev". */
import pkg from "../package.json" with { type: "json" };

declare const GATEHOUSE_VERSION: string | undefined;
declare const GATEHOUSE_COMMIT: string | undefined;

export const version: string = typeof GATEHOUSE_VERSION === "string" ? GATEHOUSE_VERSION : `${pkg.version}-dev`;
export const commit: string = typeof GATEHOUSE_COMMIT === "string" ? GATEHOUSE_COMMIT : "unknown";
