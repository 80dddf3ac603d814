// The package as users get it: `npm pack`, installed into a fresh prefix, run from a directory that is not
// the repository. Before, `voicectl simulate` looked for examples/scenarios/clone-drift.yaml in the working
// directory and the tarball did not contain it, so the installed CLI only worked inside a clone.
// Needs dist/ built (npm test builds first). The dependencies come from npm's cache (npm ci filled it); when
// the cache lacks their metadata, npm may fetch that from the registry (--prefer-offline).
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

let prefix: string;
let bin: string;
let elsewhere: string;

function npm(args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    encoding: "utf8",
  });
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), "voicectl-pack-"));
  const pack = npm(["pack", "--pack-destination", dir, "--silent"], process.cwd());
  expect(pack.status, pack.stderr).toBe(0);
  const tarball = join(dir, pack.stdout.trim().split("\n").at(-1)!);
  prefix = join(dir, "prefix");
  let install = npm(["install", "--offline", "--prefix", prefix, tarball], dir);
  if (install.status !== 0 && /ENOTCACHED/.test(install.stderr))
    install = npm(["install", "--prefer-offline", "--prefix", prefix, tarball], dir);
  expect(install.status, install.stderr).toBe(0);
  bin = join(prefix, "node_modules", ".bin", "voicectl");
  elsewhere = mkdtempSync(join(tmpdir(), "voicectl-cwd-"));
}, 120_000);

function voicectl(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(bin, args, { cwd: elsewhere, encoding: "utf8", env: { PATH: process.env["PATH"] ?? "" } });
}

describe("the installed package, run from another directory", () => {
  it("simulate runs the built-in scenario with the shipped policy it names", () => {
    const r = voicectl("simulate");
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("SCENARIO clone-drift (policy voice-studio, seed 1): ROLLBACK");
    expect(r.stdout).toContain("voice_id=mia-chen");
    expect(r.status).toBe(1);
  });

  it("gate --help works", () => {
    const r = voicectl("gate", "--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Usage: voicectl gate \[options\]/);
  });

  it("the shipped policies validate from the installed package", () => {
    const policies = join(prefix, "node_modules", "voicectl", "policies");
    const files = readdirSync(policies).map((f) => join(policies, f));
    expect(files.length).toBeGreaterThanOrEqual(4);
    const r = voicectl("policy", "validate", ...files);
    expect(r.status, r.stderr).toBe(0);
  });

  it("the tarball holds the scenarios, the policies and the built CLI, not tests or benchmarks", () => {
    const root = join(prefix, "node_modules", "voicectl");
    expect(readdirSync(join(root, "examples", "scenarios"))).toContain("clone-drift.yaml");
    expect(existsSync(join(root, "dist", "src", "cli", "main.js"))).toBe(true);
    expect(existsSync(join(root, "dist", "test"))).toBe(false);
    expect(existsSync(join(root, "dist", "bench"))).toBe(false);
  });
});
