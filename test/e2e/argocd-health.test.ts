// The Argo CD health check (charts/voicectl/argocd/health.lua) run by a real Lua 5.1 interpreter (Debian's
// lua5.1 package; Argo CD runs gopher-lua, a Lua 5.1) against VoiceRollouts in every phase. The rollouts are
// not written by hand: the real reconciler drives them through in-memory ports, so each fixture is the
// status the operator writes. The script runs the way Argo CD runs it: the rollout as the global `obj`, the
// table it returns read back, and nothing but Lua's base, string, table and math libraries in reach.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { moments } from "../support/batches.js";
import type { Look } from "../../src/core/analysis/look.js";
import type { VoiceRollout } from "../../src/core/resource/voicerollout.js";
import { memoryPorts, type MemoryPorts } from "../../src/operator/memory.js";
import type { RolloutRef } from "../../src/operator/ports.js";
import { reconcile } from "../../src/operator/reconciler.js";
import {
  ANALYSE,
  CANARY,
  MIN,
  NS,
  POLICY_REF,
  rolloutOf,
  SIMILARITY_POLICY,
  STABLE,
  type StepInput,
} from "../support/reconciler-harness.js";

const LUA = "/usr/bin/lua5.1";
const HEALTH = resolve("charts/voicectl/argocd/health.lua");
const SNIPPET = resolve("charts/voicectl/argocd/argocd-cm.yaml");
const STATUSES = ["Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"];

/** A JSON value as a Lua table constructor, as Argo CD hands the object over (JSON null is nil). */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`not a JSON number: ${value}`);
    return String(value);
  }
  if (typeof value === "string") {
    // Lua 5.1 escapes a byte as \ddd (decimal); quotes, backslashes and control characters are escaped.
    const escaped = [...value]
      .map((c) =>
        c === '"' || c === "\\" || c.charCodeAt(0) < 32 ? `\\${String(c.charCodeAt(0)).padStart(3, "0")}` : c,
      )
      .join("");
    return `"${escaped}"`;
  }
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  const entries = Object.entries(value as Record<string, unknown>).filter(
    ([, v]) => v !== null && v !== undefined,
  );
  return `{${entries.map(([k, v]) => `[${toLua(k)}] = ${toLua(v)}`).join(", ")}}`;
}

interface Health {
  status: string;
  message: string;
}

