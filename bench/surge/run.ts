// bench/surge: GPU-hours a rollout holds, from its start to its promotion, driving the real reconciler with the
// in-memory ports through the plan of examples/rollouts/rollout.yaml in simulated time (no cluster). Three ways
// of holding GPUs, the same plan, the same healthy canary, the same 3-minute cold start per new replica:
//   blue/green  a full second set of replicas for the whole rollout (no maxSurgeGPUs: the canary at full size
//               before any traffic, stable kept full, which is a blue/green copy when the canary's size is N)
//   by weight   the canary scaled with the weight, the stable kept full (maxSurgeGPUs = the canary's full size)
//   voicectl    the canary scaled with the weight, the stable giving up replicas as traffic leaves it, inside
//               maxSurgeGPUs (default here 4 GPUs, half of N = 8)
// Usage: node dist/bench/surge/run.js [--replicas 8] [--surge 4] [--record]
import { appendFileSync, readFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { Look } from "../../src/core/analysis/look.js";
import { policySchema } from "../../src/core/policy/schema.js";
import { voiceRolloutSpecSchema, type VoiceRollout } from "../../src/core/resource/voicerollout.js";
import { memoryPorts } from "../../src/operator/memory.js";
import { reconcile } from "../../src/operator/reconciler.js";
import { moments } from "../../test/support/batches.js";

const ROOT = join(fileURLToPath(import.meta.url), "../../../..");
const NS = "voice-prod";
const LOAD_MS = 3 * 60_000;
const APPROVE_AFTER_MS = 5 * 60_000;
const POOL = { "voicectl.dev/pool": "l4" };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 0)
    throw new Error(`--${name} expects a whole number, got ${process.argv[i + 1]}`);
  return v;
}

const policy = policySchema.parse({
  apiVersion: "voicectl.dev/v1alpha1",
  kind: "RolloutPolicy",
  metadata: { name: "tts-studio" },
  spec: {
    minSamples: 30,
    metrics: [
      {
        name: "speaker_similarity",
        direction: "higherIsBetter",
        aggregate: "mean",
        critical: true,
        budget: { absolute: 0.01 },
      },
    ],
  },
});

/** A healthy canary: both arms the same, 2000 requests per arm and look. */
function look(_from: number, to: number, weight: number): Look {
  const cell = (arm: "baseline" | "canary") => ({
    arm,
    labels: {},
    metrics: { speaker_similarity: moments(2000, 0.72, 0.035) },
  });
  return {
    at: to,
    canaryWeight: weight,
    cells: weight > 0 ? [cell("baseline"), cell("canary")] : [cell("baseline")],
  };
}

interface Run {
  readonly name: string;
  readonly gpuHours: number;
  readonly minutes: number;
  readonly peakGpus: number;
  readonly phase: string;
}

