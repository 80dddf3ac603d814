// Just enough Markdown for the documentation tests: headings and the anchors GitHub makes of them, links,
// and fenced code blocks with the HTML comment that marks how a README example is checked.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

/** Lines outside fenced code blocks, with their 1-based line numbers. */
function proseLines(md: string): { line: number; text: string }[] {
  const out: { line: number; text: string }[] = [];
  let fence: string | null = null;
  md.split("\n").forEach((text, i) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(text);
    if (m) {
      if (fence === null) fence = m[1]!;
      else if (m[1]!.startsWith(fence)) fence = null;
      return;
    }
    if (fence === null) out.push({ line: i + 1, text });
  });
  return out;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1") // a link's text only
    .replace(/<[^>]+>/g, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .trim()
    .replace(/\s/g, "-");
}

/** Every anchor a Markdown file offers: its headings' slugs, numbered like GitHub's when repeated. */
export function anchors(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const { text } of proseLines(md)) {
    const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!h) continue;
    const base = slug(h[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

export interface Link {
  readonly line: number;
  readonly target: string;
}

/** Inline links and images outside code: `[text](target)`, without a title. */
export function links(md: string): Link[] {
  const out: Link[] = [];
  for (const { line, text } of proseLines(md)) {
    const prose = text.replace(/`[^`]*`/g, ""); // code spans are not links
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      out.push({ line, target: m[1]! });
    }
  }
  return out;
}

/**
 * What is wrong with a relative link or a citation `target` written in `fromFile` (both relative to `root`):
 * a file that does not exist, or an #anchor that no heading of the target file makes. Null when it resolves.
 * External links (a scheme such as https: or mailto:) are not checked.
 */
export function brokenLink(root: string, fromFile: string, target: string): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return null;
  const hash = target.indexOf("#");
  const path = hash === -1 ? target : target.slice(0, hash);
  const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
  const file = path === "" ? fromFile : normalize(join(dirname(fromFile), decodeURI(path)));
  if (file.startsWith("..")) return `${target}: points outside the repository`;
  let isFile: boolean;
  try {
    isFile = statSync(join(root, file)).isFile();
  } catch {
    return `${target}: ${file} does not exist`;
  }
  if (anchor === null || anchor === "") return null;
  if (!isFile || !file.endsWith(".md")) return `${target}: #${anchor} in a file that is not Markdown`;
  const offered = anchors(readFileSync(join(root, file), "utf8"));
  return offered.has(anchor) ? null : `${target}: ${file} has no heading with the anchor #${anchor}`;
}

export interface Fenced {
  /** The fence's info string, e.g. `sh`. */
  readonly lang: string;
  readonly body: string;
  /** The line of the opening fence, 1-based. */
  readonly line: number;
  /** The text of an HTML comment `<!-- readme-test ... -->` on the line before the block (blank lines allowed). */
  readonly marker: string | null;
}

/** Every fenced code block, with the `readme-test` marker written just before it. */
export function fencedBlocks(md: string): Fenced[] {
  const lines = md.split("\n");
  const out: Fenced[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    const start = i;
    let j = i + 1;
    while (j < lines.length && !lines[j]!.startsWith(fence)) j++;
    let k = start - 1;
    while (k >= 0 && lines[k]!.trim() === "") k--;
    const marker = k >= 0 ? /^<!--\s*readme-test\b(.*?)-->\s*$/.exec(lines[k]!) : null;
    out.push({
      lang: open[2] ?? "",
      body: lines.slice(start + 1, j).join("\n"),
      line: start + 1,
      marker: marker ? marker[1]!.trim() : null,
    });
    i = j;
  }
  return out;
}

const SKIP_DIRS = new Set(["node_modules", ".git", "dist", "coverage"]);

/**
 * The repository's files, relative to `root`: what git tracks plus new files it does not ignore, or, outside
 * a git checkout (an unpacked tarball), every file but node_modules, dist and coverage.
 */
export function repositoryFiles(root: string): string[] {
  try {
    const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      maxBuffer: 64 * 1024 * 1024,
    });
    return out
      .split("\0")
      .filter((f) => f !== "" && !f.split("/").some((part) => SKIP_DIRS.has(part)))
      .filter((f) => {
        try {
          return statSync(join(root, f)).isFile(); // a deleted but still tracked file is not there
        } catch {
          return false;
        }
      });
  } catch {
    const out: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (SKIP_DIRS.has(e.name)) continue;
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) out.push(relative(root, p));
      }
    };
    walk(root);
    return out;
  }
}
