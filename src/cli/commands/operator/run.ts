// The operator process, assembled: Kubernetes ports, informers that enqueue rollout keys, the controller's
// workers, leader election (one leader Lease, or shard Leases), and the /metrics, /healthz and /readyz server.
// This is the composition root: the only module that knows both the reconciler and the Kubernetes adapters,
// and it lives with the command that starts the operator, so src/operator/ itself imports only its ports.
// Only the leader (or a shard's holder) reconciles; a standby keeps its informers warm so a failover starts
// at once.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubernetesPorts } from "../../../adapters/kubernetes/index.js";
import { RolloutInformers } from "../../../adapters/kubernetes/informers.js";
import { LeaderElector } from "../../../adapters/kubernetes/leader.js";
import { Controller, refOf } from "../../../operator/controller.js";
import { reconcile } from "../../../operator/reconciler.js";
import {
  fairShare,
  fencedPorts,
  shardLeaseName,
  ShardLostError,
  ShardSet,
  shardOf,
} from "../../../operator/shards.js";
import { faultsFromEnv, FAULT_ENV } from "../../../operator/faults.js";
import type { Logger } from "../../../operator/log.js";
import { OperatorMetrics } from "../../../operator/metrics.js";
import type { Ports } from "../../../operator/ports.js";
import { startServer, type RunningServer } from "../../../operator/server.js";

export interface OperatorOptions {
  readonly kubeConfig: KubeConfig;
  readonly prometheusUrl: string;
  /** Watch one namespace; all when omitted. */
  readonly namespace?: string | undefined;
  readonly workers?: number | undefined;
  /** host:port of the metrics and probe server; port 0 picks a free one. */
  readonly listen: { readonly host: string; readonly port: number };
  readonly leaderElection:
    | false
    | {
        readonly namespace: string;
        readonly name: string;
        readonly leaseDurationMs?: number | undefined;
        readonly renewDeadlineMs?: number | undefined;
        readonly retryPeriodMs?: number | undefined;
        /**
         * Shard Leases (issue 13): with more than one, each rollout belongs to shard hash(namespace/name) mod
         * shards, the Leases are `<name>-shard-<i>`, and this replica reconciles the rollouts of the shards it
         * holds. 1 (the default) is the single leader Lease `name`, exactly as without sharding.
         */
        readonly shards?: number | undefined;
        /** Replicas expected, for each one's fair share of shards: ceil(shards / replicas). */
        readonly replicas?: number | undefined;
      };
  /** Reconcile every rollout at least this often (ms). */
  readonly resyncMs?: number | undefined;
  /** How soon to look again at something no watch announces, such as canary readiness (ms). */
  readonly pollMs?: number | undefined;
  readonly identity?: string | undefined;
  readonly log: Logger;
  /**
   * TEST-ONLY: a VOICECTL_FAULT_EXIT_AT value (see ./faults.ts) that makes the process exit at a reconcile
   * boundary, for the end-to-end fault tests. Unset in every real deployment.
   */
  readonly faultSpec?: string | undefined;
}

