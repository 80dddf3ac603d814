// `voicectl rollout`: start, follow, approve and abort VoiceRollouts on a cluster, kubectl's way (--kubeconfig,
// --context, -n, -o). A thin shell (docs/architecture.md#a-thin-cli): it reads and creates objects and never
// acts on a rollout itself. approve, abort, promote and retry each create a VoiceRolloutCommand naming the
// authenticated user; RBAC and an admission policy decide whether that user may, and the operator applies it.
import { Option, type Command } from "commander";
import type { CommandAction } from "../../core/resource/voicerollout.js";
import type { CliIo } from "../io.js";

/** The subcommands' work, loaded when one runs (client-node alone takes ~0.5 s to import). */
const actions = () => import("./rollout/actions.js");

const EXIT_CODES_HELP = `Exit codes: 0 done, 64 usage error, 65 invalid rollout file, 66 a file is missing or unreadable, 67 no such rollout, 69 the Kubernetes API cannot be reached, 75 the rollout's phase does not accept this action (e.g. approve when it is not paused; nothing was recorded), 77 forbidden (RBAC or the admission policy refused), 78 no kubeconfig found (or it names no usable cluster).`;

const ACTION_HELP: Record<CommandAction, { summary: string; description: string }> = {
  approve: {
    summary: "let a Paused rollout continue past its pause",
    description: `Approve a Paused rollout: a pause waiting for approval moves on, and a pause the analysis asked for (a non-critical failure, or evidence that did not settle in time) is accepted. Refused unless the rollout is Paused.

Without --accept, the approval answers this pause only: the same finding pauses the next analysis step again. --accept METRIC[,LABEL=VALUE...] accepts a non-critical finding (of one slice, or of every slice of the metric) for the rest of the rollout: later steps do not pause for it. With --margin (5% of the baseline's value, or a number in the worsening's units) it pauses again once it worsens by more than that beyond its worsening now. A critical finding is never accepted: its failure rolls back. approve prints what it accepts; history and Events record it.`,
  },
  abort: {
    summary: "roll back now: all traffic to the stable version",
    description: `Abort a rollout: the operator sets the canary's weight to 0 at once (a traffic change, not a redeploy) and scales the canary down after spec.rollback.scaleDownDelay. Refused when the rollout has already ended.`,
  },
  promote: {
    summary: "skip the current step (--full: every remaining step)",
    description: `Promote a rollout: the operator ends the current step as if it had passed. With --full it skips every remaining step, including analysis: the canary takes all traffic and becomes the stable version. Refused when the rollout has already ended.`,
  },
  retry: {
    summary: "start a RolledBack or Failed rollout again from its first step",
    description: `Retry a rollout that was rolled back or failed: the operator starts its steps again from the first, with fresh analysis. Refused unless the rollout is RolledBack or Failed.`,
  },
};

