// Watches that tell the reconciler which rollouts to look at: VoiceRollouts, VoiceRolloutCommands,
// RolloutPolicies, Deployments and HTTPRoutes, in one namespace or all, each event mapped to the keys
// (`namespace/name`) of the rollouts it concerns. Istio VirtualServices and KServe InferenceServices are
// watched too when the API server serves them: a cluster without Istio or KServe has no such CRD, and a
// watch on a resource that does not exist would fail (and keep start-up waiting) forever, so start() asks
// API discovery first and starts those watches only for the kinds it finds.
//
// client-node's informer (ListWatch) restarts itself only when a watch ends cleanly or with 410 Gone; any
// other error (connection reset, API server restarting, a list that fails) emits `error` and the informer
// stays stopped for good (docs/architecture.md#the-reconciler). Each informer here is supervised: on error it
// is started again after an exponential backoff, resuming from its last resourceVersion (or relisting when
// that is too old), and once it is back every cached rollout is enqueued, so nothing that happened while it
// was down is missed.
import {
  AppsV1Api,
  CustomObjectsApi,
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from "@kubernetes/client-node";
import {
  COMMAND_PLURAL,
  GROUP,
  POLICY_PLURAL,
  ROLLOUT_PLURAL,
  VERSION,
} from "../../core/resource/voicerollout.js";
import { isNotFound } from "./api-errors.js";
import { GATEWAY_GROUP, GATEWAY_VERSION, HTTPROUTE_PLURAL } from "./gateway-api.js";
import { ISTIO_GROUP, ISTIO_VERSION, VIRTUALSERVICE_PLURAL } from "./istio.js";
import { INFERENCESERVICE_PLURAL, KSERVE_GROUP, KSERVE_VERSION } from "./kserve.js";

export type WatchedKind =
  | "VoiceRollout"
  | "VoiceRolloutCommand"
  | "RolloutPolicy"
  | "Deployment"
  | "HTTPRoute"
  | "VirtualService"
  | "InferenceService";

export interface InformerOptions {
  /** Watch one namespace; all namespaces when omitted. */
  readonly namespace?: string | undefined;
  /** Called with `namespace/name` of every rollout an event concerns (possibly more than once). */
  readonly onKey: (key: string) => void;
  /** A watch failed and will be restarted in `retryInMs`; for logs and metrics. */
  readonly onError?: (kind: WatchedKind, err: unknown, retryInMs: number) => void;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

/** What the mapping needs of a rollout; read defensively, as a cached object may not match the schema. */
interface RolloutLike extends KubernetesObject {
  spec?: {
    stable?: { deployment?: unknown };
    canary?: { deployment?: unknown };
    policyRef?: { name?: unknown };
    traffic?: {
      gatewayAPI?: { httpRoute?: unknown };
      istio?: { virtualService?: unknown };
      kserve?: { inferenceService?: unknown };
    };
  };
}

interface CommandLike extends KubernetesObject {
  spec?: { rollout?: unknown };
}

type InformerEvent = "add" | "update" | "delete";

const keyOf = (namespace: string | undefined, name: string | undefined) => `${namespace ?? ""}/${name ?? ""}`;

/** One informer, started again with backoff whenever client-node gives up on it. */
class SupervisedInformer<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private stopped = true;
  private failures = 0;
  private errors = 0;
  private listedOnce = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly kind: WatchedKind,
    kc: KubeConfig,
    path: string,
    list: () => Promise<KubernetesListObject<T>>,
    onObject: (obj: T, event: InformerEvent) => void,
    private readonly onRecovered: () => void,
    private readonly onError: (err: unknown, retryInMs: number) => void,
    private readonly backoff: { readonly initialMs: number; readonly maxMs: number },
  ) {
    this.informer = makeInformer<T>(kc, path, list);
    this.informer.on("add", (obj: T) => onObject(obj, "add"));
    this.informer.on("update", (obj: T) => onObject(obj, "update"));
    this.informer.on("delete", (obj: T) => onObject(obj, "delete"));
    this.informer.on("error", (err: unknown) => this.failed(err));
  }

  get cache(): ObjectCache<T> {
    return this.informer;
  }

  get synced(): boolean {
    return this.listedOnce;
  }

  /** Listed, and not waiting to be restarted after a failure. */
  get healthy(): boolean {
    return this.listedOnce && this.failures === 0;
  }

  start(): void {
    this.stopped = false;
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const before = this.errors;
    try {
      // Resolves once the list is done and the watch request is answered, or after an error was emitted.
      await this.informer.start();
    } catch (err) {
      this.failed(err);
      return;
    }
    if (this.errors !== before || this.stopped) return;
    this.listedOnce = true;
    if (this.failures > 0) {
      this.failures = 0;
      this.onRecovered();
    }
  }

  private failed(err: unknown): void {
    this.errors++;
    if (this.stopped) return;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.failures);
    this.failures++;
    // Jitter keeps several operators (or several informers) from hammering a recovering API server in step.
    const retryIn = Math.round(delay * (0.8 + 0.4 * Math.random()));
    this.onError(err, retryIn);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(), retryIn);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.informer.stop();
  }
}

