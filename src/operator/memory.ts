// In-memory implementations of every port, for the reconciler's and the controller's unit tests. They keep
// the properties the reconciler relies on: resourceVersion with real optimistic-concurrency conflicts, a
// router that writes only when the weight changes (and records each write), deep copies in and out so no
// test aliases stored objects. Failures are injected per call (failNext) to play a crash at any point.
import type { Policy } from "../core/policy/schema.js";
import type { VoiceRollout, VoiceRolloutCommand, VoiceRolloutStatus } from "../core/resource/voicerollout.js";
import type { Look } from "../core/analysis/look.js";
import {
  ConflictError,
  type AnalysisStateStore,
  type Clock,
  type DeploymentState,
  type EventRecorder,
  type LookSource,
  type MetricsSources,
  type NodePools,
  type NotificationTransport,
  SinkError,
  type PoolCapacity,
  type PoolSelector,
  type Taint,
  type Toleration,
  type PolicyLookup,
  type PolicyStore,
  type Ports,
  type RolloutRef,
  type RouteObservation,
  RouteChangedByHandError,
  type SetWeightOptions,
  undoesHandEdit,
  type RolloutStore,
  type StoredAnalysis,
  type TrafficRouter,
  type Workloads,
  toleratesAll,
} from "./ports.js";
import type { Timers } from "./queue.js";

const keyOf = (ref: RolloutRef) => `${ref.namespace}/${ref.name}`;
const refOf = (r: { metadata: { namespace: string; name: string } }): RolloutRef => ({
  namespace: r.metadata.namespace,
  name: r.metadata.name,
});

/** An injected failure: the next `count` calls of one operation throw this error. */
class Faults {
  private readonly pending = new Map<string, Error[]>();
  failNext(operation: string, error: Error = new Error(`injected ${operation} failure`), count = 1): void {
    const list = this.pending.get(operation) ?? [];
    for (let i = 0; i < count; i++) list.push(error);
    this.pending.set(operation, list);
  }
  check(operation: string): void {
    const error = this.pending.get(operation)?.shift();
    if (error) throw error;
  }
}

/** A clock the test moves by hand, which also fires the queue's timers in time order. */
export class ManualClock implements Clock, Timers {
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  constructor(private current = Date.UTC(2026, 0, 15, 9, 0, 0)) {}
  now(): number {
    return this.current;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const t = { at: this.current + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(t);
    return t;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t !== handle);
  }
  /** Moves time forward, firing every timer due on the way, each at its own time. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = Math.max(this.current, due.at);
      due.fn();
    }
    this.current = end;
  }
  get pendingTimers(): number {
    return this.timers.length;
  }
}

export class MemoryRolloutStore implements RolloutStore {
  readonly faults = new Faults();
  private readonly rollouts = new Map<string, VoiceRollout>();
  private readonly commands: VoiceRolloutCommand[] = [];
  private version = 1;
  statusWrites = 0;

  put(rollout: VoiceRollout): VoiceRollout {
    const before = this.rollouts.get(keyOf(refOf(rollout)));
    const stored: VoiceRollout = structuredClone({
      ...rollout,
      metadata: {
        ...rollout.metadata,
        generation: rollout.metadata.generation ?? (before?.metadata.generation ?? 0) + 1,
        resourceVersion: String(++this.version),
      },
    });
    this.rollouts.set(keyOf(refOf(rollout)), stored);
    return structuredClone(stored);
  }

  /** Another writer touches the rollout (kubectl, a second operator): its resourceVersion moves on. */
  touch(ref: RolloutRef): void {
    const r = this.rollouts.get(keyOf(ref));
    if (!r) throw new Error(`no rollout ${keyOf(ref)}`);
    this.rollouts.set(keyOf(ref), {
      ...r,
      metadata: { ...r.metadata, resourceVersion: String(++this.version) },
    });
  }

  delete(ref: RolloutRef): void {
    this.rollouts.delete(keyOf(ref));
  }

  peek(ref: RolloutRef): VoiceRollout | undefined {
    const r = this.rollouts.get(keyOf(ref));
    return r ? structuredClone(r) : undefined;
  }

  async get(ref: RolloutRef): Promise<VoiceRollout | null> {
    this.faults.check("get");
    const r = this.rollouts.get(keyOf(ref));
    return r ? structuredClone(r) : null;
  }