export function registerRollout(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const rollout = program
    .command("rollout")
    .summary("start, follow, approve and abort model rollouts on Kubernetes")
    .description(
      `Work with VoiceRollouts on a Kubernetes cluster: start one from a file, list them, follow one's steps and per-slice findings, and ask the operator to approve, abort, promote or retry it.

approve, abort, promote and retry record a VoiceRolloutCommand with the authenticated user's name (from the cluster, not from this machine) and the --reason given; the operator applies it on its next reconcile and records who, when, which step and why in the rollout's history (voicectl rollout history NAME). Who may do what is decided by Kubernetes RBAC and the chart's admission policy, not by this command.

Options --kubeconfig, --context, --as, --as-group, -n and -o work as kubectl's, before or after the subcommand. With --as, commands are recorded under the impersonated user's name, as the API server reports it.

${EXIT_CODES_HELP}`,
    )
    .option(
      "--kubeconfig <file>",
      "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)",
    )
    .option("--context <name>", "kubeconfig context to use (default: the current context)")
    .option("--as <user>", "act as this user (impersonation: needs the impersonate verb, as kubectl's --as)")
    .option(
      "--as-group <group>",
      "act as a member of this group too; repeat for more (needs --as)",
      (group: string, groups: string[] | undefined) => [...(groups ?? []), group],
    )
    .option("-n, --namespace <name>", "namespace (default: the context's, else default)")
    .addOption(
      new Option("-o, --output <format>", "output format for data: table (for people), json or yaml")
        .choices(["table", "json", "yaml"])
        .default("table"),
    );

  rollout
    .command("start")
    .summary("create a VoiceRollout from a YAML or JSON file")
    .description(
      `Create a VoiceRollout from a file. The file is checked first, against the same schema as the cluster's CRD: every problem is reported with file, line and field path, and nothing is created. Then the RolloutPolicy named by spec.policyRef.name must exist in the namespace. A rollout that exists already is left alone (see it with voicectl rollout status NAME).

The namespace is -n's, else the file's metadata.namespace, else the context's; -n and a different metadata.namespace is an error. See examples/rollouts/ for a complete example.

${EXIT_CODES_HELP}`,
    )
    .requiredOption("-f, --filename <file>", "the VoiceRollout YAML or JSON file")
    .action(async (_opts: unknown, cmd: Command) => (await actions()).start(cmd, io));

  rollout
    .command("list")
    .alias("ls")
    .summary("list rollouts with their phase, canary weight and step")
    .description(
      `List VoiceRollouts: NAME PHASE WEIGHT STEP AGE, as kubectl get voicerollouts shows them. STEP is the current step counted from 1 over the plan's steps (2/4), as kubectl's Step column, the status view, history and the operator's messages count them; the API field status.currentStepIndex counts from 0. With -o json or yaml, the objects themselves.

${EXIT_CODES_HELP}`,
    )
    .option("-A, --all-namespaces", "list the rollouts of every namespace", false)
    .action(async (opts: { allNamespaces: boolean }, cmd: Command) => (await actions()).list(opts, cmd, io));

  rollout
    .command("status")
    .summary("show a rollout's steps, weight, pause and per-slice findings (--watch to follow it)")
    .description(
      `Show one rollout: its steps (counted from 1) with the current one marked, the canary's weight, its phase and message, why it is paused and until when (the pause's deadline, spec.approval), the findings approvers accepted, the last decision with a scorecard of the findings that did not pass (metric, slice, verdict, baseline -> canary, worsening, the allowed worsening, samples), and its conditions.

--watch redraws the view whenever the rollout changes, until it is Promoted, RolledBack or Failed (or Ctrl-C); it then exits 0 when promoted and 1 when rolled back or failed. -o json or yaml prints the object instead.

${EXIT_CODES_HELP}`,
    )
    .argument("<name>", "the VoiceRollout")
    .option("-w, --watch", "redraw on every change until the rollout ends", false)
    .action(async (name: string, opts: { watch: boolean }, cmd: Command) =>
      (await actions()).status(name, opts, cmd, io, setExit),
    );

  for (const action of ["approve", "abort", "promote", "retry"] as const) {
    const help = ACTION_HELP[action];
    const sub = rollout
      .command(action)
      .summary(`${help.summary} (recorded with your name and reason)`)
      .description(
        `${help.description}

This records a VoiceRolloutCommand with your user name as the cluster knows it (SelfSubjectReview) and your --reason; the operator applies it on its next reconcile and adds it to the rollout's history (voicectl rollout history NAME). RBAC decides who may: the chart's voicectl-approver ClusterRole grants it. With -o json or yaml, the command object is printed.

${EXIT_CODES_HELP}`,
      )
      .argument("<name>", "the VoiceRollout")
      .option(
        "--reason <text>",
        "why (required): recorded in the rollout's history and Events with your name",
      );
    if (action === "promote") sub.option("--full", "skip every remaining step, analysis included", false);
    if (action === "approve")
      sub
        .option(
          "--accept <finding>",
          "accept a non-critical finding for the rest of the rollout: METRIC[,LABEL=VALUE...] (repeatable)",
          (v: string, all: string[] = []) => [...all, v],
        )
        .option(
          "--margin <margin>",
          "with --accept: pause again once it worsens by more than this (5% of the baseline, or 0.02 in its units)",
        );
    sub.action(
      async (
        name: string,
        opts: { reason?: string; full?: boolean; accept?: string[]; margin?: string },
        cmd: Command,
      ) => (await actions()).act(action, name, opts, cmd, io),
    );
  }

  rollout
    .command("history")
    .summary("who approved, aborted, promoted or retried a rollout, when and why")
    .description(
      `List a rollout's approvals, aborts, promotions and retries from its status: when, who, the action, the step (counted from 1) and the reason, and under them what each approval pushed through and accepted. Commands the operator has not applied yet are listed after them, and commands it set aside (for example an approve that arrived after the rollout moved on) with its reason.

${EXIT_CODES_HELP}`,
    )
    .argument("<name>", "the VoiceRollout")
    .action(async (name: string, _opts: unknown, cmd: Command) => (await actions()).history(name, cmd, io));
}
