// The VoiceRollout and VoiceRolloutCommand custom resources (group voicectl.dev, version v1alpha1), as zod
// schemas. The CRD manifests in charts/voicectl/crds/ are generated from these (scripts/gen-crds.ts), so the
// API server refuses what the operator could not run, with the same field paths.
//
// Commands (approve, abort, promote, retry) are objects of their own rather than edits of the rollout: who
// may create one for which action is Kubernetes RBAC's decision (custom verbs on voicerollouts, checked by a
// ValidatingAdmissionPolicy that also pins spec.user to the authenticated user), and the operator applies
// each one exactly once, recording it in the rollout's status history.
import { z } from "zod";
import { API_VERSION } from "../policy/schema.js";
import { durationSchema, stepsSchema } from "../rollout/plan.js";

export const GROUP = "voicectl.dev";
export const VERSION = "v1alpha1";
export { API_VERSION };
export const ROLLOUT_KIND = "VoiceRollout";
export const ROLLOUT_PLURAL = "voicerollouts";
export const COMMAND_KIND = "VoiceRolloutCommand";
export const COMMAND_PLURAL = "voicerolloutcommands";
export const POLICY_PLURAL = "rolloutpolicies";

const dnsName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "expected a lowercase DNS name such as tts-canary");

const versionSpecSchema = z.strictObject({
  deployment: dnsName.describe("The Deployment that runs this version."),
  version: z
    .string()
    .min(1)
    .optional()
    .describe("The `version` label its metrics carry (docs/metrics.md); defaults to the Deployment's name."),
  service: dnsName
    .optional()
    .describe(
      "The Service the route's backendRef names for this version; defaults to the Deployment's name.",
    ),
});

export const gatewayApiTrafficSchema = z.strictObject({
  httpRoute: dnsName.describe(
    "The HTTPRoute, in the rollout's namespace, whose backend weights voicectl sets.",
  ),
});

export const istioTrafficSchema = z.strictObject({
  virtualService: dnsName.describe(
    "The Istio VirtualService, in the rollout's namespace, whose http route destination weights voicectl sets.",
  ),
  routes: z
    .array(z.string().min(1))
    .optional()
    .describe(
      "Only these named http routes of the VirtualService; every route naming both hosts when omitted.",
    ),
});

export const kserveTrafficSchema = z.strictObject({
  inferenceService: dnsName.describe(
    "The KServe InferenceService, in the rollout's namespace, whose spec.predictor.canaryTrafficPercent voicectl sets.",
  ),
});

/** A header match that sends one slice (a voice, a tenant, a language) to stable while the rollout goes on. */
export const pinningSchema = z.strictObject({
  label: z
    .string()
    .min(1)
    .describe("The slice label whose regressing values are pinned to stable, e.g. voice_id."),
  header: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, "expected an HTTP header name such as x-voice-id")
    .describe("The request header carrying that label's value, e.g. x-voice-id."),
  maxPins: z
    .number()
    .int()
    .min(1)
    .default(1)
    .describe("At most this many values pinned; one more regressing value rolls the whole rollout back."),
});

export const trafficSchema = z
  .strictObject({
    gatewayAPI: gatewayApiTrafficSchema
      .optional()
      .describe("Route through Gateway API HTTPRoute backend weights."),
    istio: istioTrafficSchema
      .optional()
      .describe("Route through an Istio VirtualService's destination weights."),
    kserve: kserveTrafficSchema
      .optional()
      .describe("Route through a KServe InferenceService's canaryTrafficPercent."),
    pinning: pinningSchema
      .optional()
      .describe("Pin a regressing slice to stable by a header match instead of rolling everyone back."),
  })
  .refine((t) => [t.gatewayAPI, t.istio, t.kserve].filter((x) => x !== undefined).length === 1, {
    message: "expected exactly one traffic router: gatewayAPI, istio or kserve",
  })
  .refine((t) => !(t.pinning && t.kserve), {
    message: "pinning needs gatewayAPI or istio: KServe cannot send requests with a header to stable alone",
    path: ["pinning"],
  });

export const tolerationSchema = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(["Exists", "Equal"]).optional(),
  value: z.string().optional(),
  effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
  tolerationSeconds: z.number().int().optional(),
});

export const nodePoolSchema = z.strictObject({
  name: z.string().min(1).describe("The pool's name: nodes carry the label voicectl.dev/pool=NAME."),
  selector: z
    .record(z.string(), z.string())
    .optional()
    .describe("Node labels that make up the pool; defaults to voicectl.dev/pool=NAME."),
  tolerations: z
    .array(tolerationSchema)
    .optional()
    .describe("Taints of the pool's nodes that the versions' pods tolerate."),
  gpusPerReplica: z.number().int().min(0).default(1).describe("nvidia.com/gpu each replica requests."),
  pricePerGPUHour: z.number().min(0).optional().describe("What one GPU hour costs, for the cost metric."),
  maxSurgeGPUs: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      "Extra GPUs the rollout may hold at once beyond what stable held before it; defaults to the canary's full size.",
    ),
});