  async updateStatus(rollout: VoiceRollout, status: VoiceRolloutStatus): Promise<VoiceRollout> {
    this.faults.check("updateStatus");
    const ref = refOf(rollout);
    const current = this.rollouts.get(keyOf(ref));
    if (!current) throw new Error(`voicerollouts "${ref.name}" not found`);
    if (current.metadata.resourceVersion !== rollout.metadata.resourceVersion)
      throw new ConflictError(
        `the object has been modified (resourceVersion ${rollout.metadata.resourceVersion}, now ${current.metadata.resourceVersion})`,
      );
    const stored: VoiceRollout = structuredClone({
      ...current,
      metadata: { ...current.metadata, resourceVersion: String(++this.version) },
      status,
    });
    this.rollouts.set(keyOf(ref), stored);
    this.statusWrites++;
    return structuredClone(stored);
  }

  addCommand(
    namespace: string,
    name: string,
    spec: Partial<VoiceRolloutCommand["spec"]> & Pick<VoiceRolloutCommand["spec"], "rollout" | "action">,
  ): VoiceRolloutCommand {
    const command: VoiceRolloutCommand = {
      apiVersion: "voicectl.dev/v1alpha1",
      kind: "VoiceRolloutCommand",
      metadata: { namespace, name, resourceVersion: String(++this.version) },
      spec: { reason: "test", user: "oncall@example.com", full: false, ...spec },
    };
    this.commands.push(command);
    return structuredClone(command);
  }

  command(namespace: string, name: string): VoiceRolloutCommand | undefined {
    const c = this.commands.find((x) => x.metadata.namespace === namespace && x.metadata.name === name);
    return c ? structuredClone(c) : undefined;
  }

  async pendingCommands(ref: RolloutRef): Promise<VoiceRolloutCommand[]> {
    this.faults.check("pendingCommands");
    return this.commands
      .filter(
        (c) => c.metadata.namespace === ref.namespace && c.spec.rollout === ref.name && !c.status?.appliedAt,
      )
      .map((c) => structuredClone(c));
  }

  async markApplied(command: VoiceRolloutCommand, result: string, at: number): Promise<void> {
    this.faults.check("markApplied");
    const i = this.commands.findIndex(
      (c) => c.metadata.namespace === command.metadata.namespace && c.metadata.name === command.metadata.name,
    );
    if (i < 0) return;
    this.commands[i] = { ...this.commands[i]!, status: { appliedAt: new Date(at).toISOString(), result } };
  }
}

export class MemoryPolicyStore implements PolicyStore {
  private readonly policies = new Map<string, PolicyLookup>();
  set(ref: RolloutRef, policy: Policy): void {
    this.policies.set(keyOf(ref), { policy: structuredClone(policy) });
  }
  /** The policy exists but cannot be used (the message names the field). */
  setInvalid(ref: RolloutRef, error: string): void {
    this.policies.set(keyOf(ref), { error });
  }
  delete(ref: RolloutRef): void {
    this.policies.delete(keyOf(ref));
  }
  async get(ref: RolloutRef): Promise<PolicyLookup> {
    return (
      this.policies.get(keyOf(ref)) ?? {
        error: `RolloutPolicy ${ref.namespace}/${ref.name} not found`,
      }
    );
  }
}

interface MemoryDeployment {
  replicas: number;
  readyReplicas: number;
  gpusPerReplica: number;
}

export class MemoryWorkloads implements Workloads {
  readonly faults = new Faults();
  private readonly deployments = new Map<string, MemoryDeployment>();
  /** Every scale call that changed spec.replicas, in order. */
  readonly scales: { name: string; replicas: number }[] = [];

  set(ref: RolloutRef, d: Partial<MemoryDeployment> & { replicas: number }): void {
    this.deployments.set(keyOf(ref), { readyReplicas: 0, gpusPerReplica: 1, ...d });
  }
  /** Readiness is the test's to set: a cold GPU model is ready when the test says so. */
  setReady(ref: RolloutRef, readyReplicas: number): void {
    const d = this.deployments.get(keyOf(ref));
    if (!d) throw new Error(`no deployment ${keyOf(ref)}`);
    d.readyReplicas = readyReplicas;
  }
  delete(ref: RolloutRef): void {
    this.deployments.delete(keyOf(ref));
  }
  replicasOf(ref: RolloutRef): number | undefined {
    return this.deployments.get(keyOf(ref))?.replicas;
  }
  /** Every Deployment with its key (namespace/name), in the order they were first set. */
  entries(): { key: string; replicas: number; gpusPerReplica: number }[] {
    return [...this.deployments].map(([key, d]) => ({
      key,
      replicas: d.replicas,
      gpusPerReplica: d.gpusPerReplica,
    }));
  }
  async deployment(ref: RolloutRef): Promise<DeploymentState | null> {
    this.faults.check("deployment");
    const d = this.deployments.get(keyOf(ref));
    return d ? { ...d } : null;
  }
  async scale(ref: RolloutRef, replicas: number): Promise<void> {
    this.faults.check("scale");
    const d = this.deployments.get(keyOf(ref));
    if (!d) throw new Error(`deployments "${ref.name}" not found`);
    if (d.replicas === replicas) return;
    d.replicas = replicas;
    d.readyReplicas = Math.min(d.readyReplicas, replicas);
    this.scales.push({ name: ref.name, replicas });
  }
}