/** A kind watched only when the API server serves it (its CRD is installed). */
interface OptionalKind {
  readonly kind: WatchedKind;
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly make: () => SupervisedInformer<KubernetesObject>;
}

export class RolloutInformers {
  private readonly rollouts: SupervisedInformer<RolloutLike>;
  private readonly all: SupervisedInformer<KubernetesObject>[];
  private readonly optional: OptionalKind[];
  /** Optional kinds whose discovery has not answered yet: not synced until it has. */
  private readonly undiscovered = new Set<WatchedKind>();
  private readonly custom: CustomObjectsApi;
  private readonly options: InformerOptions;
  private readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  private discoveryTimer: NodeJS.Timeout | undefined;
  private stopped = true;

  constructor(kc: KubeConfig, options: InformerOptions) {
    const ns = options.namespace;
    const backoff = { initialMs: options.initialBackoffMs ?? 500, maxMs: options.maxBackoffMs ?? 30_000 };
    const onKey = options.onKey;
    const custom = kc.makeApiClient(CustomObjectsApi);
    this.custom = custom;
    this.options = options;
    this.backoff = backoff;
    const apps = kc.makeApiClient(AppsV1Api);
    const within = ns === undefined ? "" : `/namespaces/${encodeURIComponent(ns)}`;

    const customInformer = <T extends KubernetesObject>(
      kind: WatchedKind,
      group: string,
      version: string,
      plural: string,
      onObject: (obj: T, event: InformerEvent) => void,
    ) =>
      new SupervisedInformer<T>(
        kind,
        kc,
        `/apis/${group}/${version}${within}/${plural}`,
        async () =>
          (ns === undefined
            ? await custom.listClusterCustomObject({ group, version, plural })
            : await custom.listNamespacedCustomObject({
                group,
                version,
                namespace: ns,
                plural,
              })) as KubernetesListObject<T>,
        onObject,
        () => this.resyncAll(onKey),
        (err, retryIn) => options.onError?.(kind, err, retryIn),
        backoff,
      );

    /** Rollouts in `namespace` whose spec refers to the object, from the rollout informer's cache. */
    const referring = (obj: KubernetesObject, refers: (r: RolloutLike, name: string) => boolean) => {
      const namespace = obj.metadata?.namespace;
      const name = obj.metadata?.name;
      if (!namespace || !name) return;
      for (const r of this.rollouts.cache.list(namespace)) {
        if (refers(r, name)) onKey(keyOf(namespace, r.metadata?.name));
      }
    };

    // The operator's own status writes come back as updates of the same generation. The pass that wrote
    // them already asked to be requeued when something is due, so they are not enqueued (controller-runtime's
    // GenerationChangedPredicate): under bench/scale they were half of all reconciles. A spec change, a new or
    // deleted rollout, and everything the other informers see still enqueue at once.
    const generations = new Map<string, number | undefined>();
    this.rollouts = customInformer<RolloutLike>(
      "VoiceRollout",
      GROUP,
      VERSION,
      ROLLOUT_PLURAL,
      (r, event) => {
        const key = keyOf(r.metadata?.namespace, r.metadata?.name);
        const generation = r.metadata?.generation;
        if (event === "delete") generations.delete(key);
        else if (event === "update" && generation !== undefined && generations.get(key) === generation)
          return;
        else generations.set(key, generation);
        onKey(key);
      },
    );
    const commands = customInformer<CommandLike>(
      "VoiceRolloutCommand",
      GROUP,
      VERSION,
      COMMAND_PLURAL,
      (c) => {
        if (typeof c.spec?.rollout === "string") onKey(keyOf(c.metadata?.namespace, c.spec.rollout));
      },
    );
    const policies = customInformer<KubernetesObject>("RolloutPolicy", GROUP, VERSION, POLICY_PLURAL, (p) =>
      referring(p, (r, name) => r.spec?.policyRef?.name === name),
    );
    const routes = customInformer<KubernetesObject>(
      "HTTPRoute",
      GATEWAY_GROUP,
      GATEWAY_VERSION,
      HTTPROUTE_PLURAL,
      (h) => referring(h, (r, name) => r.spec?.traffic?.gatewayAPI?.httpRoute === name),
    );
    const deployments = new SupervisedInformer<KubernetesObject>(
      "Deployment",
      kc,
      `/apis/apps/v1${within}/deployments`,
      async () =>
        (ns === undefined
          ? await apps.listDeploymentForAllNamespaces({})
          : await apps.listNamespacedDeployment({ namespace: ns })) as KubernetesListObject<KubernetesObject>,
      (d) =>
        referring(d, (r, name) => r.spec?.stable?.deployment === name || r.spec?.canary?.deployment === name),
      () => this.resyncAll(onKey),
      (err, retryIn) => options.onError?.("Deployment", err, retryIn),
      backoff,
    );
    this.all = [
      this.rollouts as SupervisedInformer<KubernetesObject>,
      commands,
      policies,
      deployments,
      routes,
    ];
    this.optional = [
      {
        kind: "VirtualService",
        group: ISTIO_GROUP,
        version: ISTIO_VERSION,
        plural: VIRTUALSERVICE_PLURAL,
        make: () =>
          customInformer<KubernetesObject>(
            "VirtualService",
            ISTIO_GROUP,
            ISTIO_VERSION,
            VIRTUALSERVICE_PLURAL,
            (v) => referring(v, (r, name) => r.spec?.traffic?.istio?.virtualService === name),
          ),
      },
      {
        kind: "InferenceService",
        group: KSERVE_GROUP,
        version: KSERVE_VERSION,
        plural: INFERENCESERVICE_PLURAL,
        make: () =>
          customInformer<KubernetesObject>(
            "InferenceService",
            KSERVE_GROUP,
            KSERVE_VERSION,
            INFERENCESERVICE_PLURAL,
            (i) => referring(i, (r, name) => r.spec?.traffic?.kserve?.inferenceService === name),
          ),
      },
    ];
  }