/** Where a sink's URL is kept: a key of a Secret in the rollout's namespace, never the URL itself. */
export const secretKeyRefSchema = z.strictObject({
  name: dnsName.describe("A Secret in the rollout's namespace."),
  key: z.string().min(1).describe("The key whose value is the URL."),
});

export const notificationSinkSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a short lowercase name such as oncall")
    .max(63)
    .describe("Names the sink in status (which sinks an event still waits for) and in logs."),
  type: z
    .enum(["webhook", "slack", "alertmanager"])
    .describe(
      "webhook: the versioned JSON payload (docs/notifications.md); slack: an incoming webhook; alertmanager: its base URL, alerts go to /api/v2/alerts.",
    ),
  urlFrom: z
    .strictObject({ secretKeyRef: secretKeyRefSchema })
    .describe(
      "The URL, from a Secret: it may carry a token, so it is never in the spec, status, Events or logs.",
    ),
});

export const notificationsSpecSchema = z.strictObject({
  sinks: z
    .array(notificationSinkSchema)
    .min(1)
    .max(5)
    .refine((s) => new Set(s.map((x) => x.name)).size === s.length, { message: "expected unique sink names" })
    .describe("Where every notification of this rollout goes; each gets each notification once."),
  stuckAfter: durationSchema
    .default("5m")
    .describe(
      "Notify when the canary is not ready, or the metric source is down, for longer than this (outside analysis nothing else would tell).",
    ),
});

export const voiceRolloutSpecSchema = z.strictObject({
  stable: versionSpecSchema.describe("The version serving today."),
  canary: versionSpecSchema
    .extend({
      replicas: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(
          "Replicas to scale the canary to before it takes traffic; defaults to the Deployment's own, or the stable's when it has none.",
        ),
    })
    .describe("The new version."),
  policyRef: z
    .strictObject({ name: dnsName.describe("A RolloutPolicy in the rollout's namespace.") })
    .describe("The policy that judges the canary."),
  traffic: trafficSchema.describe("How traffic is split between stable and canary."),
  nodePool: nodePoolSchema.optional().describe("The GPU node pool the canary runs on."),
  analysis: z
    .strictObject({
      interval: durationSchema.default("1m").describe("How often a look is taken while analysing."),
    })
    .default({ interval: "1m" })
    .describe("Online analysis settings."),
  rollback: z
    .strictObject({
      scaleDownDelay: durationSchema
        .default("30s")
        .describe("After a rollback, wait this long before scaling the canary to zero."),
    })
    .default({ scaleDownDelay: "30s" }),
  approval: z
    .strictObject({
      deadline: durationSchema
        .default("4h")
        .describe(
          "How long a pause for a person (a pause until approved, or a non-critical finding) may wait; a pause step's own deadline wins.",
        ),
      onDeadline: z
        .enum(["Abort", "Escalate"])
        .default("Abort")
        .describe(
          "Past the deadline: Abort rolls back (the stable version keeps all traffic), Escalate stays paused and raises the ApprovalOverdue condition and Event.",
        ),
    })
    .default({ deadline: "4h", onDeadline: "Abort" })
    .describe("What happens to a pause nobody answers (docs/operator.md#approval-deadlines)."),
  steps: stepsSchema.describe("The plan: setWeight, pause and analysis steps, in order."),
  notifications: notificationsSpecSchema
    .optional()
    .describe("Tell people when the rollout pauses, waits for approval, finishes or is stuck."),
});

export type VoiceRolloutSpec = z.infer<typeof voiceRolloutSpecSchema>;

export const commandActionSchema = z.enum(["approve", "abort", "promote", "retry"]);
export type CommandAction = z.infer<typeof commandActionSchema>;