export interface MemoryNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly gpus: number;
  readonly ready?: boolean;
  readonly unschedulable?: boolean;
  readonly taints?: readonly Taint[];
}

/**
 * A cluster's GPU nodes and a scheduler reduced to what the pool check needs: each Deployment placed with a
 * node selector has its replicas bound, in order, to the first node that matches, can take a pod and has the
 * GPUs free; replicas that fit nowhere are Pending (and hold nothing). Other tenants' pods are `reserve`d GPUs.
 * Binding is recomputed on every read, so pods of a scaled-down Deployment are gone at once.
 */
export class MemoryNodePools implements NodePools {
  readonly faults = new Faults();
  private nodes: MemoryNode[] = [];
  private readonly placements = new Map<
    string,
    { selector: Record<string, string>; tolerations: Toleration[] }
  >();
  private readonly reservations: { selector: Record<string, string>; gpus: number }[] = [];
  /** Every capacity read, for tests that count API calls. */
  reads = 0;

  constructor(private readonly workloads: MemoryWorkloads) {}

  addNode(node: MemoryNode): void {
    this.nodes = [...this.nodes.filter((n) => n.name !== node.name), node];
  }
  removeNode(name: string): void {
    this.nodes = this.nodes.filter((n) => n.name !== name);
  }
  /** The Deployment's pods select nodes with these labels (its template's nodeSelector). */
  place(ref: RolloutRef, selector: Record<string, string>, tolerations: Toleration[] = []): void {
    this.placements.set(keyOf(ref), { selector, tolerations });
  }
  /** Another tenant's pods take `gpus` on nodes with these labels; returns a function that frees them. */
  reserve(selector: Record<string, string>, gpus: number): () => void {
    const r = { selector, gpus };
    this.reservations.push(r);
    return () => {
      const i = this.reservations.indexOf(r);
      if (i >= 0) this.reservations.splice(i, 1);
    };
  }

  private schedulable(n: MemoryNode, tolerations: readonly Toleration[]): boolean {
    return n.ready !== false && n.unschedulable !== true && toleratesAll(tolerations, n.taints ?? []);
  }

  /** GPUs used per node, and Pending replicas per Deployment key. */
  private bind(): { used: Map<string, number>; pending: Map<string, number> } {
    const used = new Map<string, number>(this.nodes.map((n) => [n.name, 0]));
    const pending = new Map<string, number>();
    const matches = (n: MemoryNode, sel: Record<string, string>) =>
      Object.entries(sel).every(([k, v]) => n.labels[k] === v);
    const place = (
      sel: Record<string, string>,
      tolerations: readonly Toleration[],
      gpus: number,
    ): boolean => {
      const node = this.nodes.find(
        (n) => matches(n, sel) && this.schedulable(n, tolerations) && n.gpus - used.get(n.name)! >= gpus,
      );
      if (!node) return false;
      used.set(node.name, used.get(node.name)! + gpus);
      return true;
    };
    for (const r of this.reservations) for (let i = 0; i < r.gpus; i++) place(r.selector, [], 1);
    for (const d of this.workloads.entries()) {
      const p = this.placements.get(d.key);
      if (!p) continue;
      let missing = 0;
      for (let i = 0; i < d.replicas; i++) if (!place(p.selector, p.tolerations, d.gpusPerReplica)) missing++;
      pending.set(d.key, missing);
    }
    return { used, pending };
  }

  /** Replicas of this Deployment the scheduler could not place: Pending pods. */
  pending(ref: RolloutRef): number {
    return this.bind().pending.get(keyOf(ref)) ?? 0;
  }

