import { describe, expect, it } from "vitest";
import type { VoiceRollout } from "../core/resource/voicerollout.js";
import { memoryPorts } from "./memory.js";
import { fairShare, fencedPorts, shardLeaseName, ShardLostError, ShardSet, shardOf } from "./shards.js";

describe("shardOf", () => {
  it("gives every replica the same shard for a rollout, in range, spread evenly", () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const key = `team-${i % 37}/tts-v${i}`;
      const s = shardOf(key, 3);
      expect(s).toBe(shardOf(key, 3));
      counts[s]!++;
    }
    // An even split is 1000 each; a hash that ignored part of the key would pile up on one shard.
    for (const c of counts) expect(c).toBeGreaterThan(850);
  });

  it("depends on the namespace as well as the name", () => {
    const shards = new Set(Array.from({ length: 40 }, (_, i) => shardOf(`ns-${i}/tts`, 4)));
    expect(shards.size).toBe(4);
  });

  it("puts everything in shard 0 of 1 and refuses a shard count below 1", () => {
    expect(shardOf("voice/tts", 1)).toBe(0);
    expect(() => shardOf("voice/tts", 0)).toThrow(RangeError);
  });

  it("names shard Leases after the leader Lease, and one shard keeps the leader's own name", () => {
    expect(shardLeaseName("voicectl-operator", 2, 4)).toBe("voicectl-operator-shard-2");
    expect(shardLeaseName("voicectl-operator", 0, 1)).toBe("voicectl-operator");
    expect(fairShare(4, 3)).toBe(2);
    expect(fairShare(3, 3)).toBe(1);
    expect(fairShare(3, 0)).toBe(3);
  });
});

describe("ShardSet", () => {
  const make = (now: { t: number }) =>
    new ShardSet({ shards: 3, fairShare: 1, graceMs: 3000, claimTtlMs: 10_000, now: () => now.t });

  it("takes free shards up to its fair share at once, more only after the grace", () => {
    const now = { t: 0 };
    const set = make(now);
    expect(set.mayTake(0, 0)).toBe(true);
    set.acquired(0);
    // Full: a shard just freed is left for replicas below their share...
    expect(set.mayTake(1, 0)).toBe(false);
    expect(set.mayTake(1, 2999)).toBe(false);
    // ...but one nobody took for the grace (its replica died, the others are full) is taken anyway.
    expect(set.mayTake(1, 3000)).toBe(true);
    set.acquired(1);
    expect(set.held()).toEqual([0, 1]);
    expect(set.owns("x/y")).toBe(set.holds(shardOf("x/y", 3)));
  });

  it("counts an attempt in flight, so two Leases tried at once cannot both slip under the share", () => {
    const now = { t: 0 };
    const set = make(now);
    expect(set.mayTake(0, 0)).toBe(true);
    expect(set.mayTake(1, 0)).toBe(false);
    // Asking again for the shard already claimed is the same attempt, not a second one.
    expect(set.mayTake(0, 0)).toBe(true);
    // A claim that came to nothing (the Lease was taken by another replica) ages out.
    now.t = 10_000;
    expect(set.mayTake(1, 0)).toBe(true);
  });

  it("asks for a shard of a replica holding more than its share, and hands over only beyond its share", () => {
    const set = new ShardSet({ shards: 4, fairShare: 2, graceMs: 3000, claimTtlMs: 10_000, now: () => 0 });
    // After a failover: b holds three shards, c one; this replica (a) none.
    set.observeHolder(0, "b");
    set.observeHolder(1, "b");
    set.observeHolder(2, "c");
    set.observeHolder(3, "b");
    expect(set.shardToAskFor("a")).toBe(3);
    // c is not over its share: nothing to ask of it.
    set.observeHolder(3, "c");
    expect(set.shardToAskFor("a")).toBeUndefined();
    // A replica at its share asks for nothing, however unevenly the rest are held.
    set.observeHolder(3, "b");
    set.acquired(2);
    set.acquired(3);
    expect(set.shardToAskFor("a")).toBeUndefined();
    expect(set.handsOver()).toBe(false);
    set.acquired(1);
    expect(set.handsOver()).toBe(true);
    set.observeHolder(1, undefined);
    expect(set.held()).toEqual([1, 2, 3]);
  });

  it("asks for a shard once a claim that came to nothing has aged out, though no Lease was takeable since", () => {
    const now = { t: 0 };
    const set = new ShardSet({ shards: 3, fairShare: 1, graceMs: 3000, claimTtlMs: 4000, now: () => now.t });
    // This replica tried for shard 0 and lost the race; b ended up with two shards.
    expect(set.mayTake(0, 0)).toBe(true);
    set.observeHolder(0, "b");
    set.observeHolder(1, "b");
    set.observeHolder(2, "c");
    expect(set.shardToAskFor("a")).toBeUndefined();
    now.t = 4000;
    expect(set.shardToAskFor("a")).toBe(1);
  });

  it("drops a lost shard", () => {
    const set = make({ t: 0 });
    set.acquired(2);
    set.lost(2);
    expect(set.held()).toEqual([]);
    expect(set.mayTake(1, 0)).toBe(true);
  });
});

describe("fencedPorts", () => {
  const rollout = { metadata: { namespace: "voice", name: "tts" } } as unknown as VoiceRollout;
  const ref = { namespace: "voice", name: "tts" };

  it("writes while the shard is held and refuses every write once it is lost, reads still pass", async () => {
    const ports = memoryPorts(() => ({ at: 0, canaryWeight: 0, cells: [] }));
    let held = true;
    const fenced = fencedPorts(ports, ref, () => held);
    await fenced.router.setCanaryWeight(rollout, 10);
    expect(ports.router.writes).toEqual([{ rollout: "voice/tts", weight: 10 }]);

    held = false;
    await expect(fenced.router.setCanaryWeight(rollout, 25)).rejects.toBeInstanceOf(ShardLostError);
    await expect(fenced.workloads.scale({ namespace: "voice", name: "tts-v42" }, 2)).rejects.toThrow(
      "no longer held",
    );
    await expect(fenced.router.setPins!(rollout, "x-voice", ["a"])).rejects.toBeInstanceOf(ShardLostError);
    await expect(fenced.events.record(rollout, "Normal", "Step", "m")).rejects.toBeInstanceOf(ShardLostError);
    await expect(fenced.analysis.remove(rollout)).rejects.toBeInstanceOf(ShardLostError);
    await expect(fenced.rollouts.updateStatus(rollout, {})).rejects.toBeInstanceOf(ShardLostError);
    expect(ports.router.writes).toHaveLength(1);
    expect(ports.router.pins.size).toBe(0);
    expect(ports.events.events).toHaveLength(0);
    // Reading is harmless: a pass may still look before it finds the shard gone.
    expect(await fenced.router.canaryWeight(rollout)).toBe(10);
    expect(await fenced.router.pinnedValues!(rollout, "x-voice")).toEqual([]);
  });
});
