/**
 * @module JSON Patch (RFC 6902) over JSON Pointers (RFC 6901), for PATCH /clients/{id}.
 * All-or-nothing: operations apply to a copy, and the first failing one fails the patch.
 * Own-property access only, so "__proto__" is an ordinary key, never the prototype.
 */

export class JsonPatchError extends Error {
  override name = "JsonPatchError";
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface PatchOperation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  from?: string;
  value?: unknown;
}

/** Upper bound on operations in one patch; a client document has ~45 fields. */
export const maxPatchOperations = 1000;

const ops = new Set(["add", "remove", "replace", "move", "copy", "test"]);

/** Checks the patch document's shape (RFC 6902 §4): an array of operation objects. */
export function readPatch(body: unknown): PatchOperation[] {
  if (!Array.isArray(body)) throw new JsonPatchError("a JSON Patch document must be a JSON array of operations");
  if (body.length > maxPatchOperations) throw new JsonPatchError(`a JSON Patch document may hold at most ${maxPatchOperations} operations`);
  return body.map((raw, i) => {
    const where = `operation ${i}`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new JsonPatchError(`${where} must be a JSON object`);
    const op = raw as Record<string, unknown>;
    if (typeof op.op !== "string" || !ops.has(op.op)) throw new JsonPatchError(`${where}: "op" must be one of add, remove, replace, move, copy, test`);
    if (typeof op.path !== "string") throw new JsonPatchError(`${where}: "path" must be a string`);
    parsePointer(op.path, where);
    if ((op.op === "move" || op.op === "copy") && typeof op.from !== "string") throw new JsonPatchError(`${where}: "${op.op}" needs a "from" string`);
    if (typeof op.from === "string") parsePointer(op.from, where);
    if ((op.op === "add" || op.op === "replace" || op.op === "test") && !Object.hasOwn(op, "value")) {
      throw new JsonPatchError(`${where}: "${op.op}" needs a "value"`);
    }
    return { op: op.op as PatchOperation["op"], path: op.path, from: op.from as string | undefined, value: op.value };
  });
}

/** RFC 6901: "" is the whole document; "/a~1b/~0c" is ["a/b", "~c"]. */
export function parsePointer(pointer: string, where = "pointer"): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new JsonPatchError(`${where}: JSON Pointer ${JSON.stringify(pointer)} must be empty or start with "/"`);
  return pointer
    .slice(1)
    .split("/")
    .map((token) => {
      if (/~[^01]|~$/.test(token)) throw new JsonPatchError(`${where}: JSON Pointer ${JSON.stringify(pointer)} has an invalid escape`);
      return token.replace(/~1/g, "/").replace(/~0/g, "~");
    });
}

function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

function isObject(value: unknown): value is Record<string, Json> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function arrayIndex(token: string, length: number, allowEnd: boolean, pointer: string): number {
  if (allowEnd && token === "-") return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new JsonPatchError(`${JSON.stringify(pointer)}: ${JSON.stringify(token)} is not an array index`);
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) throw new JsonPatchError(`${JSON.stringify(pointer)}: index ${index} is out of bounds`);
  return index;
}

function setOwn(target: Record<string, unknown>, key: string, value: unknown) {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function resolve(doc: unknown, tokens: string[], pointer: string): unknown {
  let cur = doc;
  for (const token of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(token, cur.length, false, pointer)];
    else if (isObject(cur) && Object.hasOwn(cur, token)) cur = cur[token];
    else throw new JsonPatchError(`${JSON.stringify(pointer)} does not exist`);
  }
  return cur;
}

/** The container holding the pointer's last token, which must exist. */
function parentOf(doc: unknown, tokens: string[], pointer: string): { parent: unknown; key: string } {
  return { parent: resolve(doc, tokens.slice(0, -1), pointer), key: tokens[tokens.length - 1]! };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

function add(doc: unknown, pointer: string, value: unknown): unknown {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(key, parent.length, true, pointer), 0, value);
  else if (isObject(parent)) setOwn(parent, key, value);
  else throw new JsonPatchError(`${JSON.stringify(pointer)}: the parent is not an object or array`);
  return doc;
}

function remove(doc: unknown, pointer: string): { doc: unknown; removed: unknown } {
  const tokens = parsePointer(pointer);
  if (tokens.length === 0) throw new JsonPatchError("the whole document cannot be removed");
  const { parent, key } = parentOf(doc, tokens, pointer);
  if (Array.isArray(parent)) {
    const [removed] = parent.splice(arrayIndex(key, parent.length, false, pointer), 1);
    return { doc, removed };
  }
  if (isObject(parent) && Object.hasOwn(parent, key)) {
    const removed = parent[key];
    delete parent[key];
    return { doc, removed };
  }
  throw new JsonPatchError(`${JSON.stringify(pointer)} does not exist`);
}

/** Applies the operations to a copy of `document`; throws JsonPatchError naming the failing one. */
export function applyPatch(document: unknown, operations: readonly PatchOperation[]): unknown {
  let doc = clone(document);
  operations.forEach((op, i) => {
    const where = `operation ${i} (${op.op} ${op.path})`;
    try {
      switch (op.op) {
        case "add":
          doc = add(doc, op.path, clone(op.value));
          break;
        case "remove":
          doc = remove(doc, op.path).doc;
          break;
        case "replace":
          resolve(doc, parsePointer(op.path), op.path);
          doc = parsePointer(op.path).length === 0 ? clone(op.value) : add(remove(doc, op.path).doc, op.path, clone(op.value));
          break;
        case "move": {
          const from = op.from!;
          if (op.path.startsWith(`${from}/`)) throw new JsonPatchError(`cannot move ${JSON.stringify(from)} into one of its own children`);
          if (from === op.path) {
            resolve(doc, parsePointer(from), from);
            break;
          }
          const { doc: rest, removed } = remove(doc, from);
          doc = add(rest, op.path, removed);
          break;
        }
        case "copy":
          doc = add(doc, op.path, clone(resolve(doc, parsePointer(op.from!), op.from!)));
          break;
        case "test":
          if (!deepEqual(resolve(doc, parsePointer(op.path), op.path), op.value)) throw new JsonPatchError("the value differs");
          break;
      }
    } catch (err) {
      if (err instanceof JsonPatchError) throw new JsonPatchError(`${where}: ${err.message}`);
      throw err;
    }
  });
  return doc;
}
