// What the three routers (Gateway API, Istio, KServe) share: each reads and writes one namespaced custom
// object that a rollout names in spec.traffic, with read-modify-write guarded by resourceVersion (the object
// belongs to someone else: a platform team, a GitOps tool), and reports who changed the weight when it is not
// the one voicectl wrote. A router adds only what its object means: where the weights are and how to set them.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import {
  ConflictError,
  type RouteObservation,
  type SetWeightOptions,
  type TrafficRouter,
} from "../../operator/ports.js";
import { isConflict, KubernetesApiError } from "./api-errors.js";
import {
  lastWriterOf,
  OPERATOR_FIELD_MANAGER,
  type FieldPath,
  type ManagedFieldsEntry,
} from "./field-managers.js";

export type RouterKind = "gatewayAPI" | "istio" | "kserve";

const ROUTER_NAMES: Readonly<Record<RouterKind, string>> = {
  gatewayAPI: "Gateway API",
  istio: "Istio",
  kserve: "KServe",
};

type Traffic = VoiceRollout["spec"]["traffic"];

/** The rollout's spec.traffic entry for this router. */
export function trafficTarget<K extends RouterKind>(rollout: VoiceRollout, kind: K): NonNullable<Traffic[K]> {
  const target = rollout.spec.traffic[kind];
  // The schema requires exactly one router; reaching here without this one is a wiring bug, not user input.
  if (!target)
    throw new Error(`rollout ${rollout.metadata.name} does not route through ${ROUTER_NAMES[kind]}`);
  return target as NonNullable<Traffic[K]>;
}

/** A namespaced custom object, and how to name it in errors (`httproute voice/tts`). */
export interface CustomObjectRef {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespace: string;
  readonly name: string;
  /** Lowercase kind for messages, e.g. "httproute". */
  readonly kind: string;
}

export const describeRef = (ref: CustomObjectRef) => `${ref.kind} ${ref.namespace}/${ref.name}`;

/** Reads a custom object, wrapping a failure with what was read. */
export async function readCustomObject<T>(api: CustomObjectsApi, ref: CustomObjectRef): Promise<T> {
  try {
    return (await api.getNamespacedCustomObject({
      group: ref.group,
      version: ref.version,
      namespace: ref.namespace,
      plural: ref.plural,
      name: ref.name,
    })) as T;
  } catch (err) {
    throw new KubernetesApiError(`reading ${describeRef(ref)}`, err);
  }
}

/**
 * Read-modify-write guarded by resourceVersion: `change` edits the object in place and says whether it
 * changed anything; nothing is written when it did not. A 409 (someone wrote between our read and our write)
 * re-reads and tries again, up to `attempts` times. Returns the object as last read or written.
 */
export async function modifyCustomObject<T extends { metadata?: { resourceVersion?: string } }>(
  api: CustomObjectsApi,
  ref: CustomObjectRef,
  attempts: number,
  what: string,
  change: (obj: T) => boolean,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const obj = await readCustomObject<T>(api, ref);
    if (!change(obj)) return obj;
    try {
      return (await api.replaceNamespacedCustomObject({
        group: ref.group,
        version: ref.version,
        namespace: ref.namespace,
        plural: ref.plural,
        name: ref.name,
        body: obj, // carries the resourceVersion we read: a concurrent edit makes this a 409
        fieldManager: OPERATOR_FIELD_MANAGER,
      })) as T;
    } catch (err) {
      if (!isConflict(err)) throw new KubernetesApiError(`${what} of ${describeRef(ref)}`, err);
      if (attempt >= attempts) {
        throw new ConflictError(`${describeRef(ref)} kept changing: gave up after ${attempt} attempts`);
      }
    }
  }
}

/**
 * The observation's `changedBy`: who last wrote the weight fields, asked only when the weight is not the one
 * voicectl wrote (otherwise nobody changed it). Shared by the three routers.
 */
export function changedByOf(
  obj: { metadata?: { managedFields?: readonly ManagedFieldsEntry[] | undefined } },
  weight: number | null,
  written: number | null,
  paths: () => readonly FieldPath[],
): { changedBy?: string } {
  if (weight === null || written === null || weight === written) return {};
  const by = lastWriterOf(obj, paths());
  return by === undefined ? {} : { changedBy: by };
}

export interface RouterOptions {
  /** Attempts of read-modify-write when the routing object changes under us. */
  readonly attempts?: number;
}

/** The API coordinates of a kind of routing object, and its lowercase name for messages. */
export interface CustomObjectType {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
}

export function checkWeight(weight: number): void {
  if (!Number.isInteger(weight) || weight < 0 || weight > 100) {
    throw new RangeError(`canary weight must be an integer from 0 to 100, got ${weight}`);
  }
}

/** A TrafficRouter over one custom object per rollout; subclasses say which object and what its weights are. */
export abstract class CustomObjectRouter<
  T extends { metadata?: { resourceVersion?: string } },
> implements TrafficRouter {
  private readonly api: CustomObjectsApi;
  private readonly attempts: number;

  constructor(
    kc: KubeConfig,
    private readonly type: CustomObjectType,
    options: RouterOptions = {},
  ) {
    this.api = kc.makeApiClient(CustomObjectsApi);
    this.attempts = options.attempts ?? 5;
  }

  /** The name of the object the rollout routes through (in the rollout's namespace). */
  protected abstract objectName(rollout: VoiceRollout): string;
  abstract observe(rollout: VoiceRollout): Promise<RouteObservation>;
  abstract setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void>;

  async canaryWeight(rollout: VoiceRollout): Promise<number | null> {
    return (await this.observe(rollout)).weight;
  }

  protected ref(rollout: VoiceRollout): CustomObjectRef {
    return { ...this.type, namespace: rollout.metadata.namespace, name: this.objectName(rollout) };
  }

  protected read(rollout: VoiceRollout): Promise<T> {
    return readCustomObject<T>(this.api, this.ref(rollout));
  }

  /** Read-modify-write of the rollout's object (modifyCustomObject); `what` names the change in errors. */
  protected modify(rollout: VoiceRollout, what: string, change: (obj: T, ref: CustomObjectRef) => boolean) {
    const ref = this.ref(rollout);
    return modifyCustomObject<T>(this.api, ref, this.attempts, what, (obj) => change(obj, ref));
  }
}