export interface RunningOperator {
  readonly identity: string;
  readonly server: RunningServer;
  isLeader(): boolean;
  /** The shards this replica holds (sharded mode); [0] for the leader, [] for a standby. */
  heldShards(): number[];
  /** Resolves when this replica led and then lost the Lease: the process should exit. */
  readonly lostLeadership: Promise<void>;
  /** Stops reconciling, releases the Lease (so a standby takes over at once), closes the server. */
  stop(): Promise<void>;
}

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { log } = options;
  const identity =
    options.identity ?? `${process.env["POD_NAME"] ?? hostname()}-${randomBytes(3).toString("hex")}`;
  const ports = faultsFromEnv(
    kubernetesPorts(options.kubeConfig, {
      prometheusUrl: options.prometheusUrl,
      reportingInstance: identity,
    }),
    { [FAULT_ENV]: options.faultSpec },
    { log },
  );
  const metrics = new OperatorMetrics();
  const le = options.leaderElection;
  if (le !== false && (le.shards ?? 1) > 1) return startSharded(options, identity, ports, metrics, le);
  const controller = new Controller({
    ports,
    workers: options.workers,
    metrics,
    log,
    reconcileOptions: { resyncMs: options.resyncMs, pollMs: options.pollMs },
  });

  let leading = options.leaderElection === false;
  const informers = new RolloutInformers(options.kubeConfig, {
    namespace: options.namespace,
    onKey: (key) => {
      if (leading) controller.enqueue(refOf(key));
    },
    onError: (kind, err, retryInMs) =>
      log.warn("watch failed; restarting it", { kind, error: err, retryInMs }),
  });

  let lostOnce = false;
  const startLeading = () => {
    // A replica that lost the Lease is on its way out (its controller is stopped): it never leads again.
    if (lostOnce) return;
    leading = true;
    log.info("leading: reconciling rollouts", { identity });
    controller.start();
    // Whatever happened while another replica led (or before we started) is in the informers' caches.
    for (const key of informers.rolloutKeys()) controller.enqueue(refOf(key));
  };

  let elector: LeaderElector | undefined;
  let stoppedLeading: Promise<void> | undefined;
  let resolveLost: () => void = () => {};
  const lost = new Promise<void>((resolve) => (resolveLost = resolve));
  if (le !== false) {
    elector = new LeaderElector(options.kubeConfig, {
      namespace: le.namespace,
      name: le.name,
      identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      onStartedLeading: startLeading,
      onStoppedLeading: () => {
        // Two leaders must never write at once: stop taking work the moment the Lease is lost. Like
        // controller-runtime, the process then exits and its restart becomes a fresh candidate.
        if (!leading) return;
        leading = false;
        lostOnce = true;
        log.warn("lost the leader Lease: stopped reconciling", { identity });
        stoppedLeading = controller.stop();
        resolveLost();
      },
      onNewLeader: (holder) => log.info("leader", { holder: holder ?? null }),
      onError: (err) => log.warn("leader election: Lease read or write failed", { error: err }),
    });
  }

  const server = await probeServer(options, metrics, informers);
  informers.start();
  if (elector) elector.start();
  else startLeading();
  log.info("operator started", {
    identity,
    namespace: options.namespace ?? "(all)",
    listen: `${server.host}:${server.port}`,
    leaderElection: options.leaderElection !== false,
  });

  return {
    identity,
    server,
    isLeader: () => leading,
    heldShards: () => (leading ? [0] : []),
    lostLeadership: lost,
    async stop() {
      leading = false;
      await controller.stop();
      await stoppedLeading;
      await elector?.stop({ release: true });
      await informers.stop();
      await server.close();
      log.info("operator stopped", { identity });
    },
  };
}

type LeaderElectionConfig = Exclude<OperatorOptions["leaderElection"], false>;

function probeServer(options: OperatorOptions, metrics: OperatorMetrics, informers: RolloutInformers) {
  return startServer({
    host: options.listen.host,
    port: options.listen.port,
    metrics,
    readiness: () => {
      const missing = informers.unsynced();
      if (missing.length > 0) return { ready: false, reason: `watches not synced: ${missing.join(", ")}` };
      return { ready: true };
    },
  });
}

/**
 * Several replicas at once, each reconciling the rollouts of the shard Leases it holds. Unlike the single
 * leader, a replica that loses a shard keeps running: it drops that shard's work at once (queued keys are
 * skipped, every write of a pass in flight is refused by the fence) and may take the shard again later, as any
 * other replica may; its other shards are untouched.
 */