export const voiceRolloutCommandSpecSchema = z
  .strictObject({
    rollout: dnsName.describe("The VoiceRollout, in the same namespace, this command is for."),
    action: commandActionSchema.describe(
      "approve a paused step, abort (roll back), promote a step, or retry.",
    ),
    reason: z.string().min(1).max(1024).describe("Why: recorded in the rollout's history and Events."),
    user: z
      .string()
      .min(1)
      .describe("Who asked; must be the authenticated user creating it (an admission policy checks)."),
    full: z
      .boolean()
      .default(false)
      .describe("For promote: skip every remaining step, not just the current one."),
    accept: z
      .array(
        z.strictObject({
          metric: z.string().min(1).max(253).describe("The policy's metric name, e.g. ttfa_p95."),
          slice: z
            .record(z.string(), z.string())
            .optional()
            .describe(
              "Only findings in slices carrying these labels; every slice of the metric when omitted.",
            ),
          margin: z
            .string()
            .regex(/^\d+(\.\d+)?%?$/, "expected a margin such as 5% (of the baseline) or 0.02")
            .optional()
            .describe(
              "Accepted until it is this much worse than when approved: N% of the baseline's value, or a bare number in the worsening's units. Without it, for the rest of the rollout.",
            ),
        }),
      )
      .max(20)
      .optional()
      .describe(
        "For approve: failing non-critical findings that stop pausing the rollout for the rest of it (critical ones never do).",
      ),
  })
  .refine((c) => c.accept === undefined || c.action === "approve", {
    message: "accept is only for action approve",
    path: ["accept"],
  });

export type VoiceRolloutCommandSpec = z.infer<typeof voiceRolloutCommandSpecSchema>;

/** A finding as status shows it: enough to act on (which slice, which metric, values, budget), no payloads. */
export const statusFindingSchema = z.strictObject({
  metric: z.string(),
  slice: z.record(z.string(), z.string()),
  verdict: z.enum(["pass", "fail", "inconclusive", "nodata"]),
  critical: z.boolean(),
  baseline: z.number().nullable().optional(),
  canary: z.number().nullable().optional(),
  allowed: z.number().nullable().optional(),
  worsening: z.number().nullable().optional(),
  samples: z.strictObject({ baseline: z.number(), canary: z.number() }).optional(),
  unit: z
    .enum(["relative", "points", "metric"])
    .optional()
    .describe(
      "The units of worsening and allowed: a fraction of the baseline (shown as %), rate points, or the metric's own.",
    ),
  interval: z
    .strictObject({ lower: z.number(), upper: z.number() })
    .nullable()
    .optional()
    .describe("The worsening's interval, in the budget's units."),
  window: z
    .strictObject({
      kind: z.enum(["rollout", "step", "recent"]),
      since: z.string(),
      weight: z.number().optional(),
    })
    .optional()
    .describe(
      "The samples judged: the whole rollout, the current traffic step alone (at its weight), or its last few minutes (recent: reported only when it fails), since this time.",
    ),
  reason: z.string(),
});

/** One notification waiting in the outbox: written with the transition it tells of, removed once delivered. */
export const outboxEntrySchema = z.strictObject({
  id: z.string().describe("The delivery key: <rollout uid>/<seq>. Receivers dedupe on it."),
  seq: z.number().int().min(1),
  event: z
    .string()
    .describe("paused, awaiting-approval, rolled-back, aborted, failed, promoted, stuck, resolved."),
  reason: z.string().describe("The Event reason or condition it comes from."),
  at: z.string().describe("When the transition happened (RFC 3339)."),
  phase: z.string(),
  step: z.number().int().describe("1-based step number."),
  steps: z.number().int(),
  canaryWeight: z.number().int(),
  message: z.string(),
  findings: z.array(statusFindingSchema).optional().describe("The evidence: at most 5 findings."),
  resolves: z.array(z.string()).optional().describe("Open alerts (by event key) this notification closes."),
  sinks: z.array(z.string()).describe("Sinks that have not yet acknowledged it."),
  attempts: z.number().int().min(0),
  nextAttemptAt: z.string().optional(),
  lastError: z
    .string()
    .optional()
    .describe("The last failure, as a status code or error name (no URL, no body)."),
});

export const conditionSchema = z.strictObject({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().optional(),
});

export const historyEntrySchema = z.strictObject({
  action: commandActionSchema,
  user: z.string(),
  at: z.string().describe("RFC 3339."),
  reason: z.string(),
  step: z
    .number()
    .int()
    .describe("The 0-based index of the step the command applied to, as currentStepIndex counts."),
  command: z.string().optional().describe("The VoiceRolloutCommand's name, so it is applied once."),
  accepted: z.array(z.string()).optional().describe("For approve: the findings it accepted, in words."),
  over: z
    .array(z.string())
    .optional()
    .describe("For approve and promote: the findings that had not passed when the step was pushed through."),
});

export const acceptedFindingSchema = z.strictObject({
  metric: z.string(),
  slice: z.record(z.string(), z.string()),
  worseningAtApproval: z.number().nullable(),
  upTo: z.number().nullable().describe("Failing findings up to this worsening are accepted; null: any."),
  unit: z.enum(["relative", "points", "metric"]).nullable(),
  margin: z.string().optional(),
  user: z.string(),
  at: z.string(),
  step: z.number().int().describe("The 0-based index of the step it was approved at."),
});

