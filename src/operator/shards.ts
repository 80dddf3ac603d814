// Sharding rollouts over operator replicas (issue 13): K shard Leases, a rollout belongs to shard
// hash(namespace/name) mod K, and a replica reconciles only the rollouts of the shards whose Leases it holds.
// One Lease per shard (not one leader for all) so N replicas carry N times the rollouts, each rollout is
// still driven by exactly one replica at a time (the Lease's holder), and a dead replica's shards move to
// the others when their Leases expire, as the single leader's Lease does. Nothing here knows Kubernetes:
// the Leases themselves are campaigned for by the adapter (src/adapters/kubernetes/leader.ts).
import type { Ports, RolloutRef } from "./ports.js";

/** FNV-1a over the UTF-16 code units: stable across processes and versions, and cheap. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The shard (0..shards-1) of the rollout `namespace/name`; every replica computes the same one. */
export function shardOf(key: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError(`shards must be >= 1, got ${shards}`);
  return shards === 1 ? 0 : fnv1a(key) % shards;
}

/** How many shards one replica takes at once while others may still come: ceil(shards / replicas). */
export function fairShare(shards: number, replicas: number): number {
  return Math.ceil(shards / Math.max(1, replicas));
}

/** The Lease of one shard: `<base>-shard-<i>`; one shard keeps the single leader Lease's own name. */
export function shardLeaseName(base: string, shard: number, shards: number): string {
  return shards === 1 ? base : `${base}-shard-${shard}`;
}

export interface ShardSetOptions {
  readonly shards: number;
  /** Shards taken eagerly (see mayTake); fairShare(shards, replicas) in a deployment. */
  readonly fairShare: number;
  /** How long a free shard must stay free before a replica already holding its fair share takes it. */
  readonly graceMs: number;
  /** How long a claim (an attempt to take a Lease) counts against the fair share before it is forgotten. */
  readonly claimTtlMs: number;
  readonly now?: () => number;
}

/**
 * Which shards this replica holds, and whether it should try to take one more. A replica below its fair
 * share takes any free or expired shard at once; at or above it, only one that has stayed free for graceMs
 * (longer than a retry period, so every replica below its share has had a turn first): start-up spreads the
 * shards, yet a shard whose replica died is never left unowned because the survivors are "full".
 */
export class ShardSet {
  private readonly heldShards = new Set<number>();
  /** Shards with an attempt under way, and since when: they count against the fair share. */
  private readonly claims = new Map<number, number>();
  /** Who holds each shard's Lease, as last seen by its elector (undefined: nobody). */
  private readonly holders = new Map<number, string>();
  private readonly now: () => number;

