// The controller: workers that take rollout keys from the work queue and reconcile them through the ports.
// Watch events (informers, wired elsewhere) only enqueue keys; all decisions are the reconciler's. A pass
// that lost a write race runs again at once; any other failure is retried with per-key backoff and logged.
import { silentLogger, type Logger } from "./log.js";
import type { OperatorMetrics } from "./metrics.js";
import { ConflictError, type Ports, type RolloutRef } from "./ports.js";
import { WorkQueue, systemTimers, type Timers } from "./queue.js";
import { deliverOutbox } from "./notifications/deliver.js";
import { reconcile, type ReconcileOptions, type ReconcileResult } from "./reconciler.js";

export type ReconcileFn = (
  ref: RolloutRef,
  ports: Ports,
  options: ReconcileOptions,
) => Promise<ReconcileResult>;

export interface ControllerOptions {
  readonly ports: Ports;
  /** Rollouts reconciled at once; one rollout is never reconciled by two workers at once. */
  readonly workers?: number | undefined;
  readonly timers?: Timers | undefined;
  readonly queue?: WorkQueue | undefined;
  readonly metrics?: OperatorMetrics | undefined;
  readonly log?: Logger | undefined;
  readonly reconcileOptions?: Omit<ReconcileOptions, "log"> | undefined;
  /** The pass to run; the reconciler's own unless a test replaces it. */
  readonly reconcile?: ReconcileFn | undefined;
}

export function keyOf(ref: RolloutRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export function refOf(key: string): RolloutRef {
  const slash = key.indexOf("/");
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export class Controller {
  readonly queue: WorkQueue;
  private readonly workers: Promise<void>[] = [];
  private readonly log: Logger;
  private readonly run: ReconcileFn;

  constructor(private readonly options: ControllerOptions) {
    this.queue = options.queue ?? new WorkQueue(options.timers ?? systemTimers);
    this.log = options.log ?? silentLogger;
    this.run = options.reconcile ?? reconcile;
  }

  enqueue(ref: RolloutRef): void {
    this.queue.add(keyOf(ref));
  }

  start(): void {
    if (this.workers.length > 0) return;
    const n = Math.max(1, this.options.workers ?? 2);
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  /** Stops taking keys; resolves once every worker has finished its current pass. */
  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.workers.splice(0));
  }

  private async work(): Promise<void> {
    while (await this.processNext()) {
      /* one key per turn */
    }
  }

  /** Processes one key; false once the queue is shut down. */
  async processNext(): Promise<boolean> {
    const key = await this.queue.get();
    if (key === undefined) return false;
    const ref = refOf(key);
    const { ports, metrics } = this.options;
    const started = ports.clock.now();
    try {
      const r = await this.run(ref, ports, { ...this.options.reconcileOptions, log: this.log });
      this.queue.forget(key);
      if (r.requeueAfterMs === null) metrics?.forget(ref);
      else if (r.phase !== undefined) metrics?.rollout(ref, r.phase, r.canaryWeight ?? 0);
      for (const d of r.decisions) metrics?.decision(d.decision, d.reason);
      if (r.analysisMs !== undefined) metrics?.analysis(r.analysisMs / 1000);
      if (r.requeueAfterMs === 0) this.queue.add(key);
      else if (r.requeueAfterMs !== null) this.queue.addAfter(key, r.requeueAfterMs);
      // Notifications the pass wrote into status are sent after it, by the same worker (one key at a time).
      if (r.notificationsPending && ports.notifications) {
        const d = await deliverOutbox(ref, ports, this.log);
        if (d.retryAfterMs !== null) this.queue.addAfter(key, d.retryAfterMs);
      }
    } catch (err) {
      if (err instanceof ConflictError) {
        // Someone else wrote first: re-read and go again, it is not a failure.
        this.queue.add(key);
      } else {
        metrics?.error();
        const retryInMs = this.queue.addRateLimited(key);
        this.log.warn("reconcile failed; retrying with backoff", { rollout: key, error: err, retryInMs });
      }
    } finally {
      metrics?.reconciled((ports.clock.now() - started) / 1000);
      this.queue.done(key);
    }
    return true;
  }
}
