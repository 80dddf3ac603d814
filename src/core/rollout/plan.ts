// A rollout plan: the steps a canary walks through. One zod schema serves simulation scenarios and, later,
// the VoiceRollout custom resource.
import { z } from "zod";

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** `90s`, `10m`, `1.5h` in milliseconds; null when the text is not a duration. */
export function parseDuration(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Longer than any step should wait; also keeps huge digit strings from becoming Infinity. */
export const MAX_DURATION_MS = 30 * 24 * 3_600_000;

export const durationSchema = z
  .string()
  .regex(DURATION, "expected a duration such as 30s, 10m or 1h")
  .refine((d) => {
    const ms = parseDuration(d);
    return ms === null || (Number.isFinite(ms) && ms <= MAX_DURATION_MS);
  }, "expected a duration of at most 30 days (720h)");

export const stepSchema = z.union([
  z.strictObject({
    setWeight: z.number().int().min(0).max(100).describe("Percent of traffic to send to the canary."),
  }),
  z.strictObject({
    pause: z
      .strictObject({
        duration: durationSchema.optional().describe("Wait this long; without it, wait until approved."),
        deadline: durationSchema
          .optional()
          .describe(
            "For a pause until approved: how long it may wait for a person, instead of spec.approval.deadline.",
          ),
      })
      .refine((p) => p.deadline === undefined || p.duration === undefined, {
        message: "expected deadline only on a pause until approved (one without duration)",
        path: ["deadline"],
      })
      .describe("Wait for a duration, or until someone approves."),
  }),
  z.strictObject({
    analysis: z
      .strictObject({
        minDuration: durationSchema.describe(
          "Analyse at least this long before moving on, even if all passes.",
        ),
        maxDuration: durationSchema.describe(
          "Stop waiting for evidence after this long: unsettled findings pause.",
        ),
      })
      .refine((a) => parseDuration(a.minDuration)! <= parseDuration(a.maxDuration)!, {
        message: "expected minDuration <= maxDuration",
      }),
  }),
]);

export type Step = z.infer<typeof stepSchema>;
export const stepsSchema = z.array(stepSchema).min(1, "expected at least one step");

export function describeStep(step: Step): string {
  if ("setWeight" in step) return `setWeight ${step.setWeight}%`;
  if ("pause" in step) return step.pause.duration ? `pause ${step.pause.duration}` : "pause until approved";
  return `analysis ${step.analysis.minDuration}..${step.analysis.maxDuration}`;
}
