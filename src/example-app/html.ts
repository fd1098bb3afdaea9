/** @module The example app's pages: its layout, error pages and redirects. */
import { escapeHtml, htmlPage, type HtmlPageOptions } from "../lib/html.ts";

export { escapeHtml };

export function page(options: Omit<HtmlPageOptions, "footer">): Response {
  return htmlPage({ ...options, footer: "Gatehouse example app. Replace it with your own: see the README." });
}

/** An error page: a heading and one explanatory line. */
export function errorPage(status: number, heading: string, detail: string): Response {
  return page({
    title: heading,
    status,
    body: `<h1>${escapeHtml(heading)}</h1>\n<p class="error">${escapeHtml(detail)}</p>`,
  });
}

/** 303 after a POST (the browser follows with GET), 302 otherwise. */
export function redirect(location: string, status: 302 | 303 = 302): Response {
  return new Response(null, { status, headers: { Location: location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer" } });
}
