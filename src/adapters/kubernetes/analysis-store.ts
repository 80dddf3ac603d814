// AnalysisStateStore in a ConfigMap `<rollout>-analysis` next to the rollout, so a restarted operator resumes
// the online analysis where it stopped (the anytime-valid tests must keep their accumulated evidence, and
// their alpha shares, across restarts). The ConfigMap is owned by the rollout: deleting the rollout lets the
// garbage collector delete the state too.
//
// The state grows with the number of (metric, slice) tests, so it is stored as gzip'd JSON in binaryData; a
// ConfigMap holds at most 1 MiB of data, and a state that would not fit is refused with the sizes named
// rather than sent to fail at the API server with a less telling message.
import { promisify } from "node:util";
import { gunzip, gzip } from "node:zlib";
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import { API_VERSION, ROLLOUT_KIND, versionOf, type VoiceRollout } from "../../core/resource/voicerollout.js";
import type { OnlineState } from "../../core/analysis/online.js";
import type { AnalysisStateStore, StoredAnalysis } from "../../operator/ports.js";
import { isConflict, isNotFound, KubernetesApiError } from "./api-errors.js";
import { OPERATOR_FIELD_MANAGER } from "./field-managers.js";

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export const ROLLOUT_LABEL = "voicectl.dev/rollout";
export const STATE_KEY = "state.json.gz";
const VERSIONS_ANNOTATION = "voicectl.dev/versions";
/** The API server's limit on a ConfigMap's data plus binaryData. */
export const CONFIGMAP_LIMIT_BYTES = 1024 * 1024;
const FORMAT = 1;

export const analysisConfigMapName = (rollout: VoiceRollout) => `${rollout.metadata.name}-analysis`;

/** Which pair of versions a state was gathered for: evidence about another canary is no evidence. */
const versionsOf = (r: VoiceRollout) => `${versionOf(r.spec.stable)} -> ${versionOf(r.spec.canary)}`;

interface StoredDocument {
  readonly format: number;
  readonly lastLookAt: number;
  readonly state: OnlineState;
  readonly unavailable?: Readonly<Record<string, string>> | undefined;
}

export class AnalysisStateTooLargeError extends Error {
  override readonly name = "AnalysisStateTooLargeError";
}

/** The gzip'd bytes a state is stored as, exported so tests can report sizes. */
export async function encodeAnalysis(stored: StoredAnalysis): Promise<Buffer> {
  const doc: StoredDocument = {
    format: FORMAT,
    lastLookAt: stored.lastLookAt,
    state: stored.state,
    ...(stored.unavailable !== undefined ? { unavailable: stored.unavailable } : {}),
  };
  return gzipAsync(Buffer.from(JSON.stringify(doc), "utf8"));
}

export async function decodeAnalysis(bytes: Buffer): Promise<StoredAnalysis | null> {
  const doc = JSON.parse((await gunzipAsync(bytes)).toString("utf8")) as Partial<StoredDocument>;
  if (doc.format !== FORMAT || typeof doc.lastLookAt !== "number" || !doc.state) return null;
  return {
    state: doc.state,
    lastLookAt: doc.lastLookAt,
    ...(doc.unavailable !== undefined ? { unavailable: doc.unavailable } : {}),
  };
}

export class ConfigMapAnalysisStore implements AnalysisStateStore {
  private readonly api: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CoreV1Api);
  }

  location(rollout: VoiceRollout): string {
    return analysisConfigMapName(rollout);
  }

  async load(rollout: VoiceRollout): Promise<StoredAnalysis | null> {
    const name = analysisConfigMapName(rollout);
    const namespace = rollout.metadata.namespace;
    let cm: V1ConfigMap;
    try {
      cm = await this.api.readNamespacedConfigMap({ name, namespace });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new KubernetesApiError(`reading configmap ${namespace}/${name}`, err);
    }
    // A ConfigMap left by a deleted rollout of the same name (not yet collected), or gathered for other
    // versions, does not describe this analysis: start again rather than resume from someone else's evidence.
    const owner = cm.metadata?.ownerReferences?.find((o) => o.kind === ROLLOUT_KIND);
    if (rollout.metadata.uid !== undefined && owner?.uid !== rollout.metadata.uid) return null;
    if (cm.metadata?.annotations?.[VERSIONS_ANNOTATION] !== versionsOf(rollout)) return null;
    const data = cm.binaryData?.[STATE_KEY];
    if (data === undefined) return null;
    try {
      return await decodeAnalysis(Buffer.from(data, "base64"));
    } catch {
      // Corrupt state (hand-edited, truncated) is not worth crashing over: the analysis restarts from zero.
      return null;
    }
  }

  async save(rollout: VoiceRollout, stored: StoredAnalysis): Promise<void> {
    const name = analysisConfigMapName(rollout);
    const namespace = rollout.metadata.namespace;
    const bytes = await encodeAnalysis(stored);
    if (bytes.length > CONFIGMAP_LIMIT_BYTES) {
      throw new AnalysisStateTooLargeError(
        `analysis state of voicerollout ${namespace}/${rollout.metadata.name} is ${bytes.length} bytes gzip'd, ` +
          `over the ${CONFIGMAP_LIMIT_BYTES}-byte ConfigMap limit (${Object.keys(stored.state.tests).length} tests): ` +
          "judge fewer slices",
      );
    }
    const body: V1ConfigMap = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: {
        name,
        namespace,
        // A label value is at most 63 characters; a longer rollout name is still found by the owner reference.
        labels: rollout.metadata.name.length <= 63 ? { [ROLLOUT_LABEL]: rollout.metadata.name } : {},
        annotations: { [VERSIONS_ANNOTATION]: versionsOf(rollout) },
        ...(rollout.metadata.uid !== undefined
          ? {
              ownerReferences: [
                {
                  apiVersion: API_VERSION,
                  kind: ROLLOUT_KIND,
                  name: rollout.metadata.name,
                  uid: rollout.metadata.uid,
                  controller: true,
                  // blockOwnerDeletion would need update on voicerollouts/finalizers; GC works without it.
                },
              ],
            }
          : {}),
      },
      binaryData: { [STATE_KEY]: bytes.toString("base64") },
    };
    // Only the leader writes this ConfigMap, so an unconditional replace is safe; create when it is new.
    try {
      await this.api.replaceNamespacedConfigMap({
        name,
        namespace,
        body,
        fieldManager: OPERATOR_FIELD_MANAGER,
      });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw new KubernetesApiError(`writing configmap ${namespace}/${name}`, err);
    }
    try {
      await this.api.createNamespacedConfigMap({ namespace, body, fieldManager: OPERATOR_FIELD_MANAGER });
    } catch (err) {
      if (!isConflict(err)) throw new KubernetesApiError(`creating configmap ${namespace}/${name}`, err);
      await this.api.replaceNamespacedConfigMap({
        name,
        namespace,
        body,
        fieldManager: OPERATOR_FIELD_MANAGER,
      });
    }
  }

  async remove(rollout: VoiceRollout): Promise<void> {
    const name = analysisConfigMapName(rollout);
    const namespace = rollout.metadata.namespace;
    try {
      await this.api.deleteNamespacedConfigMap({ name, namespace });
    } catch (err) {
      if (isNotFound(err)) return;
      throw new KubernetesApiError(`deleting configmap ${namespace}/${name}`, err);
    }
  }
}