async function startSharded(
  options: OperatorOptions,
  identity: string,
  ports: Ports,
  metrics: OperatorMetrics,
  le: LeaderElectionConfig,
): Promise<RunningOperator> {
  const { log } = options;
  const shards = le.shards ?? 1;
  const leaseDurationMs = le.leaseDurationMs ?? 15_000;
  const retryPeriodMs = le.retryPeriodMs ?? 2_000;
  const set = new ShardSet({
    shards,
    fairShare: fairShare(shards, le.replicas ?? 1),
    // Longer than a retry period: every replica below its share has tried once before a "full" one takes it.
    graceMs: Math.round(retryPeriodMs * 1.5),
    claimTtlMs: le.renewDeadlineMs ?? 10_000,
  });
  const controller = new Controller({
    ports,
    workers: options.workers,
    metrics,
    log,
    reconcileOptions: { resyncMs: options.resyncMs, pollMs: options.pollMs },
    // A key queued before its shard was lost is skipped; a pass under way writes only while the shard is held.
    reconcile: async (ref, p, o) => {
      const shard = shardOf(`${ref.namespace}/${ref.name}`, shards);
      if (!set.holds(shard)) return { requeueAfterMs: null, decisions: [] };
      try {
        return await reconcile(
          ref,
          fencedPorts(p, ref, () => set.holds(shard)),
          o,
        );
      } catch (err) {
        if (!(err instanceof ShardLostError)) throw err;
        log.info("shard lost mid-pass: stopped before writing", { rollout: err.rollout, shard });
        return { requeueAfterMs: null, decisions: [] };
      }
    },
  });
  const informers = new RolloutInformers(options.kubeConfig, {
    namespace: options.namespace,
    onKey: (key) => {
      if (set.owns(key)) controller.enqueue(refOf(key));
    },
    onError: (kind, err, retryInMs) =>
      log.warn("watch failed; restarting it", { kind, error: err, retryInMs }),
  });
  const electors = Array.from({ length: shards }, (_, shard) => {
    const lease = shardLeaseName(le.name, shard, shards);
    return new LeaderElector(options.kubeConfig, {
      namespace: le.namespace,
      name: lease,
      identity,
      leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs,
      mayTake: (takeableForMs) => set.mayTake(shard, takeableForMs),
      handOver: (wantedBy) => {
        const yes = set.handsOver();
        if (yes) log.info("handing a shard over to a replica that has too few", { shard, to: wantedBy });
        return yes;
      },
      onNewLeader: (holder) => set.observeHolder(shard, holder),
      onStartedLeading: () => {
        set.acquired(shard);
        log.info("took shard: reconciling its rollouts", { identity, shard, held: set.held() });
        // Whatever happened while another replica held it is in the informers' caches.
        for (const key of informers.rolloutKeys()) {
          if (shardOf(key, shards) === shard) controller.enqueue(refOf(key));
        }
      },
      onStoppedLeading: () => {
        set.lost(shard);
        // Its rollouts' phase and weight are the new holder's to report: two replicas' series for one rollout
        // would count it twice on a dashboard.
        for (const key of informers.rolloutKeys()) {
          if (shardOf(key, shards) === shard) metrics.forget(refOf(key));
        }
        log.warn("lost a shard Lease: stopped reconciling its rollouts", {
          identity,
          shard,
          held: set.held(),
        });
      },
      onError: (err) => log.warn("shard Lease read or write failed", { lease, error: err }),
    });
  });

  // A replica below its fair share with no free shard to take (it came back after the others took its
  // shards) asks a replica holding more than its share for one, every other retry period.
  const asking = setInterval(() => {
    const shard = set.shardToAskFor(identity);
    if (shard === undefined) return;
    electors[shard]!.requestHandover().then(
      (asked) => asked && log.info("asked for a shard", { shard }),
      (err: unknown) => log.warn("asking for a shard failed", { shard, error: err }),
    );
  }, 2 * retryPeriodMs);
  asking.unref();

  const server = await probeServer(options, metrics, informers);
  informers.start();
  controller.start();
  // Started in a different order on every replica, so replicas starting together reach different shards first.
  const offset = Math.floor(Math.random() * shards);
  for (let i = 0; i < shards; i++) electors[(offset + i) % shards]!.start();
  log.info("operator started", {
    identity,
    namespace: options.namespace ?? "(all)",
    listen: `${server.host}:${server.port}`,
    shards,
    fairShare: fairShare(shards, le.replicas ?? 1),
  });
  return {
    identity,
    server,
    isLeader: () => set.held().length > 0,
    heldShards: () => set.held(),
    // A replica that loses a shard goes on with the others; it never has to exit for it.
    lostLeadership: new Promise<void>(() => {}),
    async stop() {
      // Stop acting first (every elector steps down, so the fence refuses writes), then give the Leases up.
      clearInterval(asking);
      await Promise.all(electors.map((e) => e.stop({ release: false })));
      await controller.stop();
      await Promise.all(electors.map((e) => e.releaseIfHeld()));
      await informers.stop();
      await server.close();
      log.info("operator stopped", { identity });
    },
  };
}
