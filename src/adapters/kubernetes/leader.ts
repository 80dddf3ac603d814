// Leader election on a coordination.k8s.io/v1 Lease, client-go's algorithm: only the leader reconciles, so
// two operator replicas never shift traffic at once. Every retry period each candidate reads the Lease and
// takes it when it is free (no holder) or expired, or renews it when it holds it; writes carry the Lease's
// resourceVersion, so of two candidates racing for an expired Lease exactly one wins.
//
// Expiry is judged from when this process last saw the Lease change (its own monotonic clock), not from the
// renewTime written by another machine, so clock skew between nodes cannot make two leaders. A leader that
// cannot renew within renewDeadline steps down before its Lease can expire for others (renewDeadline <
// leaseDuration). Stopping releases the Lease (no holder, 1 s duration) so a successor takes over at once
// instead of waiting out the duration.
//
// One exception to the local clock: a Lease whose renewTime is older than twice its duration by our wall clock
// (a crashed replica's Lease found by a restarted operator minutes later) is taken at once. Waiting out a full
// duration would only delay the rollouts; for the holder to still be alive, our clocks would have to differ by
// more than a whole lease duration (15 s by default), far beyond what NTP-synchronised nodes drift.
import { performance } from "node:perf_hooks";
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { isConflict, isNotFound, KubernetesApiError } from "./api-errors.js";
import { OPERATOR_FIELD_MANAGER } from "./field-managers.js";

export interface LeaderElectionOptions {
  readonly namespace: string;
  /** The Lease's name, e.g. voicectl-operator. */
  readonly name: string;
  /** Who this candidate is (pod name plus a random suffix): written as holderIdentity. */
  readonly identity: string;
  /** How long a Lease is valid after its last renewal (default 15 s; whole seconds on the Lease). */
  readonly leaseDurationMs?: number;
  /** How long a leader keeps trying to renew before it steps down (default 10 s; less than the duration). */
  readonly renewDeadlineMs?: number;
  /** How often candidates try to acquire and the leader renews (default 2 s). */
  readonly retryPeriodMs?: number;
  readonly onStartedLeading?: () => void;
  readonly onStoppedLeading?: () => void;
  /** The holder changed (including to us); undefined when nobody holds it. */
  readonly onNewLeader?: (identity: string | undefined) => void;
  /** A read or write of the Lease failed (it will be retried); for logs. */
  readonly onError?: (err: unknown) => void;
  /**
   * Asked before taking a Lease that is free or expired (not when renewing our own), with how long it has
   * been takeable as far as this candidate has seen: false leaves it to other candidates for now. Shard Leases
   * use it to spread shards over replicas (src/operator/shards.ts); the leader Lease does not set it.
   */
  readonly mayTake?: (takeableForMs: number) => boolean;
  /**
   * Asked when renewing our own Lease, with the candidate that asked for it (HANDOVER_ANNOTATION), if any:
   * true steps down and releases the Lease instead, so that candidate takes it. Shard Leases use it to hand
   * shards to a replica that has none (src/operator/shards.ts); the leader Lease does not set it.
   */
  readonly handOver?: (wantedBy: string) => boolean;
}

/** On a held Lease: the identity of a candidate asking its holder to hand it over (shard Leases only). */
export const HANDOVER_ANNOTATION = "voicectl.dev/wanted-by";

interface Observed {
  readonly holder: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly durationSeconds: number;
  /** performance.now() when this record was first seen. */
  readonly at: number;
}

// The abort listener is removed when the timer fires: one sleep per retry period would otherwise pile
// listeners on the signal for as long as the elector runs.
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * True when the Lease's last renewal, by its own renewTime, is more than two durations before `nowMs`: expired
 * even if the writer's clock ran a whole duration ahead of ours. A Lease without a renewTime is never judged so.
 */
