// Runs the CLI in-process with captured output, and writes scratch files for it.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "../../src/cli/program.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(...argv: string[]): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  const code = await run(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: {},
  });
  return { code, stdout, stderr };
}

/** A fresh directory with the given files written into it; returns a path resolver. */
export function scratch(files: Record<string, string> = {}): (name: string) => string {
  const dir = mkdtempSync(join(tmpdir(), "voicectl-test-"));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return (name) => join(dir, name);
}
