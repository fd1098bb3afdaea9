import { describe, expect, test } from "bun:test";
import { applyPatch, JsonPatchError, maxPatchOperations, parsePointer, readPatch } from "../../src/clients/json-patch.ts";

const patch = (doc: unknown, ops: unknown) => applyPatch(doc, readPatch(ops));

describe("RFC 6902 Appendix A examples", () => {
  const cases: [string, unknown, unknown[], unknown][] = [
    ["A.1 add an object member", { foo: "bar" }, [{ op: "add", path: "/baz", value: "qux" }], { baz: "qux", foo: "bar" }],
    ["A.2 add an array element", { foo: ["bar", "baz"] }, [{ op: "add", path: "/foo/1", value: "qux" }], { foo: ["bar", "qux", "baz"] }],
    ["A.3 remove an object member", { baz: "qux", foo: "bar" }, [{ op: "remove", path: "/baz" }], { foo: "bar" }],
    ["A.4 remove an array element", { foo: ["bar", "qux", "baz"] }, [{ op: "remove", path: "/foo/1" }], { foo: ["bar", "baz"] }],
    ["A.5 replace a value", { baz: "qux", foo: "bar" }, [{ op: "replace", path: "/baz", value: "boo" }], { baz: "boo", foo: "bar" }],
    [
      "A.6 move a value",
      { foo: { bar: "baz", waldo: "fred" }, qux: { corge: "grault" } },
      [{ op: "move", from: "/foo/waldo", path: "/qux/thud" }],
      { foo: { bar: "baz" }, qux: { corge: "grault", thud: "fred" } },
    ],
    ["A.7 move an array element", { foo: ["all", "grass", "cows", "eat"] }, [{ op: "move", from: "/foo/1", path: "/foo/3" }], { foo: ["all", "cows", "eat", "grass"] }],
    [
      "A.8 test a value (success)",
      { baz: "qux", foo: ["a", 2, "c"] },
      [
        { op: "test", path: "/baz", value: "qux" },
        { op: "test", path: "/foo/1", value: 2 },
      ],
      { baz: "qux", foo: ["a", 2, "c"] },
    ],
    ["A.10 add a nested member object", { foo: "bar" }, [{ op: "add", path: "/child", value: { grandchild: {} } }], { foo: "bar", child: { grandchild: {} } }],
    ["A.11 ignore unrecognized elements", { foo: "bar" }, [{ op: "add", path: "/baz", value: "qux", xyz: 123 }], { foo: "bar", baz: "qux" }],
    ["A.14 ~ escape ordering", { "/": 9, "~1": 10 }, [{ op: "test", path: "/~01", value: 10 }], { "/": 9, "~1": 10 }],
    ["A.16 add an array value", { foo: ["bar"] }, [{ op: "add", path: "/foo/-", value: ["abc", "def"] }], { foo: ["bar", ["abc", "def"]] }],
    ["copy makes a deep copy", { a: { b: [1] } }, [{ op: "copy", from: "/a", path: "/c" }, { op: "add", path: "/c/b/-", value: 2 }], { a: { b: [1] }, c: { b: [1, 2] } }],
    ["replace the root", { a: 1 }, [{ op: "replace", path: "", value: { b: 2 } }], { b: 2 }],
    ["test deep equality ignores key order", { a: { x: 1, y: [1, { z: null }] } }, [{ op: "test", path: "/a", value: { y: [1, { z: null }], x: 1 } }], { a: { x: 1, y: [1, { z: null }] } }],
  ];
  for (const [name, doc, ops, expected] of cases) {
    test(name, () => {
      expect(patch(doc, ops)).toEqual(expected);
    });
  }

  const failures: [string, unknown, unknown[]][] = [
    ["A.9 test a value (error)", { baz: "qux" }, [{ op: "test", path: "/baz", value: "bar" }]],
    ["A.12 add to a nonexistent target", { foo: "bar" }, [{ op: "add", path: "/baz/bat", value: "qux" }]],
    ["A.15 comparing strings and numbers", { "/": 9, "~1": 10 }, [{ op: "test", path: "/~01", value: "10" }]],
    ["remove a missing member", { a: 1 }, [{ op: "remove", path: "/b" }]],
    ["array index with a leading zero", { a: [1, 2] }, [{ op: "replace", path: "/a/01", value: 3 }]],
    ["- is not readable", { a: [1] }, [{ op: "test", path: "/a/-", value: 1 }]],
    ["remove the root", { a: 1 }, [{ op: "remove", path: "" }]],
    ["inherited keys do not exist", {}, [{ op: "test", path: "/toString", value: null }]],
  ];
  for (const [name, doc, ops] of failures) {
    test(name, () => {
      expect(() => patch(doc, ops)).toThrow(JsonPatchError);
    });
  }

  test("A.13 invalid JSON Patch document (op missing a value) is refused before applying", () => {
    expect(() => readPatch([{ op: "add", path: "/baz" }])).toThrow('operation 0: "add" needs a "value"');
  });

  test("the input document is never modified, even when a later operation fails", () => {
    const doc = { a: [1], b: { c: 1 } };
    expect(() => patch(doc, [{ op: "add", path: "/a/-", value: 2 }, { op: "remove", path: "/b/c" }, { op: "test", path: "/a/0", value: 9 }])).toThrow(JsonPatchError);
    expect(doc).toEqual({ a: [1], b: { c: 1 } });
  });

  test("__proto__ is an ordinary key and never the prototype", () => {
    const out = patch({}, [{ op: "add", path: "/__proto__", value: { polluted: true } }]) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, "__proto__")).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("pointers: escapes and bad syntax", () => {
    expect(parsePointer("")).toEqual([]);
    expect(parsePointer("/a~1b/~0c/")).toEqual(["a/b", "~c", ""]);
    expect(() => parsePointer("a")).toThrow(JsonPatchError);
    expect(() => parsePointer("/a~")).toThrow(JsonPatchError);
  });

  test("the number of operations is bounded", () => {
    const ops = Array.from({ length: maxPatchOperations + 1 }, () => ({ op: "test", path: "", value: {} }));
    expect(() => readPatch(ops)).toThrow(`at most ${maxPatchOperations} operations`);
  });
});
