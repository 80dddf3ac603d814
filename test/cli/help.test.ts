// Help is wrapped by commander to the terminal's width. Descriptions used to be wrapped by hand at ~110
// columns, which an 80-column terminal broke again into a long line and a short one, paragraph after
// paragraph.
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram, run } from "../../src/cli/program.js";
import { DEFAULT_CANARY, DEFAULT_STABLE } from "../../src/sim/exporter.js";

async function help(path: readonly string[], columns: number): Promise<string> {
  let stdout = "";
  const code = await run([...path, "--help"], {
    stdout: (t) => (stdout += t),
    stderr: () => undefined,
    stdoutIsTTY: true,
    stderrIsTTY: true,
    stdoutColumns: columns,
    stderrColumns: columns,
    env: {},
  });
  expect(code).toBe(0);
  return stdout;
}

function commandPaths(cmd: Command, prefix: readonly string[] = []): string[][] {
  return cmd.commands.flatMap((c) => [[...prefix, c.name()], ...commandPaths(c, [...prefix, c.name()])]);
}

const PATHS: string[][] = [
  [],
  ...commandPaths(
    buildProgram(
      { stdout: () => undefined, stderr: () => undefined, stdoutIsTTY: false, stderrIsTTY: false, env: {} },
      () => undefined,
    ),
  ),
];

/** The lines of the command's description: after "Usage:" and before the first section heading. */
function descriptionLines(text: string): string[] {
  const lines = text.split("\n");
  const end = lines.findIndex((l) => /^(Arguments|Options|Commands):$/.test(l));
  return lines.slice(2, end === -1 ? undefined : end);
}

const words = (text: string) => text.split(/\s+/).filter((w) => w !== "");

describe("--help", () => {
  it("covers every command", () => {
    expect(PATHS.map((p) => p.join(" "))).toEqual(
      expect.arrayContaining([
        "gate",
        "simulate",
        "operator",
        "rollout",
        "rollout status",
        "policy validate",
      ]),
    );
  });

  it.each(PATHS.map((p) => [p.join(" ") || "voicectl", p] as const))(
    "%s at 80 columns: no line over 80, no word broken, paragraphs filled",
    async (_name, path) => {
      const narrow = await help(path, 80);
      const wide = await help(path, 1000);
      for (const line of narrow.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80);
      // Wrapping changes only where lines break: the same words in the same order, none split.
      expect(words(narrow)).toEqual(words(wide));
      // At a width nothing needs wrapping at, a paragraph is one line: no line breaks of its own.
      const prose = descriptionLines(wide);
      for (let i = 1; i < prose.length; i++) {
        if (prose[i - 1] !== "" && !/^\s/.test(prose[i - 1]!) && prose[i] !== "" && !/^\s/.test(prose[i]!))
          expect.fail(`a description line breaks by hand after: ${prose[i - 1]}`);
      }
      // And at 80 columns a line breaks only where the next word would not have fit.
      const filled = descriptionLines(narrow);
      for (let i = 1; i < filled.length; i++) {
        const [prev, next] = [filled[i - 1]!, filled[i]!];
        if (prev === "" || next === "" || /^\s/.test(next)) continue;
        expect(prev.length + 1 + words(next)[0]!.length, `${prev} / ${next}`).toBeGreaterThan(80);
      }
    },
  );

  it("follows the terminal's width", async () => {
    const text = await help(["gate"], 120);
    expect(Math.max(...text.split("\n").map((l) => l.length))).toBeGreaterThan(80);
    expect(Math.max(...text.split("\n").map((l) => l.length))).toBeLessThanOrEqual(120);
  });

  it("fleet-exporter states the exporter's real default version names", async () => {
    const text = (await help(["fleet-exporter"], 1000)).replace(/\s+/g, " ");
    expect(text).toContain(`default: ${DEFAULT_STABLE})`);
    expect(text).toContain(`default: ${DEFAULT_CANARY})`);
  });
});
