import { describe, expect, it } from "vitest";
import type { VoiceRollout, VoiceRolloutCommand } from "../../core/resource/voicerollout.js";
import { formatAge, historyRows, renderHistory, renderRolloutList, renderRolloutStatus } from "./rollout.js";

const NOW = Date.parse("2026-12-01T12:00:00Z");

function rollout(name: string, over: Partial<VoiceRollout> = {}): VoiceRollout {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { name, namespace: "voice-prod", uid: "u-1", creationTimestamp: "2026-12-01T11:15:00Z" },
    spec: {
      stable: { deployment: "tts-v41" },
      canary: { deployment: "tts-v42", version: "v42" },
      policyRef: { name: "tts-studio" },
      traffic: { gatewayAPI: { httpRoute: "tts" } },
      analysis: { interval: "1m" },
      rollback: { scaleDownDelay: "30s" },
      approval: { deadline: "4h", onDeadline: "Abort" },
      steps: [
        { setWeight: 10 },
        { analysis: { minDuration: "10m", maxDuration: "30m" } },
        { pause: {} },
        { setWeight: 100 },
      ],
    },
    ...over,
  };
}

const paused = rollout("tts", {
  status: {
    phase: "Paused",
    canaryWeight: 10,
    currentStepIndex: 2,
    stepStartedAt: "2026-12-01T11:55:00Z",
    message: "waiting for approval at step 2",
    pause: { kind: "approval", reason: "the plan asks for approval", since: "2026-12-01T11:55:00Z" },
    lastDecision: {
      decision: "pause",
      at: "2026-12-01T11:54:30Z",
      summary: "1 non-critical finding failed",
      findings: [
        {
          metric: "ttfa_p95",
          slice: { language: "es" },
          verdict: "fail",
          critical: false,
          baseline: 412.5,
          canary: 588.25,
          allowed: 0.3,
          worsening: 0.4261,
          unit: "relative",
          samples: { baseline: 5663, canary: 203 },
          reason: "ttfa_p95 in language=es worse by 42.6%",
        },
        {
          metric: "speaker_similarity",
          slice: { voice_id: "mia-chen" },
          verdict: "inconclusive",
          critical: true,
          baseline: 0.6776,
          canary: null,
          allowed: 0.01,
          reason: "not enough samples",
        },
      ],
    },
    conditions: [
      {
        type: "Progressing",
        status: "False",
        reason: "AwaitingApproval",
        message: "step 2 waits for approval",
        lastTransitionTime: "2026-12-01T11:55:00Z",
      },
    ],
  },
});

describe("formatAge", () => {
  it.each([
    ["2026-12-01T11:59:15Z", "45s"],
    ["2026-12-01T11:54:30Z", "5m30s"],
    ["2026-12-01T11:15:00Z", "45m"],
    ["2026-12-01T07:30:00Z", "4h30m"],
    ["2026-11-30T12:00:00Z", "24h"],
    ["2026-11-28T08:00:00Z", "3d4h"],
    ["2026-12-02T12:00:00Z", "0s"],
    [undefined, "<unknown>"],
    ["yesterday", "<unknown>"],
  ])("%s is %s before now", (since, age) => {
    expect(formatAge(since, NOW)).toBe(age);
  });
});

describe("renderRolloutList", () => {
  it("shows NAME PHASE WEIGHT STEP AGE, sorted, with a dash for what the operator has not written", () => {
    const text = renderRolloutList([paused, rollout("asr")], { allNamespaces: false, now: NOW });
    expect(text.split("\n")).toEqual([
      "NAME  PHASE    WEIGHT  STEP  AGE",
      "asr   Pending  -       -/4   45m",
      "tts   Paused   10%     3/4   45m",
      "",
    ]);
  });

  it("adds the namespace first with --all-namespaces", () => {
    const other = rollout("music", { metadata: { name: "music", namespace: "a-team" } });
    const lines = renderRolloutList([paused, other], { allNamespaces: true, now: NOW }).split("\n");
    expect(lines[0]).toMatch(/^NAMESPACE\s+NAME\s+PHASE\s+WEIGHT\s+STEP\s+AGE$/);
    expect(lines[1]).toMatch(/^a-team\s+music\s+Pending/);
    expect(lines[2]).toMatch(/^voice-prod\s+tts\s+Paused\s+10%\s+3\/4/);
  });
});

