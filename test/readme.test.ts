// The README's examples work as written. Every shell block is checked:
// - a block marked `<!-- readme-test exit=N -->` runs, from the repository root, with `voicectl` on PATH
//   meaning the built CLI (dist/src/cli/main.js), and must exit N. A block of voicectl commands that need no
//   cluster (gate, simulate, policy ...) must carry such a marker, so a new example cannot go unchecked;
// - a block marked `<!-- readme-test output: COMMAND -->` is output: COMMAND's stdout must contain it;
// - every other command is checked without running it: each voicectl subcommand and flag must exist (in
//   the command's --help), each `npm run` script must be in package.json, and each relative path must exist.
// A RolloutPolicy in a yaml block must pass `voicectl policy validate`.
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { cli } from "./support/cli.js";
import { fencedBlocks, type Fenced } from "./support/markdown.js";

const ROOT = process.cwd();
const CLI = join(ROOT, "dist/src/cli/main.js");
const DOCUMENTS = ["README.md", "examples/eval/README.md"];
/** Subcommands that run without a cluster or a Prometheus: their examples must run in this test. */
const LOCAL = new Set(["gate", "simulate", "policy"]);
const execFileP = promisify(execFile);

/** Shell commands of a block: continuation lines joined, comments and blank lines dropped. */
export function shellCommands(body: string): string[] {
  const out: string[] = [];
  let current = "";
  for (const raw of body.split("\n")) {
    const line = stripComment(raw).trim();
    if (line.endsWith("\\")) {
      current += line.slice(0, -1).trimEnd() + " ";
      continue;
    }
    current += line;
    if (current.trim() !== "") out.push(current.trim());
    current = "";
  }
  if (current.trim() !== "") out.push(current.trim());
  return out;
}

/** Drops a `# comment` that starts outside quotes after whitespace (or at the start of the line). */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

/** Words of a command as the shell would split them (quotes removed; no expansion). */
export function words(command: string): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** The voicectl command line inside a shell command (after `voicectl` or `node dist/src/cli/main.js`). */
export function voicectlArgs(command: string): string[] | null {
  const w = words(command);
  if (w[0] === "voicectl") return w.slice(1);
  if (w[0] === "npx" && w[1] === "voicectl") return w.slice(2);
  if (w[0] === "node" && w[1] === "dist/src/cli/main.js") return w.slice(2);
  return null;
}

/** Relative paths a command names that do not exist (words with a slash, no scheme, no variable). */
export function missingPaths(command: string): string[] {
  return words(command)
    .map((w) => w.replace(/^[[(]+|[\])]+$/g, ""))
    .filter((w) => /^(\.{1,2}\/)?[\w.-]+(\/[\w.-]*)+$/.test(w))
    .filter((w) => {
      try {
        readFileSync(join(ROOT, w)); // a file
        return false;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code !== "EISDIR"; // a directory exists too
      }
    });
}

// Help is read in-process (the same program the built CLI runs): a few milliseconds instead of a process each.
const helpCache = new Map<string, Promise<string>>();
function help(path: readonly string[]): Promise<string> {
  const key = path.join(" ");
  let h = helpCache.get(key);
  if (!h) {
    h = cli(...path, "--help").then((r) => (r.code === 0 ? r.stdout : `(exit ${r.code}) ${r.stderr}`));
    helpCache.set(key, h);
  }
  return h;
}

function subcommandsIn(helpText: string): Set<string> {
  const after = helpText.split(/^Commands:$/m)[1] ?? "";
  return new Set([...after.matchAll(/^ {2}([a-z][\w-]*)/gm)].map((m) => m[1]!));
}

