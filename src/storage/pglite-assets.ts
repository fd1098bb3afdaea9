/**
 * @module PGlite's wasm and data files, embedded in the compiled binary.
 * Inside `bun build --compile` these imports become /$bunfs paths that PGlite
 * cannot find by itself, so they are loaded here and handed to it.
 */
import type { PGliteOptions } from "@electric-sql/pglite";
import pgliteWasm from "../../node_modules/@electric-sql/pglite/dist/pglite.wasm" with { type: "file" };
import initdbWasm from "../../node_modules/@electric-sql/pglite/dist/initdb.wasm" with { type: "file" };
import pgliteData from "../../node_modules/@electric-sql/pglite/dist/pglite.data" with { type: "file" };

let compiled: Promise<[WebAssembly.Module, WebAssembly.Module]> | undefined;

export async function pgliteAssets(): Promise<Pick<PGliteOptions, "pgliteWasmModule" | "initdbWasmModule" | "fsBundle">> {
  // Compiling the modules costs ~100 ms; share them between instances (tests open several).
  compiled ??= Promise.all([
    Bun.file(pgliteWasm).arrayBuffer().then((b) => WebAssembly.compile(b)),
    Bun.file(initdbWasm).arrayBuffer().then((b) => WebAssembly.compile(b)),
  ]);
  const [pgliteWasmModule, initdbWasmModule] = await compiled;
  return { pgliteWasmModule, initdbWasmModule, fsBundle: Bun.file(pgliteData) };
}
