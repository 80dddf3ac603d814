import { describe, expect, it } from "vitest";
import type { VoiceRollout } from "../../core/resource/voicerollout.js";
import { markWritten, writtenWeightKey, writtenWeightOf } from "./written-weight.js";

const rollout = (name: string) => ({ metadata: { namespace: "voice", name } }) as unknown as VoiceRollout;

// An annotation key's name part: at most 63 characters, alphanumeric at both ends, `-_.` inside.
const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

describe("the written-weight annotation", () => {
  it("is one key per rollout, valid for the API server even for long names", () => {
    expect(writtenWeightKey(rollout("tts-v42"))).toBe("canary-weight.voicectl.dev/tts-v42");
    const long = `${"a".repeat(50)}.-${"b".repeat(60)}`;
    const key = writtenWeightKey(rollout(long));
    expect(key.split("/")[1]).toMatch(NAME_PART);
    // Two long names sharing their first 60 characters still get two keys.
    expect(writtenWeightKey(rollout(`${long}x`))).not.toBe(key);
    expect(writtenWeightKey(rollout(long))).toBe(key);
  });

  it("records the weight in place, says whether it changed, and reads it back", () => {
    const r = rollout("tts-v42");
    const route: { metadata: { annotations?: Record<string, string> } } = {
      metadata: { annotations: { "owner.example.com/team": "voice" } },
    };
    expect(writtenWeightOf(route, r)).toBeNull();
    expect(markWritten(route, r, 25)).toBe(true);
    expect(markWritten(route, r, 25)).toBe(false);
    expect(writtenWeightOf(route, r)).toBe(25);
    expect(route.metadata.annotations).toEqual({
      "owner.example.com/team": "voice",
      "canary-weight.voicectl.dev/tts-v42": "25",
    });
    // Another rollout's record on the same route is its own.
    expect(writtenWeightOf(route, rollout("asr-v7"))).toBeNull();
  });

  it("reads anything but a weight from 0 to 100 as no record", () => {
    const r = rollout("tts-v42");
    for (const text of ["", "-1", "101", "25.5", " 25", "1e2", "x"])
      expect(writtenWeightOf({ metadata: { annotations: { [writtenWeightKey(r)]: text } } }, r)).toBeNull();
    expect(writtenWeightOf({}, r)).toBeNull();
  });
});
