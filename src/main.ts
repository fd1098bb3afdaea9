#!/usr/bin/env bun
/** @module Entry point of the CLI and of the compiled binary. */
import { runMain } from "citty";
import { root } from "./cli/index.ts";

await runMain(root);
