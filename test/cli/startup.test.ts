// Start-up stays cheap: building the command tree loads commander and voicectl's own small modules, never
// client-node (~0.5 s to import), zod, yaml or prom-client; commands load those when they run. Checked by
// the modules a real process resolves (a module.register() hook writing them to a file), which does not
// depend on the machine's speed the way a timing would; bench/startup measures the time itself.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "voicectl-startup-"));
  writeFileSync(
    join(dir, "hooks.mjs"),
    `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.VOICECTL_TRACE_FILE, resolved.url + "\\n");
  return resolved;
}
`,
  );
  writeFileSync(
    join(dir, "register.mjs"),
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
  );
});

/** The npm packages (by name) whose modules the CLI resolves for these arguments. */
function packagesLoaded(args: readonly string[], env: Record<string, string> = {}): string[] {
  const trace = join(dir, `trace-${args.join("-").replace(/[^\w-]/g, "_")}`);
  writeFileSync(trace, "");
  const r = spawnSync(
    process.execPath,
    ["--import", pathToFileURL(join(dir, "register.mjs")).href, "dist/src/cli/main.js", ...args],
    { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", VOICECTL_TRACE_FILE: trace, ...env } },
  );
  expect(r.stderr).not.toContain("internal error");
  const packages = readFileSync(trace, "utf8")
    .split("\n")
    .map((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1])
    .filter((p): p is string => p !== undefined);
  return [...new Set(packages)].sort();
}

describe("start-up", () => {
  it.each([
    ["--version"],
    ["--help"],
    ["gate", "--help"],
    ["simulate", "--help"],
    ["analyze", "--help"],
    ["rollout", "--help"],
    ["rollout", "status", "--help"],
    ["operator", "--help"],
    ["policy", "validate", "--help"],
    ["fleet-exporter", "--help"],
  ])("voicectl %s loads no dependency but commander", (...args) => {
    expect(packagesLoaded(args)).toEqual(["commander"]);
  });

  it("the trace sees what a command really loads: rollout list loads client-node", () => {
    // Without a kubeconfig it stops at once, but only after loading what talks to a cluster.
    const home = mkdtempSync(join(tmpdir(), "voicectl-home-"));
    expect(packagesLoaded(["rollout", "list"], { HOME: home })).toContain("@kubernetes/client-node");
  });

  it("the gate loads zod and yaml when it runs, not client-node or prom-client", () => {
    const loaded = packagesLoaded([
      "gate",
      "-p",
      "policies/voice-studio.yaml",
      "-b",
      "examples/eval/cost-regression/baseline.csv",
      "-c",
      "examples/eval/cost-regression/canary.csv",
    ]);
    expect(loaded).toEqual(expect.arrayContaining(["commander", "yaml", "zod"]));
    expect(loaded).not.toContain("@kubernetes/client-node");
    expect(loaded).not.toContain("prom-client");
  });
});