/** Runs health.lua on `obj` in a sandbox holding Argo CD's libraries only. */
function health(obj: unknown): Health {
  const driver = `
local f = assert(loadfile(${toLua(HEALTH)}))
local env = { obj = ${toLua(obj)}, ipairs = ipairs, pairs = pairs, next = next, tonumber = tonumber,
  tostring = tostring, type = type, select = select, unpack = unpack, error = error, pcall = pcall,
  string = string, table = table, math = math }
setfenv(f, env)
local hs = f()
assert(type(hs) == "table", "health.lua must return a table")
io.write(tostring(hs.status), "\\0", tostring(hs.message))
`;
  const r = spawnSync(LUA, ["-"], { input: driver, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lua5.1 failed (${r.status}): ${r.stderr}`);
  const [status, message] = r.stdout.split("\0");
  return { status: status!, message: message! };
}

// --- VoiceRollouts in every phase, from the reconciler ------------------------------------------------------

const REF: RolloutRef = { namespace: NS, name: "tts" };

interface Scene {
  ports: MemoryPorts;
  /** The canary's similarity against stable's; a test moves it to play a regression. */
  shift: number;
  rollout(): VoiceRollout;
  /** Passes as the controller runs them (the clock moved to each requeue) until `done`. */
  runUntil(done: (r: VoiceRollout) => boolean): Promise<VoiceRollout>;
}

function scene(steps: StepInput[]): Scene {
  const s: Scene = {
    shift: 0,
    ports: memoryPorts((_from, to, weight): Look => {
      const cell = (arm: "baseline" | "canary") => ({
        arm,
        labels: {},
        metrics: { speaker_similarity: moments(2000, 0.72 + (arm === "canary" ? s.shift : 0), 0.035) },
      });
      return {
        at: to,
        canaryWeight: weight,
        cells: weight > 0 ? [cell("baseline"), cell("canary")] : [cell("baseline")],
      };
    }),
    rollout: () => s.ports.rollouts.peek(REF)!,
    async runUntil(done) {
      for (let i = 0; i < 200; i++) {
        const r = await reconcile(REF, s.ports);
        const replicas = s.ports.workloads.replicasOf(CANARY);
        if (replicas !== undefined) s.ports.workloads.setReady(CANARY, replicas);
        if (done(s.rollout())) return s.rollout();
        s.ports.clock.advance(r.requeueAfterMs ?? MIN);
      }
      throw new Error(`not reached: ${s.rollout().status?.message}`);
    },
  };
  s.ports.rollouts.put(rolloutOf(REF.name, { steps }));
  s.ports.policies.set(POLICY_REF, SIMILARITY_POLICY);
  s.ports.workloads.set(CANARY, { replicas: 0 });
  s.ports.workloads.set(STABLE, { replicas: 4, readyReplicas: 4 });
  s.ports.router.setWeight(REF, 0);
  return s;
}

const phase = (p: string) => (r: VoiceRollout) => r.status?.phase === p;
const analysing = (r: VoiceRollout) => r.status?.canaryWeight === 10 && (r.status.analysis?.looks ?? 0) >= 1;

beforeAll(() => {
  if (!existsSync(LUA))
    throw new Error(`${LUA} is missing: install Debian's lua5.1 package (apt-get install lua5.1)`);
});

describe("the Argo CD health check for VoiceRollout, run by Lua 5.1", () => {
  it("the argocd-cm snippet carries health.lua verbatim under the key Argo CD reads", () => {
    const cm = parse(readFileSync(SNIPPET, "utf8")) as { data: Record<string, string> };
    expect(Object.keys(cm.data)).toEqual(["resource.customizations.health.voicectl.dev_VoiceRollout"]);
    expect(cm.data["resource.customizations.health.voicectl.dev_VoiceRollout"]).toBe(
      readFileSync(HEALTH, "utf8"),
    );
  });

  it("a rollout the operator has not taken up yet is Progressing", () => {
    const fresh = scene([{ setWeight: 10 }]).rollout();
    expect(fresh.status).toBeUndefined();
    expect(health(fresh)).toEqual({
      status: "Progressing",
      message: "Waiting for the voicectl operator to take up the rollout",
    });
  });

  it("analysing at a step is Progressing, with the step's message", async () => {
    const r = await scene([{ setWeight: 10 }, ANALYSE, { setWeight: 50 }, ANALYSE]).runUntil(analysing);
    expect(r.status?.phase).toBe("Progressing");
    expect(health(r)).toEqual({ status: "Progressing", message: r.status!.message });
    expect(r.status!.message).toMatch(/^step 2 of 4 \(analysis/);
  });

  it("paused for approval is Suspended, saying what it waits for", async () => {
    const r = await scene([{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }]).runUntil(phase("Paused"));
    expect(health(r)).toEqual({
      status: "Suspended",
      message: expect.stringMatching(
        /^step 2 of 3 \(pause until approved\): waiting for approval: voicectl rollout approve .+ or voicectl rollout abort .+$/,
      ),
    });
  });

  it("paused on a route changed by another controller is Suspended, naming the controller", async () => {
    const s = scene([{ setWeight: 10 }, ANALYSE, { setWeight: 50 }, ANALYSE]);
    await s.runUntil(analysing);
    s.ports.router.setWeight(REF, 80, "kustomize-controller");
    const r = await s.runUntil(phase("Paused"));
    expect(health(r)).toEqual({
      status: "Suspended",
      message:
        "HTTPRoute tts was changed by kustomize-controller (not voicectl): canary weight 80%, expected 10%; approve to set it back and run step 2 again, or abort to roll back",
    });
  });

  it("paused because its RolloutPolicy cannot be used is Degraded: it is fixed in the policy's source", async () => {
    const s = scene([{ setWeight: 10 }, ANALYSE]);
    await s.runUntil(analysing);
    s.ports.policies.setInvalid(POLICY_REF, "spec.metrics[0].budget: expected an object");
    const r = await s.runUntil(phase("Paused"));
    expect(health(r)).toEqual({
      status: "Degraded",
      message: "RolloutPolicy studio cannot be used: spec.metrics[0].budget: expected an object",
    });
  });

  it("rolled back on a critical regression is Degraded, naming it", async () => {
    const s = scene([{ setWeight: 10 }, ANALYSE, { setWeight: 50 }, ANALYSE]);
    await s.runUntil(analysing);
    s.shift = -0.05;
    const r = await s.runUntil(phase("RolledBack"));
    const h = health(r);
    expect(h.status).toBe("Degraded");
    expect(h.message).toBe(`RolledBack: ${r.status!.message}`);
    expect(h.message).toMatch(/^RolledBack: critical regression: speaker_similarity/);
  });

  it("aborted is Degraded, with who aborted and why", async () => {
    const s = scene([{ setWeight: 10 }, ANALYSE, { setWeight: 50 }, ANALYSE]);
    await s.runUntil(analysing);
    s.ports.rollouts.addCommand(NS, "abort-1", {
      rollout: REF.name,
      action: "abort",
      user: "ana@example.com",
      reason: `customers say "too robotic"`,
    });
    const r = await s.runUntil(phase("RolledBack"));
    expect(health(r)).toEqual({
      status: "Degraded",
      message: `RolledBack: aborted by ana@example.com: customers say "too robotic"`,
    });
  });

  it("failed (the canary Deployment is gone) is Degraded", async () => {
    const s = scene([{ setWeight: 10 }, ANALYSE]);
    await s.runUntil(analysing);
    s.ports.workloads.delete(CANARY);
    const r = await s.runUntil(phase("Failed"));
    const h = health(r);
    expect(h.status).toBe("Degraded");
    expect(h.message).toMatch(/^Failed: the canary Deployment tts-v42 does not exist/);
  });

  it("promoted is Healthy; a spec change is Progressing until the operator has acted on it", async () => {
    const s = scene([{ setWeight: 10 }, ANALYSE, { setWeight: 50 }, ANALYSE]);
    const r = await s.runUntil(phase("Promoted"));
    expect(health(r)).toEqual({ status: "Healthy", message: r.status!.message });
    const generation = r.metadata.generation!;
    expect(r.status!.observedGeneration).toBe(generation);
    // Someone edits the spec (a new generation) of the finished rollout.
    const edited = s.ports.rollouts.put({
      ...r,
      metadata: { ...r.metadata, generation: undefined },
      spec: { ...r.spec, analysis: { interval: "2m" } },
    });
    expect(edited.metadata.generation).toBe(generation + 1);
    expect(health(edited)).toEqual({
      status: "Progressing",
      message: `Waiting for the voicectl operator to act on generation ${generation + 1}`,
    });
    // The next pass records that it saw it, and the rollout is Healthy again: not stuck in Progressing.
    await reconcile(REF, s.ports);
    expect(s.rollout().status!.observedGeneration).toBe(generation + 1);
    expect(health(s.rollout()).status).toBe("Healthy");
  });

  it("a phase it does not know goes by the conditions, and otherwise says so", async () => {
    const r = await scene([{ setWeight: 10 }, ANALYSE]).runUntil(phase("Promoted"));
    const as = (p: string, conditions = r.status!.conditions) => ({
      ...r,
      status: { ...r.status!, phase: p, conditions },
    });
    expect(health(as("Finalizing")).status).toBe("Healthy");
    expect(health(as("Finalizing", []))).toEqual({
      status: "Unknown",
      message: "VoiceRollout phase Finalizing is not known to this health check",
    });
  });

  it("always answers with one of Argo CD's health statuses", async () => {
    const r = await scene([{ setWeight: 10 }, ANALYSE]).runUntil(analysing);
    for (const obj of [r, { ...r, status: {} }, { ...r, status: { phase: "Paused" } }]) {
      expect(STATUSES).toContain(health(obj).status);
    }
  });
});
