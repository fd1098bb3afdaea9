import { expect, test } from "bun:test";
import { paginationHeaders, parsePage } from "../../src/server/pagination.ts";

const url = new URL("http://admin.example/clients");
const links = (total: number, limit: number, offset: number) => paginationHeaders(url, total, limit, offset);

// The vectors of ory/x v0.0.368 pagination/header_test.go, with our relative /clients URL.
test("Link headers match ory/x pagination.Header", () => {
  expect(links(120, 50, 100)).toEqual({
    "X-Total-Count": "120",
    Link: '</clients?limit=50&offset=0>; rel="first",</clients?limit=50&offset=50>; rel="prev"',
  });
  expect(links(120, 50, 0).Link).toBe('</clients?limit=50&offset=50>; rel="next",</clients?limit=50&offset=100>; rel="last"');
  expect(links(120, 50, 10).Link).toBe('</clients?limit=50&offset=50>; rel="next",</clients?limit=50&offset=100>; rel="last"');
  expect(links(300, 50, 150).Link).toBe(
    '</clients?limit=50&offset=0>; rel="first",</clients?limit=50&offset=200>; rel="next",</clients?limit=50&offset=100>; rel="prev",</clients?limit=50&offset=250>; rel="last"',
  );
  expect(links(100, 0, 20).Link).toBe(
    '</clients?limit=1&offset=0>; rel="first",</clients?limit=1&offset=21>; rel="next",</clients?limit=1&offset=19>; rel="prev",</clients?limit=1&offset=99>; rel="last"',
  );
  expect(links(0, 50, 150).Link).toBe('</clients?limit=50&offset=0>; rel="first",</clients?limit=50&offset=200>; rel="next",</clients?limit=50&offset=100>; rel="prev"');
  expect(links(5, 50, 0).Link).toBe('</clients?limit=5&offset=0>; rel="first"');
});

test("other query parameters are kept and sorted, escaped as Go's url.Values.Encode", () => {
  const u = new URL("http://admin.example/clients?owner=a+b&client_name=x%26y&limit=9");
  expect(paginationHeaders(u, 5, 50, 0).Link).toBe('</clients?client_name=x%26y&limit=5&offset=0&owner=a+b>; rel="first"');
});

test("limit and offset parse as ory/x pagination.Parse (limit 0 becomes 1)", () => {
  const p = (q: string) => parsePage(new URLSearchParams(q), 100, 500);
  expect(p("")).toEqual({ limit: 100, offset: 0 });
  expect(p("limit=20&offset=40")).toEqual({ limit: 20, offset: 40 });
  expect(p("limit=501")).toEqual({ limit: 500, offset: 0 });
  expect(p("limit=-5&offset=-5")).toEqual({ limit: 1, offset: 0 });
  expect(p("limit=0")).toEqual({ limit: 1, offset: 0 });
  expect(p("limit=ten&offset=1.5")).toEqual({ limit: 100, offset: 0 });
});
