// RolloutStore over the API server: VoiceRollouts and VoiceRolloutCommands through CustomObjectsApi. Status is
// written only through the status subresource, carrying the resourceVersion the reconciler read, so a write
// based on a stale read is refused with 409 and surfaces as ConflictError (re-read, try again) instead of
// silently overwriting what another writer just recorded.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import {
  COMMAND_PLURAL,
  GROUP,
  ROLLOUT_PLURAL,
  VERSION,
  voiceRolloutSpecSchema,
  type VoiceRollout,
  type VoiceRolloutCommand,
  type VoiceRolloutStatus,
} from "../../core/resource/voicerollout.js";
import { ConflictError, type RolloutRef, type RolloutStore } from "../../operator/ports.js";
import { isConflict, isNotFound, KubernetesApiError } from "./api-errors.js";
import { OPERATOR_FIELD_MANAGER } from "./field-managers.js";

/**
 * A VoiceRollout as the reconciler sees it: the stored object, with the spec's defaults applied when it is
 * valid (the CRD's schema comes from the same zod schema, so that is the normal case). An invalid spec is
 * left as stored for the reconciler to report.
 */
export function toRollout(raw: unknown): VoiceRollout {
  const obj = raw as VoiceRollout;
  const parsed = voiceRolloutSpecSchema.safeParse(obj.spec);
  return parsed.success ? { ...obj, spec: parsed.data } : obj;
}

export class KubernetesRolloutStore implements RolloutStore {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async get(ref: RolloutRef): Promise<VoiceRollout | null> {
    try {
      const raw: unknown = await this.api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ref.namespace,
        plural: ROLLOUT_PLURAL,
        name: ref.name,
      });
      return toRollout(raw);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new KubernetesApiError(`reading voicerollout ${ref.namespace}/${ref.name}`, err);
    }
  }

  async updateStatus(rollout: VoiceRollout, status: VoiceRolloutStatus): Promise<VoiceRollout> {
    const { name, namespace, resourceVersion } = rollout.metadata;
    try {
      const raw: unknown = await this.api.replaceNamespacedCustomObjectStatus({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: ROLLOUT_PLURAL,
        name,
        fieldManager: OPERATOR_FIELD_MANAGER,
        // The status subresource ignores spec and most of metadata; resourceVersion is what makes it a
        // compare-and-swap rather than last-writer-wins.
        body: {
          apiVersion: rollout.apiVersion,
          kind: rollout.kind,
          metadata: { name, namespace, ...(resourceVersion !== undefined ? { resourceVersion } : {}) },
          spec: rollout.spec,
          status,
        },
      });
      return toRollout(raw);
    } catch (err) {
      if (isConflict(err)) {
        throw new ConflictError(
          `voicerollout ${namespace}/${name} changed since resourceVersion ${resourceVersion ?? "(none)"}`,
        );
      }
      throw new KubernetesApiError(`writing the status of voicerollout ${namespace}/${name}`, err);
    }
  }

  async pendingCommands(ref: RolloutRef): Promise<VoiceRolloutCommand[]> {
    let list: { items?: unknown[] };
    try {
      list = (await this.api.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ref.namespace,
        plural: COMMAND_PLURAL,
      })) as { items?: unknown[] };
    } catch (err) {
      throw new KubernetesApiError(`listing voicerolloutcommands in ${ref.namespace}`, err);
    }
    return ((list.items ?? []) as VoiceRolloutCommand[])
      .filter((c) => c.spec?.rollout === ref.name && !c.status?.appliedAt)
      .sort(byAge);
  }

  async markApplied(command: VoiceRolloutCommand, result: string, at: number): Promise<void> {
    const { name, namespace, resourceVersion } = command.metadata;
    try {
      await this.api.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace,
          plural: COMMAND_PLURAL,
          name,
          fieldManager: OPERATOR_FIELD_MANAGER,
          // resourceVersion in a merge patch is a precondition: two writers cannot both mark it applied.
          body: {
            metadata: resourceVersion !== undefined ? { resourceVersion } : {},
            status: { appliedAt: new Date(at).toISOString(), result },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (isConflict(err)) {
        throw new ConflictError(`voicerolloutcommand ${namespace}/${name} changed since it was read`);
      }
      throw new KubernetesApiError(`marking voicerolloutcommand ${namespace}/${name} applied`, err);
    }
  }
}

/** Oldest first; creationTimestamp has one-second resolution, so the name breaks ties deterministically. */
function byAge(a: VoiceRolloutCommand, b: VoiceRolloutCommand): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? "") || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? "") || 0;
  if (ta !== tb) return ta - tb;
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}
