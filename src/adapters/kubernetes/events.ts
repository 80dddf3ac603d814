// EventRecorder writing events.k8s.io/v1 Events about a VoiceRollout, so `kubectl describe voicerollout` and
// `kubectl events --for voicerollout/NAME` show every transition and approval. The API server refuses an
// Event whose note is over 1 KiB or whose reason/action is over 128 characters; rather than lose the Event,
// long text is cut to fit (the full story is in the rollout's status).
import { hostname } from "node:os";
import { EventsV1Api, V1MicroTime, type EventsV1Event, type KubeConfig } from "@kubernetes/client-node";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import type { EventRecorder } from "../../operator/ports.js";
import { KubernetesApiError } from "./api-errors.js";
import { OPERATOR_FIELD_MANAGER } from "./field-managers.js";

export const REPORTING_CONTROLLER = "voicectl.dev/operator";
/** events.k8s.io/v1 validation limits (k8s.io/kubernetes pkg/apis/core/validation/events.go). */
export const NOTE_LIMIT_BYTES = 1024;
export const SHORT_FIELD_LIMIT = 128;

/** Cut UTF-8 text to at most `maxBytes` bytes, on a character boundary, marking the cut with an ellipsis. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const ellipsis = "…";
  const budget = maxBytes - Buffer.byteLength(ellipsis, "utf8");
  let out = "";
  let used = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, "utf8");
    if (used + n > budget) break;
    out += ch;
    used += n;
  }
  return out + ellipsis;
}

export interface EventRecorderOptions {
  /** Who is reporting: the operator's pod name (POD_NAME from the downward API) or the host name. */
  readonly reportingInstance?: string;
  readonly clock?: () => number;
}

export class KubernetesEventRecorder implements EventRecorder {
  private readonly api: EventsV1Api;
  private readonly instance: string;
  private readonly clock: () => number;
  private seq = 0;

  constructor(kc: KubeConfig, options: EventRecorderOptions = {}) {
    this.api = kc.makeApiClient(EventsV1Api);
    this.instance = truncateUtf8(
      options.reportingInstance ?? process.env["POD_NAME"] ?? hostname(),
      SHORT_FIELD_LIMIT,
    );
    this.clock = options.clock ?? Date.now;
  }

  async record(
    rollout: VoiceRollout,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): Promise<void> {
    const { name, namespace, uid, resourceVersion } = rollout.metadata;
    const now = this.clock();
    // client-go names events <object>.<hex time>; a counter keeps two events in one millisecond apart.
    const suffix = `${now.toString(16)}${(this.seq++ % 4096).toString(16).padStart(3, "0")}`;
    const eventName = `${name.slice(0, 253 - suffix.length - 1)}.${suffix}`;
    const shortReason = truncateUtf8(reason, SHORT_FIELD_LIMIT);
    const body: EventsV1Event = {
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { name: eventName, namespace },
      eventTime: new V1MicroTime(now),
      type,
      reason: shortReason,
      // The action taken is what the reason names (Promoted, RolledBack, Approved...).
      action: shortReason,
      note: truncateUtf8(message, NOTE_LIMIT_BYTES),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.instance,
      regarding: {
        apiVersion: rollout.apiVersion,
        kind: rollout.kind,
        name,
        namespace,
        ...(uid !== undefined ? { uid } : {}),
        ...(resourceVersion !== undefined ? { resourceVersion } : {}),
      },
    };
    try {
      await this.api.createNamespacedEvent({ namespace, body, fieldManager: OPERATOR_FIELD_MANAGER });
    } catch (err) {
      throw new KubernetesApiError(
        `recording event ${shortReason} for voicerollout ${namespace}/${name}`,
        err,
      );
    }
  }
}
