// TrafficRouter over a KServe InferenceService (serving.kserve.io/v1beta1): spec.predictor.canaryTrafficPercent.
//
// KServe's meaning, not Gateway API's: stable and canary are revisions of one InferenceService, not two
// Services. canaryTrafficPercent is the share of the latest *ready* revision; the rest goes to the last
// revision rolled out at 100%. Unset means no split: the latest ready revision takes everything once ready
// (so canaryWeight reports null, "not split", and voicectl always writes an explicit number). KServe splits
// only in Knative (Serverless) mode, and only once some revision was rolled out; in Standard
// (RawDeployment) mode v0.16 ignores the field without a word (kserve #4074), and a canary revision that
// never becomes ready leaves "the latest ready revision" pointing at the old one.
//
// So what was written is not proof of what is served (docs/operator.md#hand-edits-and-what-is-served). When
// the InferenceService has status.components.predictor.traffic, the canary revision's share there (the latest
// created revision's) is compared with what spec says, and a difference is a TrafficMismatchError naming
// both, so the reconciler never judges or promotes a canary on traffic it is not getting. KServe's status is
// not tied to the InferenceService's generation (its observedGeneration is the Knative Service's), so a
// status that has not caught up with a write yet reads as a mismatch too, until KServe reconciles:
// conservative on purpose.
//
// KServe cannot match requests on a header, so this router has no pins.
import type { KubeConfig } from "@kubernetes/client-node";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import { TrafficMismatchError, type RouteObservation, type SetWeightOptions } from "../../operator/ports.js";
import {
  changedByOf,
  checkWeight,
  CustomObjectRouter,
  describeRef,
  trafficTarget,
  type RouterOptions,
} from "./custom-object-router.js";
import type { ManagedFieldsEntry } from "./field-managers.js";
import { markWritten, refuseToUndoHandEdit, writtenWeightOf } from "./written-weight.js";

export const KSERVE_GROUP = "serving.kserve.io";
export const KSERVE_VERSION = "v1beta1";
export const INFERENCESERVICE_PLURAL = "inferenceservices";
export const DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode";

/** Modes in which KServe does not split by canaryTrafficPercent (RawDeployment is Standard's old name). */
const NON_SPLITTING_MODES = new Set(["Standard", "RawDeployment", "ModelMesh"]);

interface TrafficTarget {
  revisionName?: string;
  latestRevision?: boolean;
  percent?: number;
  tag?: string;
}

interface PredictorStatus {
  latestCreatedRevision?: string;
  latestReadyRevision?: string;
  latestRolledoutRevision?: string;
  previousRolledoutRevision?: string;
  traffic?: TrafficTarget[];
}

export interface InferenceService {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    managedFields?: ManagedFieldsEntry[];
  };
  spec?: { predictor?: { canaryTrafficPercent?: number; [field: string]: unknown } };
  status?: {
    deploymentMode?: string;
    components?: { predictor?: PredictorStatus };
    [field: string]: unknown;
  };
}

/** The deployment mode: the annotation asks for one; status says which the controller chose. */
export function deploymentMode(isvc: InferenceService): string | undefined {
  return isvc.status?.deploymentMode ?? isvc.metadata.annotations?.[DEPLOYMENT_MODE_ANNOTATION];
}

/** Why KServe will not split this InferenceService by canaryTrafficPercent, or undefined when it may. */
export function whyNotSplitting(isvc: InferenceService): string | undefined {
  const mode = deploymentMode(isvc);
  if (mode !== undefined && NON_SPLITTING_MODES.has(mode)) {
    return `it runs in deploymentMode ${mode}, where KServe ignores spec.predictor.canaryTrafficPercent (only Knative/Serverless mode splits by it); route through gatewayAPI instead`;
  }
  return undefined;
}

