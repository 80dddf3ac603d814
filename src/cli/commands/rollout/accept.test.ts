import { describe, expect, it } from "vitest";
import { UsageError } from "../../../core/errors.js";
import type { VoiceRollout } from "../../../core/resource/voicerollout.js";
import { describeAccept, parseAccept, parseAccepts } from "./accept.js";

describe("approve --accept", () => {
  it.each([
    ["ttfa_p95", undefined, { metric: "ttfa_p95" }],
    ["ttfa_p95,voice_id=mia-chen", undefined, { metric: "ttfa_p95", slice: { voice_id: "mia-chen" } }],
    [
      "ttfa_p95,slice=voice_id=mia-chen",
      "5%",
      { metric: "ttfa_p95", slice: { voice_id: "mia-chen" }, margin: "5%" },
    ],
    [
      "ttfa_p95,language=es,margin=0.02",
      "5%",
      { metric: "ttfa_p95", slice: { language: "es" }, margin: "0.02" },
    ],
  ])("%s (--margin %s)", (text, margin, want) => {
    expect(parseAccept(text, margin)).toEqual(want);
  });

  it.each([
    ["", undefined, /not a metric name/],
    ["ttfa_p95,voice_id", undefined, /expected LABEL=VALUE after the metric, found "voice_id"/],
    ["ttfa_p95", "five", /--margin: expected 5% \(of the baseline's value\) or a number/],
    ["ttfa_p95,margin=-1", undefined, /--accept ttfa_p95,margin=-1: margin: expected/],
  ])("refuses %j with a usage error naming the flag", (text, margin, message) => {
    expect(() => parseAccept(text, margin)).toThrow(UsageError);
    expect(() => parseAccept(text, margin)).toThrow(message);
  });

  it("refuses --margin without --accept", () => {
    expect(() => parseAccepts([], "5%")).toThrow(/--margin needs --accept METRIC/);
  });
});

describe("what approve says it accepts", () => {
  const rollout = (critical: boolean): VoiceRollout =>
    ({
      metadata: { name: "tts", namespace: "ns" },
      status: {
        phase: "Paused",
        lastDecision: {
          decision: "pause",
          at: "2026-12-01T11:54:30Z",
          summary: "",
          findings: [
            {
              metric: "ttfa_p95",
              slice: { language: "es" },
              verdict: "fail",
              critical,
              worsening: 0.279,
              allowed: 0.1,
              unit: "relative",
              reason: "r",
            },
          ],
        },
      },
    }) as unknown as VoiceRollout;

  it("names the finding, its worsening now, and the margin", () => {
    expect(describeAccept({ metric: "ttfa_p95", margin: "5%" }, rollout(false))).toBe(
      "ttfa_p95 in (all) (now +27.9%, fail) until it worsens by more than 5% of its baseline beyond that",
    );
    expect(describeAccept({ metric: "ttfa_p95", slice: { language: "fr" } }, rollout(false))).toBe(
      "ttfa_p95 in language=fr (no finding of it failing now) for the rest of the rollout",
    );
  });

  it("refuses to accept a critical finding: its failure rolls back whatever was approved", () => {
    expect(() => describeAccept({ metric: "ttfa_p95" }, rollout(true))).toThrow(
      /ttfa_p95 is critical in this rollout's policy; a critical finding is never accepted/,
    );
  });
});