export const voiceRolloutStatusSchema = z.object({
  observedGeneration: z.number().int().optional(),
  phase: z.enum(["Progressing", "Paused", "Promoted", "RolledBack", "Failed"]).optional(),
  reason: z
    .string()
    .optional()
    .describe(
      "One word for why the rollout is in its phase (kubectl's Reason column): a pause's reason such as AwaitingApproval, AnalysisHeld, RouteChangedByHand or ApprovalOverdue, or how it ended (Promoted, RolledBack, Aborted, ApprovalExpired, Failed). Empty while progressing.",
    ),
  canaryWeight: z.number().int().min(0).max(100).optional(),
  currentStepIndex: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe("The 0-based index of the current step (the API field); people read `step`."),
  step: z
    .string()
    .optional()
    .describe("The current step for people, counted from 1: `2/4`; `4/4` once all are done."),
  stepStartedAt: z.string().optional(),
  message: z.string().optional(),
  pause: z
    .strictObject({
      kind: z.enum(["approval", "analysis", "duration"]),
      reason: z.string(),
      since: z.string(),
      deadline: z.string().optional().describe("When a pause for a person stops waiting (RFC 3339)."),
      escalatedAt: z
        .string()
        .optional()
        .describe("When it passed its deadline and was escalated (spec.approval.onDeadline: Escalate)."),
    })
    .nullable()
    .optional(),
  conditions: z.array(conditionSchema).optional(),
  lastDecision: z
    .strictObject({
      decision: z.enum(["promote", "pause", "rollback"]),
      at: z.string(),
      summary: z.string(),
      findings: z.array(statusFindingSchema).describe("The findings that did not pass (at most 20)."),
    })
    .nullable()
    .optional(),
  history: z.array(historyEntrySchema).optional(),
  acceptedFindings: z
    .array(acceptedFindingSchema)
    .optional()
    .describe("Findings approvers accepted (approve --accept): they do not pause again unless they worsen."),
  analysis: z
    .strictObject({
      looks: z.number().int(),
      lastLookAt: z.string().optional(),
      configMap: z.string().optional().describe("Where the analysis state is kept between looks."),
      restarts: z.number().int().optional().describe("Times the analysis had to start again from zero."),
    })
    .optional(),
  canaryScaledDownAt: z.string().optional(),
  pins: z
    .array(
      z.strictObject({
        label: z.string(),
        value: z.string(),
        header: z.string(),
        at: z.string(),
        reason: z.string(),
      }),
    )
    .optional()
    .describe(
      "Slice values sent to stable by a header match while the rollout goes on (spec.traffic.pinning).",
    ),
  notifications: z
    .strictObject({
      seq: z.number().int().min(0).describe("The last delivery key's sequence number: never reused."),
      outbox: z
        .array(outboxEntrySchema)
        .describe("Notifications written but not yet delivered (at most 20)."),
      delivered: z.number().int().min(0).describe("Notifications delivered to every sink."),
      dropped: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe("Notifications dropped because the outbox was full (oldest first)."),
      open: z
        .array(z.string())
        .optional()
        .describe("Conditions notified and not yet resolved (paused, awaiting-approval, stuck:...)."),
      canaryNotReadySince: z.string().optional(),
      metricsDownSince: z.string().optional(),
    })
    .optional(),
  pool: z
    .strictObject({
      stableReplicasAtStart: z
        .number()
        .int()
        .min(0)
        .describe(
          "The stable's replicas when the rollout started: the canary's full size under a surge budget and what a rollback restores.",
        ),
    })
    .optional(),
});

export type VoiceRolloutStatus = z.infer<typeof voiceRolloutStatusSchema>;

export interface ObjectMeta {
  readonly name: string;
  readonly namespace: string;
  readonly uid?: string | undefined;
  readonly generation?: number | undefined;
  readonly resourceVersion?: string | undefined;
  readonly creationTimestamp?: string | undefined;
}

export interface VoiceRollout {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof ROLLOUT_KIND;
  readonly metadata: ObjectMeta;
  readonly spec: VoiceRolloutSpec;
  readonly status?: VoiceRolloutStatus | undefined;
}

export interface VoiceRolloutCommand {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof COMMAND_KIND;
  readonly metadata: ObjectMeta;
  readonly spec: VoiceRolloutCommandSpec;
  readonly status?: { readonly appliedAt?: string; readonly result?: string } | undefined;
}

/** The version label and Service of one side, with their defaults applied. */
export function versionOf(v: { deployment: string; version?: string | undefined }): string {
  return v.version ?? v.deployment;
}
export function serviceOf(v: { deployment: string; service?: string | undefined }): string {
  return v.service ?? v.deployment;
}