  /**
   * Starts a watch for each optional kind the API server serves; a kind it does not serve (404 on its
   * group/version, or no such resource in it) is left unwatched. Discovery that fails otherwise is retried
   * with backoff, reported through onError like a failed watch.
   */
  private async discover(pending: OptionalKind[], failures = 0): Promise<void> {
    const retryIn = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** failures);
    const failed: OptionalKind[] = [];
    for (const o of pending) {
      let served: boolean;
      try {
        const list = await this.custom.getAPIResources({ group: o.group, version: o.version });
        served = list.resources.some((r) => r.name === o.plural);
      } catch (err) {
        if (!isNotFound(err)) {
          failed.push(o);
          this.options.onError?.(o.kind, err, retryIn);
          continue;
        }
        served = false;
      }
      if (this.stopped) return;
      if (served) {
        const informer = o.make();
        this.all.push(informer);
        informer.start();
      }
      this.undiscovered.delete(o.kind);
    }
    if (failed.length === 0 || this.stopped) return;
    this.discoveryTimer = setTimeout(() => void this.discover(failed, failures + 1), retryIn);
  }

  /** After a watch was down, anything may have changed: every known rollout is looked at again. */
  private resyncAll(onKey: (key: string) => void): void {
    for (const r of this.rollouts.cache.list()) onKey(keyOf(r.metadata?.namespace, r.metadata?.name));
  }

  start(): void {
    this.stopped = false;
    for (const i of this.all) i.start();
    const pending = this.optional.filter((o) => !this.all.some((i) => i.kind === o.kind));
    for (const o of pending) this.undiscovered.add(o.kind);
    void this.discover(pending);
  }

  /** Kinds being watched: the fixed ones, plus the optional ones the API server serves. */
  watched(): WatchedKind[] {
    return this.all.map((i) => i.kind);
  }

  /** True once every informer has listed once: before that, a missing object may just not be seen yet. */
  synced(): boolean {
    return this.undiscovered.size === 0 && this.all.every((i) => i.synced);
  }

  /** Every watch is up (none waiting out a backoff): for a readiness probe. */
  healthy(): boolean {
    return this.undiscovered.size === 0 && this.all.every((i) => i.healthy);
  }

  /** Kinds that have not listed yet (or not been discovered yet), to say what a start-up is waiting for. */
  unsynced(): WatchedKind[] {
    return [...this.undiscovered, ...this.all.filter((i) => !i.synced).map((i) => i.kind)];
  }

  /** Keys of every cached rollout, for a periodic resync. */
  rolloutKeys(): string[] {
    return this.rollouts.cache.list().map((r) => keyOf(r.metadata?.namespace, r.metadata?.name));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.discoveryTimer);
    await Promise.all(this.all.map((i) => i.stop()));
  }
}