/** The subcommand path of a voicectl command line, and what is wrong with its words (unknown flags). */
async function checkVoicectl(args: readonly string[]): Promise<{ path: string[]; problems: string[] }> {
  const path: string[] = [];
  let texts = await help([]);
  for (const w of args) {
    if (!subcommandsIn(await help(path)).has(w)) break;
    path.push(w);
    texts += await help(path);
  }
  const problems: string[] = [];
  if (/^\(exit/.test(await help(path))) problems.push(`voicectl ${path.join(" ")} --help fails`);
  for (const raw of args) {
    const flag = raw.replace(/^\[+/, "").replace(/[=\]].*$/, "");
    if (!/^--?[A-Za-z][\w-]*$/.test(flag)) continue;
    const pattern = new RegExp(`(^|[\\s,\\[])${flag}([\\s,=<\\]]|$)`, "m");
    if (!pattern.test(texts)) problems.push(`${flag} is not an option of voicectl ${path.join(" ")}`.trim());
  }
  return { path, problems };
}

interface Example {
  readonly where: string;
  readonly block: Fenced;
}

const EXAMPLES: Example[] = DOCUMENTS.flatMap((doc) =>
  fencedBlocks(readFileSync(doc, "utf8")).map((block) => ({ where: `${doc}:${block.line}`, block })),
);
const SHELL = EXAMPLES.filter((e) => ["sh", "bash", "shell", "console"].includes(e.block.lang));
const RUN = SHELL.filter((e) => e.block.marker !== null && /\bexit=\d+/.test(e.block.marker));
const OUTPUT = EXAMPLES.filter((e) => e.block.marker?.startsWith("output:"));

/** Runs a shell snippet from the repository root with `voicectl` meaning the built CLI. */
async function runShell(script: string, env: Record<string, string>) {
  const bin = mkdtempSync(join(tmpdir(), "voicectl-readme-"));
  writeFileSync(join(bin, "voicectl"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, "voicectl"), 0o755);
  try {
    const r = await execFileP("bash", ["-c", script], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1", ...env, PATH: `${bin}:${process.env["PATH"] ?? ""}` },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === "number" ? x.code : -1, stdout: x.stdout ?? "", stderr: x.stderr ?? "" };
  }
}

describe("the example checker itself", () => {
  it("joins continuation lines, drops comments, splits words as the shell does", () => {
    expect(shellCommands('npm ci\nnpm run demo   # the demo\nvoicectl gate \\\n  -p "a b.yaml"\n')).toEqual([
      "npm ci",
      "npm run demo",
      'voicectl gate -p "a b.yaml"',
    ]);
    expect(words('voicectl rollout approve tts --reason "checked by ear"')).toEqual([
      "voicectl",
      "rollout",
      "approve",
      "tts",
      "--reason",
      "checked by ear",
    ]);
    expect(voicectlArgs("node dist/src/cli/main.js simulate")).toEqual(["simulate"]);
  });

  it("reports paths that do not exist, and not those that do", () => {
    expect(missingPaths("voicectl gate -p policies/voice-studio.yaml -b eval/baseline.csv")).toEqual([
      "eval/baseline.csv",
    ]);
    expect(
      missingPaths('kubectl apply -f charts/voicectl/crds/ --set url=http://127.0.0.1:9090 "$X/y"'),
    ).toEqual([]);
  });

  it("finds the README's runnable examples", () => {
    expect(RUN.length).toBeGreaterThanOrEqual(2);
    expect(OUTPUT.length).toBeGreaterThanOrEqual(1);
  });
});

describe.each(DOCUMENTS)("%s", (doc) => {
  const shell = SHELL.filter((e) => e.where.startsWith(`${doc}:`));

  it.each(shell.map((e) => [e.where, e] as const))(
    "%s: every command names commands, flags, scripts and files that exist",
    async (_w, e) => {
      const scripts = (
        JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> }
      ).scripts;
      const problems: string[] = [];
      for (const command of shellCommands(e.block.body)) {
        for (const p of missingPaths(command)) problems.push(`${command}: ${p} does not exist`);
        const npm = /^npm run ([\w:-]+)/.exec(command);
        if (npm && !(npm[1]! in scripts)) problems.push(`${command}: package.json has no script ${npm[1]}`);
        const args = voicectlArgs(command);
        if (!args) continue;
        const { path, problems: p } = await checkVoicectl(args);
        problems.push(...p.map((x) => `${command}: ${x}`));
        const local = path[0] !== undefined && LOCAL.has(path[0]);
        const synopsis = args.some((a) => a.startsWith("["));
        if (local && !synopsis && !RUN.includes(e)) {
          problems.push(
            `${command}: needs no cluster, so mark its block <!-- readme-test exit=N --> to run it`,
          );
        }
      }
      expect(problems).toEqual([]);
    },
  );
});

describe("runnable examples", () => {
  it.each(RUN.map((e) => [e.where, e] as const))("%s exits as its marker says", async (_w, e) => {
    const expected = Number(/\bexit=(\d+)/.exec(e.block.marker!)![1]);
    const summary = join(mkdtempSync(join(tmpdir(), "voicectl-readme-")), "step-summary.md");
    writeFileSync(summary, "");
    const r = await runShell(e.block.body, { GITHUB_STEP_SUMMARY: summary });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: expected, stderr: "" });
    if (e.block.body.includes("GITHUB_STEP_SUMMARY")) {
      expect(readFileSync(summary, "utf8")).toMatch(/\S/); // the report reached the job summary
    } else {
      expect(r.stdout).toMatch(/\S/);
    }
  });

  it.each(OUTPUT.map((e) => [e.where, e] as const))("%s is what its command prints", async (_w, e) => {
    const command = e.block.marker!.slice("output:".length).trim();
    const r = await runShell(command, {});
    expect(r.stdout).toContain(e.block.body);
  });

  it.each(
    EXAMPLES.filter((e) => e.block.lang === "yaml" && /^kind: RolloutPolicy$/m.test(e.block.body)).map(
      (e) => [e.where, e] as const,
    ),
  )("%s: the RolloutPolicy is valid", async (_w, e) => {
    const file = join(mkdtempSync(join(tmpdir(), "voicectl-readme-")), "policy.yaml");
    writeFileSync(file, e.block.body);
    const r = await runShell(`voicectl policy validate "${file}"`, {});
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  });
});