  async capacity(pool: PoolSelector): Promise<PoolCapacity> {
    this.faults.check("capacity");
    this.reads++;
    const { used } = this.bind();
    const inPool = this.nodes.filter((n) =>
      Object.entries(pool.selector).every(([k, v]) => n.labels[k] === v),
    );
    const counted = inPool.filter(
      (n) => n.ready !== false && n.unschedulable !== true && toleratesAll(pool.tolerations, n.taints ?? []),
    );
    return {
      allocatable: counted.reduce((s, n) => s + n.gpus, 0),
      requested: counted.reduce((s, n) => s + used.get(n.name)!, 0),
      nodes: counted.length,
      excluded: inPool.length - counted.length,
    };
  }
}

export class MemoryRouter implements TrafficRouter {
  readonly faults = new Faults();
  private readonly weights = new Map<string, number>();
  /** The weight voicectl last wrote per rollout, as the routing object's annotation records it. */
  private readonly written = new Map<string, number>();
  /** Every write that changed a route, in order: a double shift shows up here. */
  readonly writes: { rollout: string; weight: number }[] = [];
  calls = 0;

  /** Who set each route's weight when it was not voicectl: the field manager managedFields would name. */
  private readonly changedBy = new Map<string, string>();

  /**
   * A route as its owner set it up (or as a person left it): weights only, no record of voicectl's write.
   * `by` is the field manager of that write, when the test plays one that says (kubectl-patch, argocd-controller).
   */
  setWeight(ref: RolloutRef, weight: number, by?: string): void {
    this.weights.set(keyOf(ref), weight);
    if (by === undefined) this.changedBy.delete(keyOf(ref));
    else this.changedBy.set(keyOf(ref), by);
  }
  weightOf(ref: RolloutRef): number | undefined {
    return this.weights.get(keyOf(ref));
  }
  async canaryWeight(rollout: VoiceRollout): Promise<number | null> {
    return this.weights.get(keyOf(refOf(rollout))) ?? null;
  }
  async observe(rollout: VoiceRollout): Promise<RouteObservation> {
    const key = keyOf(refOf(rollout));
    const weight = this.weights.get(key) ?? null;
    const written = this.written.get(key) ?? null;
    const by = this.changedBy.get(key);
    // As managedFields would say it: only for a weight that is not the one voicectl wrote.
    return weight !== written && written !== null && by !== undefined
      ? { weight, written, changedBy: by }
      : { weight, written };
  }
  /** Header value pins per rollout, as a route's header-match rules would hold them. */
  readonly pins = new Map<string, readonly string[]>();
  async pinnedValues(rollout: VoiceRollout): Promise<string[]> {
    return [...(this.pins.get(keyOf(refOf(rollout))) ?? [])];
  }
  async setPins(rollout: VoiceRollout, _header: string, values: readonly string[]): Promise<void> {
    this.faults.check("setPins");
    if (values.length === 0) this.pins.delete(keyOf(refOf(rollout)));
    else this.pins.set(keyOf(refOf(rollout)), [...values]);
  }
  async setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void> {
    this.calls++;
    this.faults.check("setCanaryWeight");
    const key = keyOf(refOf(rollout));
    const routed = this.weights.get(key) ?? null;
    const written = this.written.get(key) ?? null;
    if (!options?.overrideHandEdit && undoesHandEdit(routed, written, weight))
      throw new RouteChangedByHandError(`route ${key} was changed by hand`, routed!, written!);
    if (this.weights.get(key) === weight && this.written.get(key) === weight) return;
    const changed = this.weights.get(key) !== weight;
    this.weights.set(key, weight);
    this.written.set(key, weight);
    this.changedBy.delete(key);
    if (changed) this.writes.push({ rollout: key, weight });
  }
}

export class MemoryAnalysisStore implements AnalysisStateStore {
  readonly faults = new Faults();
  private readonly states = new Map<string, StoredAnalysis>();
  saves = 0;
  async load(rollout: VoiceRollout): Promise<StoredAnalysis | null> {
    const s = this.states.get(keyOf(refOf(rollout)));
    return s ? structuredClone(s) : null;
  }
  async save(rollout: VoiceRollout, stored: StoredAnalysis): Promise<void> {
    this.faults.check("save");
    // Through JSON, as a ConfigMap would keep it: what does not survive JSON does not survive a restart.
    this.states.set(keyOf(refOf(rollout)), JSON.parse(JSON.stringify(stored)) as StoredAnalysis);
    this.saves++;
  }
  async remove(rollout: VoiceRollout): Promise<void> {
    this.states.delete(keyOf(refOf(rollout)));
  }
  location(rollout: VoiceRollout): string {
    return `${rollout.metadata.name}-analysis`;
  }
  /** The state is lost (its ConfigMap deleted, say). */
  lose(ref: RolloutRef): void {
    this.states.delete(keyOf(ref));
  }
  has(ref: RolloutRef): boolean {
    return this.states.has(keyOf(ref));
  }
  peek(ref: RolloutRef): StoredAnalysis | undefined {
    return this.states.get(keyOf(ref));
  }
}