describe("renderRolloutStatus", () => {
  const text = renderRolloutStatus(paused, NOW);

  it("marks done steps and the current one, with how long it has run", () => {
    // Counted from 1, as the list's 3/4, history and the operator's messages count them.
    expect(text).toMatch(/^ {2}done {2}1 {2}setWeight 10%$/m);
    expect(text).toMatch(/^ {2}done {2}2 {2}analysis 10m\.\.30m$/m);
    expect(text).toMatch(/^ {2}-> {4}3 {2}pause until approved {2}since 5m ago$/m);
    expect(text).toMatch(/^ {8}4 {2}setWeight 100%$/m);
  });

  it("says why it waits and how to approve", () => {
    expect(text).toContain("Phase:      Paused");
    expect(text).toContain("Weight:     10% canary");
    expect(text).toContain("Paused:     approval: the plan asks for approval (5m ago)");
    expect(text).toContain('voicectl rollout approve tts -n voice-prod --reason "..."');
    expect(text).toContain('or abort with: voicectl rollout abort tts -n voice-prod --reason "..."');
    expect(text).toContain("Canary:     deployment/tts-v42 (version v42)");
  });

  it("prints a per-slice scorecard of the last decision: verdict, metric, slice, baseline -> canary, allowed, samples", () => {
    expect(text).toContain("Last decision: PAUSE (5m30s ago, at 2026-12-01T11:54:30Z)");
    const lines = text.split("\n");
    const header = lines.findIndex((l) => l.includes("VERDICT"));
    expect(lines[header]!.trim().split(/\s{2,}/)).toEqual([
      "VERDICT",
      "METRIC",
      "SLICE",
      "BASELINE -> CANARY",
      "WORSENING",
      "ALLOWED",
      "SAMPLES",
    ]);
    expect(lines[header + 1]!.trim().split(/\s{2,}/)).toEqual([
      "fail",
      "ttfa_p95",
      "language=es",
      "412.5 -> 588.3",
      // One unit: the relative budget's worsening in percent, as the finding's reason says it.
      "+42.6%",
      "+30%",
      "5663/203",
    ]);
    expect(lines[header + 2]!.trim().split(/\s{2,}/)).toEqual([
      "inconclusive (critical)",
      "speaker_similarity",
      "voice_id=mia-chen",
      "0.6776 -> -",
      "-",
      "0.01",
      "-",
    ]);
  });

  it("lists the conditions", () => {
    expect(text).toMatch(/^ {2}Progressing\s+False\s+AwaitingApproval\s+5m\s+step 2 waits for approval$/m);
  });

  it("says so when the operator has not reconciled the rollout yet", () => {
    const fresh = renderRolloutStatus(rollout("asr"), NOW);
    expect(fresh).toContain("Pending (the operator has not reconciled it yet)");
    expect(fresh).toContain("Last decision: none yet");
    expect(fresh).not.toContain("->");
  });

  it("marks where a rolled-back rollout stopped, and every step of a promoted one as done", () => {
    const back = renderRolloutStatus(
      rollout("tts", { status: { phase: "RolledBack", currentStepIndex: 1, canaryWeight: 0 } }),
      NOW,
    );
    expect(back).toMatch(/^ {2}stopped {2}2 {2}analysis/m);
    expect(back).toMatch(/^ {11}3 {2}pause/m);
    const done = renderRolloutStatus(
      rollout("tts", { status: { phase: "Promoted", currentStepIndex: 4, canaryWeight: 100 } }),
      NOW,
    );
    expect(done.match(/^ {2}done /gm)).toHaveLength(4);
  });
});

function command(
  name: string,
  action: VoiceRolloutCommand["spec"]["action"],
  over: Partial<VoiceRolloutCommand> = {},
): VoiceRolloutCommand {
  return {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRolloutCommand",
    metadata: { name, namespace: "voice-prod", creationTimestamp: "2026-12-01T11:58:00Z" },
    spec: { rollout: "tts", action, reason: "looks good", user: "bob", full: false },
    ...over,
  };
}

