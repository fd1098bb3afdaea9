// `import x from "./file.wasm" with { type: "file" }` gives a path (a /$bunfs path once compiled).
declare module "*.wasm" {
  const path: string;
  export default path;
}
declare module "*.data" {
  const path: string;
  export default path;
}
