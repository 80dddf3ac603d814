import { describe, expect, it } from "vitest";
import { cli } from "../../../test/support/cli.js";

describe("voicectl operator: shard flags", () => {
  const base = ["operator", "--prometheus", "http://127.0.0.1:9090"];

  it("refuses a shard count that is not a positive integer, naming the flag", async () => {
    const r = await cli(...base, "--shards", "0");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--shards expects a positive integer, got "0"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("refuses --expected-replicas that is not a positive integer", async () => {
    const r = await cli(...base, "--shards", "4", "--expected-replicas", "two");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('--expected-replicas expects a positive integer, got "two"');
  });

  it("refuses shards without leader election: shards are Leases", async () => {
    const r = await cli(...base, "--shards", "2", "--no-leader-elect");
    expect(r.code).toBe(64);
    expect(r.stderr).toContain("--shards above 1 needs leader election");
  });
});
