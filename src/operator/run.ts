// The operator process, assembled: Kubernetes ports, informers that enqueue rollout keys, the controller's
// workers, leader election, and the /metrics, /healthz and /readyz server. This is the composition root: the
// only module that knows both the reconciler and the Kubernetes adapters. Only the leader reconciles; a
// standby keeps its informers warm so a failover starts at once.
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubernetesPorts } from "../adapters/kubernetes/index.js";
import { RolloutInformers } from "../adapters/kubernetes/informers.js";
import { LeaderElector } from "../adapters/kubernetes/leader.js";
import { Controller, refOf } from "./controller.js";
import { faultsFromEnv, FAULT_ENV } from "./faults.js";
import type { Logger } from "./log.js";
import { OperatorMetrics } from "./metrics.js";
import { startServer, type RunningServer } from "./server.js";

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
  if (options.leaderElection !== false) {
    const le = options.leaderElection;
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

  const server = await startServer({
    host: options.listen.host,
    port: options.listen.port,
    metrics,
    readiness: () => {
      const missing = informers.unsynced();
      if (missing.length > 0) return { ready: false, reason: `watches not synced: ${missing.join(", ")}` };
      return { ready: true };
    },
  });
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