async function runOnce(name: string, n: number, maxSurgeGPUs: number | undefined): Promise<Run> {
  const example = parse(readFileSync(join(ROOT, "examples/rollouts/rollout.yaml"), "utf8")) as {
    spec: Record<string, unknown> & { canary: Record<string, unknown>; nodePool: Record<string, unknown> };
  };
  // The canary's full size is the stable's N (the example's 2 replicas sized a smaller stable).
  const { replicas: _r, ...canary } = example.spec.canary;
  const spec = voiceRolloutSpecSchema.parse({
    ...example.spec,
    canary,
    nodePool: { ...example.spec.nodePool, ...(maxSurgeGPUs !== undefined ? { maxSurgeGPUs } : {}) },
  });
  const ports = memoryPorts(look);
  const ref = { namespace: NS, name: "tts" };
  const stableRef = { namespace: NS, name: spec.stable.deployment };
  const canaryRef = { namespace: NS, name: spec.canary.deployment };
  const rollout: VoiceRollout = {
    apiVersion: "voicectl.dev/v1alpha1",
    kind: "VoiceRollout",
    metadata: { namespace: NS, name: "tts" },
    spec,
  };
  ports.rollouts.put(rollout);
  ports.policies.set({ namespace: NS, name: spec.policyRef.name }, policy);
  ports.workloads.set(stableRef, { replicas: n, readyReplicas: n });
  ports.workloads.set(canaryRef, { replicas: 0 });
  for (let i = 0; i < 4 * n; i++) ports.pools.addNode({ name: `l4-${i}`, labels: POOL, gpus: 1 });
  ports.pools.place(stableRef, POOL);
  ports.pools.place(canaryRef, POOL);
  ports.router.setWeight(ref, 0);

  const start = ports.clock.now();
  // Cold start: replicas added at t are ready at t + LOAD_MS.
  const loading: { at: number; replicas: number }[] = [];
  let known = 0;
  let gpuMs = 0;
  let peak = 0;
  let approved = false;
  const held = () =>
    (ports.workloads.replicasOf(stableRef) ?? 0) + (ports.workloads.replicasOf(canaryRef) ?? 0);
  for (let i = 0; i < 100_000; i++) {
    const r = await reconcile(ref, ports, { pollMs: 15_000 });
    const status = ports.rollouts.peek(ref)!.status!;
    const replicas = ports.workloads.replicasOf(canaryRef) ?? 0;
    if (replicas > known) loading.push({ at: ports.clock.now() + LOAD_MS, replicas });
    known = replicas;
    peak = Math.max(peak, held() * spec.nodePool!.gpusPerReplica);
    if (
      status.phase === "Promoted" ||
      status.phase === "RolledBack" ||
      ports.clock.now() - start > 24 * 3_600_000
    )
      return {
        name,
        gpuHours: gpuMs / 3_600_000,
        minutes: (ports.clock.now() - start) / 60_000,
        peakGpus: peak,
        phase: status.phase ?? "",
      };
    if (status.phase === "Paused" && status.pause?.kind === "approval" && !approved) {
      const since = Date.parse(status.pause.since);
      if (ports.clock.now() - since >= APPROVE_AFTER_MS) {
        ports.rollouts.addCommand(NS, "approve", {
          rollout: "tts",
          action: "approve",
          reason: "scorecard clean",
        });
        approved = true;
      }
    }
    // The next instant anything happens: the reconciler's requeue, a replica finishing its load, on-call.
    const next = [ports.clock.now() + (r.requeueAfterMs ?? 60_000), ...loading.map((l) => l.at)];
    if (status.phase === "Paused" && status.pause?.kind === "approval" && !approved)
      next.push(Date.parse(status.pause.since) + APPROVE_AFTER_MS);
    const to = Math.min(...next.filter((t) => t > ports.clock.now()));
    gpuMs += held() * spec.nodePool!.gpusPerReplica * (to - ports.clock.now());
    ports.clock.advance(to - ports.clock.now());
    const ready = loading.filter((l) => l.at <= ports.clock.now());
    if (ready.length > 0) {
      ports.workloads.setReady(canaryRef, Math.min(Math.max(...ready.map((l) => l.replicas)), replicas));
      loading.splice(0, loading.length, ...loading.filter((l) => l.at > ports.clock.now()));
    }
  }
  throw new Error(`${name}: the rollout did not end`);
}

async function main(): Promise<void> {
  const n = arg("replicas", 8);
  const surge = arg("surge", Math.ceil(n / 2));
  const runs = [
    await runOnce("blue/green copy", n, undefined),
    await runOnce("canary by weight, stable kept full", n, n),
    await runOnce(`voicectl, maxSurgeGPUs ${surge}`, n, surge),
  ];
  const [bg, weight, ours] = runs as [Run, Run, Run];
  const lines = [
    `Plan: examples/rollouts/rollout.yaml (5, 25, 50, 100% with analyses of 10-15 min minimum and an approval after 5 min); stable N = ${n} replicas x 1 GPU; canary full size N; ${LOAD_MS / 60_000} min cold start per new replica; a healthy canary (every analysis passes at its minDuration).`,
    "",
    "| strategy | GPU-hours | rollout min | peak GPUs | ended |",
    "| --- | --- | --- | --- | --- |",
    ...runs.map(
      (r) =>
        `| ${r.name} | ${r.gpuHours.toFixed(2)} | ${r.minutes.toFixed(1)} | ${r.peakGpus} | ${r.phase} |`,
    ),
    "",
    `Ratios of GPU-hours: voicectl / blue-green ${(ours.gpuHours / bg.gpuHours).toFixed(3)}, voicectl / by-weight ${(ours.gpuHours / weight.gpuHours).toFixed(3)}, by-weight / blue-green ${(weight.gpuHours / bg.gpuHours).toFixed(3)}.`,
    `Surge held above the stable's N: blue/green ${bg.peakGpus - n}, by weight ${weight.peakGpus - n}, voicectl ${ours.peakGpus - n} (at most ${surge}).`,
  ];
  process.stdout.write(lines.join("\n") + "\n");
  if (process.argv.includes("--record")) {
    const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? "unknown"}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, load average (1 min) ${loadavg()[0]!.toFixed(2)}`;
    appendFileSync(
      join(ROOT, "bench/RESULTS.md"),
      `\n## surge, 2026-12-01\n\nMachine: ${machine}. One run of \`npm run bench:surge -- --record\` (simulated time: the figures do not depend on the machine).\n\n${lines.join("\n")}\n`,
    );
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:surge: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