  constructor(private readonly options: ShardSetOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  get shards(): number {
    return this.options.shards;
  }

  holds(shard: number): boolean {
    return this.heldShards.has(shard);
  }

  /** Whether the rollout `namespace/name` is ours to reconcile now. */
  owns(key: string): boolean {
    return this.heldShards.has(shardOf(key, this.options.shards));
  }

  held(): number[] {
    return [...this.heldShards].sort((a, b) => a - b);
  }

  /**
   * Asked right before a write that would take `shard`'s Lease, which has been takeable (free or expired) for
   * `takeableForMs`. A yes is a claim: it counts against the fair share until the Lease is ours or the claim
   * ages out, so two shards' attempts in flight at once cannot both slip under the share.
   */
  mayTake(shard: number, takeableForMs: number): boolean {
    const now = this.pruneClaims();
    const counted = this.heldShards.size + [...this.claims.keys()].filter((s) => s !== shard).length;
    if (counted >= this.options.fairShare && takeableForMs < this.options.graceMs) return false;
    this.claims.set(shard, now);
    return true;
  }

  /**
   * Forgets claims older than claimTtlMs (attempts that came to nothing: another replica won the Lease) and
   * returns the time. Called wherever claims are counted: when no Lease is takeable, mayTake is never asked,
   * and a stale claim must not make a replica with no shard believe it has its share.
   */
  private pruneClaims(): number {
    const now = this.now();
    for (const [s, at] of this.claims) if (now - at >= this.options.claimTtlMs) this.claims.delete(s);
    return now;
  }

  acquired(shard: number): void {
    this.claims.delete(shard);
    this.heldShards.add(shard);
  }

  lost(shard: number): void {
    this.claims.delete(shard);
    this.heldShards.delete(shard);
  }

  /** The holder of a shard's Lease changed, as its elector saw it. */
  observeHolder(shard: number, holder: string | undefined): void {
    if (holder === undefined) this.holders.delete(shard);
    else this.holders.set(shard, holder);
  }

  /**
   * A shard to ask for while this replica (`self`) holds less than its fair share and none is free: one held
   * by the replica holding the most, when that is more than the fair share (after a failover, survivors hold
   * the dead replica's shards; when it comes back, this gives them back). undefined when none qualifies.
   */
  shardToAskFor(self: string): number | undefined {
    this.pruneClaims();
    if (this.heldShards.size + this.claims.size >= this.options.fairShare) return undefined;
    const counts = new Map<string, number[]>();
    for (const [shard, holder] of this.holders) {
      if (holder !== self) counts.set(holder, [...(counts.get(holder) ?? []), shard]);
    }
    let best: number[] = [];
    for (const shards of counts.values()) if (shards.length > best.length) best = shards;
    return best.length > this.options.fairShare ? Math.max(...best) : undefined;
  }

  /** Whether to hand a shard to a replica that asked for it: only shards held beyond the fair share. */
  handsOver(): boolean {
    return this.heldShards.size > this.options.fairShare;
  }
}

/** A write attempted for a rollout whose shard this replica no longer holds. */
export class ShardLostError extends Error {
  constructor(readonly rollout: string) {
    super(`shard of ${rollout} no longer held: write refused`);
    this.name = "ShardLostError";
  }
}

/**
 * The Ports of one pass over `ref`, fenced: every write first checks that the pass's shard is still held and
 * throws ShardLostError otherwise. The Lease's holder steps down before its Lease can expire for anyone else
 * (renewDeadline < leaseDuration), so a write begun after this check cannot meet the next holder's writes;
 * what remains is a request already on the wire at the moment of stepping down, as with client-go.
 */
export function fencedPorts(ports: Ports, ref: RolloutRef, stillHeld: () => boolean): Ports {
  const key = `${ref.namespace}/${ref.name}`;
  const fence =
    <A extends unknown[], R>(write: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (!stillHeld()) throw new ShardLostError(key);
      return write(...args);
    };
  const { rollouts, workloads, router, analysis, events } = ports;
  const { pinnedValues, setPins } = router;
  return {
    ...ports,
    rollouts: {
      get: (r) => rollouts.get(r),
      pendingCommands: (r) => rollouts.pendingCommands(r),
      updateStatus: fence((rollout, status) => rollouts.updateStatus(rollout, status)),
      markApplied: fence((command, result, at) => rollouts.markApplied(command, result, at)),
    },
    workloads: {
      deployment: (r) => workloads.deployment(r),
      scale: fence((r, replicas) => workloads.scale(r, replicas)),
    },
    router: {
      canaryWeight: (rollout) => router.canaryWeight(rollout),
      observe: (rollout) => router.observe(rollout),
      setCanaryWeight: fence((rollout, weight, options) => router.setCanaryWeight(rollout, weight, options)),
      // Absent stays absent: the reconciler asks whether the router can pin by their presence.
      ...(pinnedValues ? { pinnedValues: pinnedValues.bind(router) } : {}),
      ...(setPins ? { setPins: fence(setPins.bind(router)) } : {}),
    },
    analysis: {
      load: (rollout) => analysis.load(rollout),
      save: fence((rollout, stored) => analysis.save(rollout, stored)),
      remove: fence((rollout) => analysis.remove(rollout)),
    },
    events: {
      record: fence((rollout, type, reason, message) => events.record(rollout, type, reason, message)),
    },
  };
}