/** Looks from a script: a function of the window and weight, or an error to throw. */
export type LookScript = (fromMs: number, toMs: number, canaryWeight: number) => Look;

export class ScriptedMetrics implements MetricsSources {
  /** Every look asked for, in order. */
  readonly looks: { from: number; to: number; weight: number }[] = [];
  private failures = 0;
  constructor(public script: LookScript) {}
  /** The next `count` looks fail as an unreachable Prometheus would. */
  failNext(count = 1): void {
    this.failures += count;
  }
  for(_rollout: VoiceRollout, _policy: Policy): LookSource {
    return {
      look: async (from, to, weight) => {
        this.looks.push({ from, to, weight });
        if (this.failures > 0) {
          this.failures--;
          throw new Error("prometheus: connection refused");
        }
        return this.script(from, to, weight);
      },
    };
  }
}

export interface RecordedEvent {
  readonly rollout: string;
  readonly type: "Normal" | "Warning";
  readonly reason: string;
  readonly message: string;
}

export class MemoryEvents implements EventRecorder {
  readonly events: RecordedEvent[] = [];
  async record(
    rollout: VoiceRollout,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    this.events.push({ rollout: keyOf(refOf(rollout)), type, reason, message });
  }
  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}

export interface SentNotification {
  readonly url: string;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Secrets and sinks in memory: every POST is recorded (also those the test makes fail), a URL can be taken
 * down (`down`) to play a sink that refuses, and `afterSend` runs after a send succeeds, before the caller
 * hears of it, to play a crash between the send and the status write.
 */
export class MemoryNotificationTransport implements NotificationTransport {
  readonly secrets = new Map<string, string>();
  readonly sent: SentNotification[] = [];
  readonly refused: SentNotification[] = [];
  readonly down = new Set<string>();
  afterSend: ((n: SentNotification) => void) | undefined;

  setSecret(namespace: string, name: string, key: string, value: string): void {
    this.secrets.set(`${namespace}/${name}/${key}`, value);
  }
  async secret(namespace: string, name: string, key: string): Promise<string | null> {
    return this.secrets.get(`${namespace}/${name}/${key}`) ?? null;
  }
  async post(url: string, body: unknown, headers: Readonly<Record<string, string>>): Promise<void> {
    const n = structuredClone({ url, body, headers });
    if ([...this.down].some((d) => url.startsWith(d))) {
      this.refused.push(n);
      throw new SinkError("sink answered HTTP 503", 503);
    }
    this.sent.push(n);
    this.afterSend?.(n);
  }
  /** Payloads received at URLs starting with `prefix`. */
  to(prefix: string): unknown[] {
    return this.sent.filter((n) => n.url.startsWith(prefix)).map((n) => n.body);
  }
}

export interface MemoryPorts extends Ports {
  readonly rollouts: MemoryRolloutStore;
  readonly policies: MemoryPolicyStore;
  readonly workloads: MemoryWorkloads;
  readonly router: MemoryRouter;
  readonly analysis: MemoryAnalysisStore;
  readonly metrics: ScriptedMetrics;
  readonly events: MemoryEvents;
  readonly clock: ManualClock;
  readonly pools: MemoryNodePools;
  readonly notifications: MemoryNotificationTransport;
}

export function memoryPorts(script: LookScript, clock = new ManualClock()): MemoryPorts {
  const workloads = new MemoryWorkloads();
  return {
    rollouts: new MemoryRolloutStore(),
    policies: new MemoryPolicyStore(),
    workloads,
    pools: new MemoryNodePools(workloads),
    router: new MemoryRouter(),
    analysis: new MemoryAnalysisStore(),
    metrics: new ScriptedMetrics(script),
    events: new MemoryEvents(),
    clock,
    notifications: new MemoryNotificationTransport(),
  };
}