/** The canary revision's share in status, or undefined when status has no traffic yet. */
export function servedShare(isvc: InferenceService): number | undefined {
  const p = isvc.status?.components?.predictor;
  const traffic = p?.traffic;
  if (!traffic || traffic.length === 0) return undefined;
  // The canary is the newest revision KServe created from the spec; `latestRevision: true` means the latest
  // *ready* one, which is still the old revision while the canary is not ready.
  const canary = p.latestCreatedRevision ?? p.latestReadyRevision;
  return traffic
    .filter((t) => (canary !== undefined ? t.revisionName === canary : t.latestRevision === true))
    .reduce((sum, t) => sum + (t.percent ?? 0), 0);
}

/** Throws TrafficMismatchError when status says the canary revision gets other than `written` percent. */
export function checkServed(isvc: InferenceService, written: number): void {
  const served = servedShare(isvc);
  if (served === undefined || served === written) return;
  const where = `inferenceservice ${isvc.metadata.namespace}/${isvc.metadata.name}`;
  const p = isvc.status?.components?.predictor ?? {};
  const canary = p.latestCreatedRevision ?? p.latestReadyRevision ?? "(unknown)";
  let why: string;
  if (p.latestCreatedRevision && p.latestReadyRevision && p.latestCreatedRevision !== p.latestReadyRevision) {
    why = `the canary revision is not ready (latest ready is ${p.latestReadyRevision}), so its share goes to a ready one`;
  } else if (!p.latestRolledoutRevision) {
    why = "no revision was rolled out at 100% yet, and KServe splits only against one";
  } else {
    why = "KServe has not applied canaryTrafficPercent (not yet, or it ignores it)";
  }
  throw new TrafficMismatchError(
    `${where}: spec.predictor.canaryTrafficPercent is ${written} but status.components.predictor.traffic gives canary revision ${canary} ${served}%: ${why}`,
    written,
    served,
  );
}

export class KServeRouter extends CustomObjectRouter<InferenceService> {
  constructor(kc: KubeConfig, options: RouterOptions = {}) {
    super(
      kc,
      {
        group: KSERVE_GROUP,
        version: KSERVE_VERSION,
        plural: INFERENCESERVICE_PLURAL,
        kind: "inferenceservice",
      },
      options,
    );
  }

  protected objectName(rollout: VoiceRollout): string {
    return trafficTarget(rollout, "kserve").inferenceService;
  }

  /**
   * The weight is spec.predictor.canaryTrafficPercent, checked against status; null when KServe does not
   * split (unset, or a mode that ignores it).
   */
  async observe(rollout: VoiceRollout): Promise<RouteObservation> {
    const isvc = await this.read(rollout);
    const percent = isvc.spec?.predictor?.canaryTrafficPercent;
    const written = writtenWeightOf(isvc, rollout);
    if (percent === undefined || whyNotSplitting(isvc) !== undefined) return { weight: null, written };
    checkServed(isvc, percent);
    return {
      weight: percent,
      written,
      ...changedByOf(isvc, percent, written, () => [["spec", "predictor", "canaryTrafficPercent"]]),
    };
  }

  /**
   * Writes canaryTrafficPercent when it differs. When it is already so, status has had its chance to follow:
   * a status that disagrees is reported (TrafficMismatchError) instead of passing as done.
   */
  async setCanaryWeight(rollout: VoiceRollout, weight: number, options?: SetWeightOptions): Promise<void> {
    checkWeight(weight);
    let wrote = false;
    const isvc = await this.modify(rollout, "setting canaryTrafficPercent", (obj, ref) => {
      const predictor = obj.spec?.predictor;
      if (!predictor) throw new Error(`${describeRef(ref)} has no spec.predictor`);
      const why = whyNotSplitting(obj);
      if (why !== undefined) throw new Error(`${describeRef(ref)} cannot split traffic: ${why}`);
      const routed = predictor.canaryTrafficPercent ?? null;
      refuseToUndoHandEdit(obj, rollout, routed, weight, describeRef(ref), options);
      wrote = predictor.canaryTrafficPercent !== weight;
      if (wrote) predictor.canaryTrafficPercent = weight;
      // Both, never short-circuited: the percent and the record of writing it go in one update.
      return markWritten(obj, rollout, weight) || wrote;
    });
    if (!wrote) checkServed(isvc, weight);
  }
}