export function expiredLongAgo(lease: V1Lease, nowMs: number): boolean {
  const renewed = lease.spec?.renewTime;
  const durationSeconds = lease.spec?.leaseDurationSeconds;
  if (renewed === undefined || durationSeconds === undefined) return false;
  // client-node may hand back the timestamp as a Date or as the RFC 3339 string it received.
  const renewedMs = new Date(renewed as Date | string).getTime();
  if (!Number.isFinite(renewedMs)) return false;
  return nowMs - renewedMs > 2 * durationSeconds * 1000;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observed: Observed | undefined;
  private leading = false;
  private lastRenewal = 0;
  /** performance.now() when the Lease was first seen free, expired or missing, since it was last held. */
  private takeableSince: number | undefined;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    kc: KubeConfig,
    private readonly options: LeaderElectionOptions,
  ) {
    this.api = kc.makeApiClient(CoordinationV1Api);
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseDurationMs) {
      throw new RangeError(
        "renewDeadlineMs must be shorter than leaseDurationMs, or two leaders could overlap",
      );
    }
    if (this.retryPeriodMs >= this.renewDeadlineMs) {
      throw new RangeError(
        "retryPeriodMs must be shorter than renewDeadlineMs, or a leader never renews in time",
      );
    }
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder as last seen (possibly stale by up to one retry period). */
  leader(): string | undefined {
    return this.observed?.holder;
  }

  start(): void {
    if (this.loop) return;
    const abort = new AbortController();
    this.abort = abort;
    this.loop = this.run(abort.signal);
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // A leader's attempts together may take no longer than renewDeadline since its last renewal (as in
      // client-go): a request hanging on a dead connection must not keep us "leading" past our Lease.
      const startedAt = performance.now();
      const budget = this.leading
        ? Math.max(1, this.lastRenewal + this.renewDeadlineMs - startedAt)
        : this.renewDeadlineMs;
      let ok = false;
      try {
        ok = await withTimeout(this.tryAcquireOrRenew(), budget, "lease renewal");
      } catch (err) {
        this.options.onError?.(err);
      }
      if (signal.aborted) break;
      if (ok) {
        // The time the attempt began, not when it answered: the Lease may have been written any time after.
        this.lastRenewal = startedAt;
        this.takeableSince = undefined;
        if (!this.leading) {
          this.leading = true;
          this.options.onStartedLeading?.();
        }
      } else if (this.leading && (this.renewalOverdue() || this.heldByOther())) {
        this.stepDown();
      }
      // A leader that keeps failing wakes up at its deadline, not a retry period later.
      const untilDeadline = this.lastRenewal + this.renewDeadlineMs - performance.now();
      await sleep(
        this.leading ? Math.max(0, Math.min(this.retryPeriodMs, untilDeadline)) : this.retryPeriodMs,
        signal,
      );
      if (this.leading && !signal.aborted && this.renewalOverdue()) this.stepDown();
    }
  }

  private renewalOverdue(): boolean {
    return performance.now() - this.lastRenewal >= this.renewDeadlineMs;
  }

  private heldByOther(): boolean {
    const holder = this.observed?.holder;
    return holder !== undefined && holder !== this.options.identity;
  }

  private stepDown(): void {
    if (!this.leading) return;
    this.leading = false;
    this.options.onStoppedLeading?.();
  }

  private observe(lease: V1Lease): void {
    const holder = lease.spec?.holderIdentity || undefined;
    const resourceVersion = lease.metadata?.resourceVersion;
    const changed =
      !this.observed || this.observed.holder !== holder || this.observed.resourceVersion !== resourceVersion;
    if (!changed) return;
    if (this.observed?.holder !== holder) this.options.onNewLeader?.(holder);
    this.observed = {
      holder,
      resourceVersion,
      durationSeconds: lease.spec?.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000),
      at: performance.now(),
    };
  }

  private spec(previous: V1Lease | undefined, now: Date): V1Lease["spec"] {
    const mine = previous?.spec?.holderIdentity === this.options.identity;
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime:
        mine && previous?.spec?.acquireTime ? previous.spec.acquireTime : new V1MicroTime(now.getTime()),
      renewTime: new V1MicroTime(now.getTime()),
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (mine ? 0 : 1),
    };
  }

  /** One attempt; true when we hold the Lease afterwards. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.options;
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw new KubernetesApiError(`reading lease ${namespace}/${name}`, err);
      if (!this.allowedToTake()) return false;
      try {
        const created = await this.api.createNamespacedLease({
          namespace,
          fieldManager: OPERATOR_FIELD_MANAGER,
          body: {
            metadata: { name, namespace },
            spec: { ...this.spec(undefined, new Date()), leaseTransitions: 0 },
          },
        });
        this.observe(created);
        return true;
      } catch (e) {
        if (isConflict(e)) return false; // another candidate created it first
        throw new KubernetesApiError(`creating lease ${namespace}/${name}`, e);
      }
    }
    this.observe(lease);
    const holder = this.observed!.holder;
    const wantedBy = lease.metadata?.annotations?.[HANDOVER_ANNOTATION];
    if (
      this.leading &&
      holder === identity &&
      wantedBy &&
      wantedBy !== identity &&
      this.options.handOver?.(wantedBy)
    ) {
      // Stop acting first, then free the Lease: the asker takes it on its next attempt.
      this.stepDown();
      await this.releaseIfHeld();
      return false;
    }
    if (holder !== undefined && holder !== identity) {
      const validUntil = this.observed!.at + this.observed!.durationSeconds * 1000;
      if (performance.now() < validUntil && !expiredLongAgo(lease, Date.now())) {
        this.takeableSince = undefined;
        return false;
      }
      // Expired while we watched it: its holder has been silent since the last change we saw, a whole lease
      // duration, and that counts as time takeable, so a dead holder's Lease is taken at once.
      if (performance.now() >= validUntil) this.takeableSince ??= this.observed!.at;
    }
    if (holder !== identity && !this.allowedToTake()) return false;
    try {
      const updated = await this.api.replaceNamespacedLease({
        name,
        namespace,
        fieldManager: OPERATOR_FIELD_MANAGER,
        body: {
          metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
          spec: this.spec(lease, new Date()),
        },
      });
      this.observe(updated);
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote it since our read
      throw new KubernetesApiError(`renewing lease ${namespace}/${name}`, err);
    }
  }

  /**
   * Asks the holder of this Lease to hand it over to us (HANDOVER_ANNOTATION, written with the Lease's
   * resourceVersion, so it never overwrites a renewal it did not see). Its holder's next renewal either hands
   * it over or, by rewriting the Lease without it, clears the request. False when nothing was asked.
   */
  async requestHandover(): Promise<boolean> {
    const { name, namespace, identity } = this.options;
    const lease = await this.api.readNamespacedLease({ name, namespace });
    const holder = lease.spec?.holderIdentity;
    if (!holder || holder === identity || lease.metadata?.annotations?.[HANDOVER_ANNOTATION]) return false;
    try {
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        fieldManager: OPERATOR_FIELD_MANAGER,
        body: {
          metadata: {
            name,
            namespace,
            resourceVersion: lease.metadata?.resourceVersion,
            annotations: { ...lease.metadata?.annotations, [HANDOVER_ANNOTATION]: identity },
          },
          spec: lease.spec,
        },
      });
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // renewed meanwhile: ask again later
      throw new KubernetesApiError(`asking for lease ${namespace}/${name}`, err);
    }
  }

  private allowedToTake(): boolean {
    if (!this.options.mayTake) return true;
    const now = performance.now();
    this.takeableSince ??= now;
    return this.options.mayTake(now - this.takeableSince);
  }

  /**
   * Stop campaigning. A leader first stops acting (onStoppedLeading) and then gives the Lease up, so the next
   * candidate need not wait for it to expire and can never overlap with us. `release: false` leaves the
   * Lease to expire, as a crashed process would.
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    if (!this.abort) return;
    this.abort.abort();
    await this.loop;
    this.loop = undefined;
    this.abort = undefined;
    this.stepDown();
    // Released even when not leading yet: an attempt cut short by stop() may just have taken the Lease.
    if (options.release === false) return;
    await this.releaseIfHeld();
  }

  /**
   * Gives the Lease up when it names us (no holder, 1 s duration), so the next candidate need not wait for it
   * to expire. Call after stop({ release: false }) once nothing acts on the Lease any more.
   */
  async releaseIfHeld(): Promise<void> {
    const { name, namespace, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new V1MicroTime(Date.now());
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        fieldManager: OPERATOR_FIELD_MANAGER,
        body: {
          metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
          spec: {
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: lease.spec.leaseTransitions ?? 0,
          },
        },
      });
    } catch (err) {
      // Not fatal: the Lease expires on its own after leaseDuration.
      this.options.onError?.(err);
    }
  }
}