describe("history", () => {
  const withHistory = rollout("tts", {
    status: {
      phase: "Paused",
      history: [
        {
          action: "approve",
          user: "alice",
          at: "2026-12-01T11:40:00Z",
          reason: "scorecard clean",
          step: 2,
          command: "tts-approve-abcde",
        },
      ],
    },
  });
  const commands = [
    command("tts-approve-abcde", "approve", {
      status: { appliedAt: "2026-12-01T11:40:00Z", result: "applied" },
    }),
    command("tts-promote-fghij", "promote", {
      spec: { rollout: "tts", action: "promote", reason: "skip the soak", user: "carol", full: true },
    }),
    command("tts-retry-klmno", "retry", {
      status: { appliedAt: "2026-12-01T11:41:00Z", result: "ignored: the rollout is Paused, not RolledBack" },
    }),
  ];
  const rows = historyRows(withHistory, commands);

  it("lists each applied entry once, then pending and set-aside commands", () => {
    expect(rows.map((r) => [r.state, r.action, r.user, r.command])).toEqual([
      ["applied", "approve", "alice", "tts-approve-abcde"],
      ["pending", "promote --full", "carol", "tts-promote-fghij"],
      ["ignored", "retry", "bob", "tts-retry-klmno"],
    ]);
  });

  it("renders who, when, action, step and reason", () => {
    const text = renderHistory(withHistory, rows, NOW);
    const lines = text.split("\n");
    expect(lines[0]!.split(/\s{2,}/)).toEqual(["WHEN", "USER", "ACTION", "STEP", "REASON", "COMMAND"]);
    expect(lines[1]!.split(/\s{2,}/)).toEqual([
      "2026-12-01T11:40:00Z (20m ago)",
      "alice",
      "approve",
      "3",
      "scorecard clean",
      "tts-approve-abcde",
    ]);
    expect(text).toContain("Not applied yet (the operator applies them on its next reconcile):");
    expect(text).toMatch(/^ {2}2m ago\s+carol\s+promote --full\s+skip the soak\s+tts-promote-fghij$/m);
    expect(text).toContain("Set aside by the operator:");
    expect(text).toMatch(/tts-retry-klmno\s+ignored: the rollout is Paused, not RolledBack$/m);
  });

  it("says so when nothing happened yet", () => {
    expect(renderHistory(rollout("asr"), [], NOW)).toBe(
      "rollout/asr: no approvals, aborts, promotions or retries yet\n",
    );
  });
});

describe("on-call views: deadline, acceptances, what an approval pushed through", () => {
  it("shows the pause's deadline and what happens then, and the findings accepted", () => {
    const r = rollout("tts", {
      status: {
        ...paused.status,
        pause: {
          kind: "analysis",
          reason: "ttfa_p95 failed",
          since: "2026-12-01T11:55:00Z",
          deadline: "2026-12-01T15:55:00Z",
        },
        acceptedFindings: [
          {
            metric: "ttfa_p95",
            slice: { language: "es" },
            worseningAtApproval: 0.279,
            upTo: 0.329,
            unit: "relative",
            margin: "5%",
            user: "alice",
            at: "2026-12-01T11:40:00Z",
            step: 1,
          },
        ],
      },
    });
    const text = renderRolloutStatus(r, NOW);
    expect(text).toContain("Deadline:   2026-12-01T15:55:00Z (in 3h55m), then it rolls back");
    expect(text).toMatch(/^ {2}ttfa_p95\s+language=es\s+\+27\.9%\s+\+32\.9% \(margin 5%\)\s+alice\s+2$/m);
  });

  it("says an escalated pause is overdue", () => {
    const r = rollout("tts", {
      spec: { ...rollout("x").spec, approval: { deadline: "1h", onDeadline: "Escalate" } },
      status: {
        ...paused.status,
        pause: {
          kind: "approval",
          reason: "r",
          since: "2026-12-01T10:00:00Z",
          deadline: "2026-12-01T11:00:00Z",
          escalatedAt: "2026-12-01T11:00:00Z",
        },
      },
    });
    expect(renderRolloutStatus(r, NOW)).toContain("overdue since 60m ago (escalated; still waiting)");
  });

  it("history notes what an approval pushed through and accepted", () => {
    const r = rollout("tts", {
      status: {
        phase: "Progressing",
        history: [
          {
            action: "approve",
            user: "alice",
            at: "2026-12-01T11:40:00Z",
            reason: "known TTFA cost of the new vocoder",
            step: 1,
            over: ["ttfa_p95 in language=es"],
            accepted: ["ttfa_p95 in (all) accepted for the rest of the rollout"],
          },
        ],
      },
    });
    const rows = historyRows(r, []);
    expect(rows[0]).toMatchObject({ step: 2, over: ["ttfa_p95 in language=es"] });
    expect(renderHistory(r, rows, NOW)).toContain(
      "  approve at step 2 by alice: over ttfa_p95 in language=es; ttfa_p95 in (all) accepted for the rest of the rollout",
    );
  });
});
