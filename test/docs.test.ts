// The documentation stands on its own: nothing in the repository cites a note that is not in it, every
// relative link in the Markdown resolves (file and #anchor), and so does every `docs/PAGE.md#anchor` that a
// source comment cites.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { anchors, brokenLink, links, repositoryFiles, slug } from "./support/markdown.js";

const ROOT = process.cwd();
const FILES = repositoryFiles(ROOT);

function text(file: string): string | null {
  const buf = readFileSync(file);
  return buf.includes(0) ? null : buf.toString("utf8");
}

describe("the checker itself", () => {
  it("makes GitHub's anchors from headings", () => {
    expect(slug("`voicectl gate`: the release gate for CI")).toBe("voicectl-gate-the-release-gate-for-ci");
    expect(slug("Many slices: family-wise error")).toBe("many-slices-family-wise-error");
    expect(slug("Who uses it, and [why](x.md)")).toBe("who-uses-it-and-why");
    expect([...anchors("# A\n## B\n```\n# not a heading\n```\n## B\n")]).toEqual(["a", "b", "b-1"]);
  });

  it("finds links outside code, and reports a missing file or anchor", () => {
    expect(links("see [a](docs/x.md#y) and `[b](c.md)`\n```\n[d](e.md)\n```\n")).toEqual([
      { line: 1, target: "docs/x.md#y" },
    ]);
    expect(brokenLink(ROOT, "README.md", "docs/decisions.md#decision-rules")).toBeNull();
    expect(brokenLink(ROOT, "README.md", "docs/no-such-page.md")).toMatch(/does not exist/);
    expect(brokenLink(ROOT, "README.md", "docs/decisions.md#no-such-heading")).toMatch(/no heading/);
    expect(brokenLink(ROOT, "docs/statistics.md", "../README.md#quick-start")).toBeNull();
    expect(brokenLink(ROOT, "README.md", "https://example.com/missing")).toBeNull();
  });
});

describe("documentation", () => {
  it("lists the repository's files (a sanity check of the listing the other tests rely on)", () => {
    expect(FILES).toContain("README.md");
    expect(FILES).toContain("src/core/types.ts");
    expect(FILES.some((f) => f.startsWith("node_modules/"))).toBe(false);
  });

  it("nothing cites the private design notes, which are not in the repository", () => {
    // Spelled in two parts so that this file does not match itself.
    const name = ["design", "md"].join(".");
    const hits = FILES.flatMap((f) => {
      const t = text(f);
      if (t === null) return [];
      return t.split("\n").flatMap((l, i) => (l.includes(name) ? [`${f}:${i + 1}: ${l.trim()}`] : []));
    });
    expect(hits).toEqual([]);
  });

  it("every relative link in the Markdown files resolves to a file and a heading", () => {
    const problems = FILES.filter((f) => f.endsWith(".md")).flatMap((f) =>
      links(readFileSync(f, "utf8")).flatMap(({ line, target }) => {
        const p = brokenLink(ROOT, f, target);
        return p === null ? [] : [`${f}:${line}: ${p}`];
      }),
    );
    expect(problems).toEqual([]);
  });

  it("every docs page a file cites (docs/PAGE.md#anchor) exists and has that heading", () => {
    let cited = 0;
    const problems = FILES.flatMap((f) => {
      const t = text(f);
      // Markdown links are checked above, relative to their file; this file holds broken ones on purpose.
      if (t === null || f.endsWith(".md") || f === "test/docs.test.ts") return [];
      return t.split("\n").flatMap((l, i) =>
        [...l.matchAll(/\bdocs\/[\w-]+\.md(?:#[\w-]+)?/g)].flatMap((m) => {
          cited++;
          const p = brokenLink(ROOT, ".", m[0]);
          return p === null ? [] : [`${f}:${i + 1}: ${p}`];
        }),
      );
    });
    expect(problems).toEqual([]);
    expect(cited).toBeGreaterThan(20); // the source comments do cite the docs
  });

  it("the README links every page in docs/", () => {
    const readme = links(readFileSync("README.md", "utf8")).map((l) => l.target.split("#")[0]);
    const pages = FILES.filter((f) => /^docs\/[^/]+\.md$/.test(f));
    expect(pages.length).toBeGreaterThan(0);
    expect(pages.filter((p) => !readme.includes(p))).toEqual([]);
  });
});
