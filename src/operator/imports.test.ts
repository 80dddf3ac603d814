import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = fileURLToPath(new URL(".", import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(join(dir, e.name))
      : e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")
        ? [join(dir, e.name)]
        : [],
  );
}

describe("src/operator", () => {
  // The composition root (src/cli/commands/operator/run.ts) is the one place that knows both the reconciler
  // and the Kubernetes adapters; the operator talks to the world through its ports only.
  it("imports no adapter and no client library", () => {
    const offenders = sources(here).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)[^;]*?from\s+"([^"]+)"/gm)]
        .map((m) => m[1]!)
        .filter((spec) => spec.includes("/adapters/") || spec.startsWith("@kubernetes/"))
        .map((spec) => `${relative(here, file)}: ${spec}`),
    );
    expect(offenders).toEqual([]);
    expect(sources(here).length).toBeGreaterThan(10);
  });
});
