// `voicectl rollout`: start, follow, approve and abort VoiceRollouts on a cluster, kubectl's way (--kubeconfig,
// --context, -n, -o). A thin shell (design.md section 7): it reads and creates objects and never acts on a
// rollout itself. approve, abort, promote and retry each create a VoiceRolloutCommand naming the
// authenticated user; RBAC and an admission policy decide whether that user may, and the operator applies it.
import { Option, type Command } from "commander";
import { stringify } from "yaml";
import { loadKubeConfig, contextNamespace } from "../../adapters/kubernetes/config.js";
import { RolloutClient } from "../../adapters/kubernetes/rollout-client.js";
import { InvalidInputError, UsageError } from "../../core/errors.js";
import type { CommandAction, VoiceRollout } from "../../core/resource/voicerollout.js";
import type { CliIo } from "../io.js";
import {
  historyRows,
  renderHistory,
  renderRolloutList,
  renderRolloutStatus,
  TERMINAL_PHASES,
} from "../output/rollout.js";
import { loadRolloutFile } from "./rollout/file.js";

type Format = "table" | "json" | "yaml";

interface GlobalOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly namespace?: string | undefined;
  readonly output: Format;
}

const EXIT_CODES_HELP = `Exit codes: 0 done, 64 usage error (also: no such rollout, or an action the rollout's phase makes pointless), 65 invalid rollout file, 66 a file is missing or unreadable, 69 the Kubernetes API cannot be reached, 77 forbidden (RBAC or the admission policy refused), 78 no kubeconfig found (or it names no usable cluster).`;

function connect(g: GlobalOptions, io: CliIo): { client: RolloutClient; namespace: string } {
  const kc = loadKubeConfig({ kubeconfig: g.kubeconfig, context: g.context }, io.env);
  return { client: new RolloutClient(kc), namespace: g.namespace ?? contextNamespace(kc) };
}

/** JSON or YAML of an object, or of a list's items, without metadata.managedFields, as kubectl prints them. */
export function formatData(format: "json" | "yaml", data: unknown): string {
  const clean = JSON.parse(JSON.stringify(data), (key: string, value: unknown) =>
    key === "metadata" && typeof value === "object" && value !== null && "managedFields" in value
      ? { ...(value as Record<string, unknown>), managedFields: undefined }
      : value,
  ) as unknown;
  return format === "json" ? JSON.stringify(clean, null, 2) + "\n" : stringify(clean);
}

function printData(io: CliIo, format: "json" | "yaml", data: unknown): void {
  io.stdout(formatData(format, data));
}

/**
 * Why `action` would do nothing to a rollout in its current phase, or null when it makes sense. The operator
 * would set such a command aside anyway; refusing here tells the person at once, before anything is recorded.
 */
export function pointlessAction(action: CommandAction, r: VoiceRollout): string | null {
  const phase = r.status?.phase;
  const ref = `rollout/${r.metadata.name}`;
  const now = phase === undefined ? "has no status yet (the operator has not reconciled it)" : `is ${phase}`;
  switch (action) {
    case "approve":
      return phase === "Paused"
        ? null
        : `${ref} ${now}: approve only resumes a Paused rollout (voicectl rollout status ${r.metadata.name} shows where it is)`;
    case "retry":
      return phase === "RolledBack" || phase === "Failed"
        ? null
        : `${ref} ${now}: retry only restarts a RolledBack or Failed rollout`;
    case "abort":
    case "promote":
      if (phase === "Promoted")
        return `${ref} is already Promoted: the canary is the stable version now; start a new rollout to change it`;
      if (phase !== undefined && TERMINAL_PHASES.has(phase))
        return `${ref} is already ${phase}: ${action} does nothing (retry restarts it)`;
      return null;
  }
}

const ACTION_HELP: Record<CommandAction, { summary: string; description: string }> = {
  approve: {
    summary: "let a Paused rollout continue past its pause",
    description: `Approve a Paused rollout: a pause waiting for approval moves on, and a pause the analysis asked for (a non-critical failure, or evidence that did not settle in time) is accepted. Refused unless the rollout is Paused.`,
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

Options --kubeconfig, --context, -n and -o work as kubectl's, before or after the subcommand.

${EXIT_CODES_HELP}`,
    )
    .option(
      "--kubeconfig <file>",
      "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)",
    )
    .option("--context <name>", "kubeconfig context to use (default: the current context)")
    .option("-n, --namespace <name>", "namespace (default: the context's, else default)")
    .addOption(
      new Option("-o, --output <format>", "output format for data: table (for people), json or yaml")
        .choices(["table", "json", "yaml"])
        .default("table"),
    );

  const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

  rollout
    .command("start")
    .summary("create a VoiceRollout from a YAML or JSON file")
    .description(
      `Create a VoiceRollout from a file. The file is checked first, against the same schema as the cluster's CRD: every problem is reported with file, line and field path, and nothing is created. Then the RolloutPolicy named by spec.policyRef.name must exist in the namespace. A rollout that exists already is left alone (see it with voicectl rollout status NAME).

The namespace is -n's, else the file's metadata.namespace, else the context's; -n and a different metadata.namespace is an error. See examples/rollouts/ for a complete example.

${EXIT_CODES_HELP}`,
    )
    .requiredOption("-f, --filename <file>", "the VoiceRollout YAML or JSON file")
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const { filename } = cmd.opts<{ filename: string }>();
      const file = await loadRolloutFile(filename);
      if (g.namespace !== undefined && file.namespace !== undefined && g.namespace !== file.namespace) {
        throw new UsageError(
          `${filename}: metadata.namespace is ${file.namespace} but -n says ${g.namespace}; drop one of them`,
        );
      }
      const { client, namespace: contextNs } = connect(g, io);
      const namespace = g.namespace ?? file.namespace ?? contextNs;
      const policy = file.spec.policyRef.name;
      if (!(await client.policyExists(namespace, policy))) {
        throw new InvalidInputError([
          file.problemAt(
            ["spec", "policyRef", "name"],
            `no RolloutPolicy ${policy} in namespace ${namespace}; create it first (kubectl apply -n ${namespace} -f POLICY.yaml)`,
          ),
        ]);
      }
      const created = await client.create(
        namespace,
        { name: file.name, labels: file.labels, annotations: file.annotations },
        file.spec,
      );
      if (created === null) {
        throw new UsageError(
          `rollout/${file.name} already exists in namespace ${namespace}; see it with: voicectl rollout status ${file.name} -n ${namespace} (start never changes an existing rollout)`,
        );
      }
      if (g.output !== "table") return printData(io, g.output, created);
      io.stdout(
        `rollout/${file.name} created in namespace ${namespace}; follow it with: voicectl rollout status ${file.name} -n ${namespace} --watch\n`,
      );
    });

  rollout
    .command("list")
    .alias("ls")
    .summary("list rollouts with their phase, canary weight and step")
    .description(
      `List VoiceRollouts: NAME PHASE WEIGHT STEP AGE, as kubectl get voicerollouts shows them. STEP is the current step's index (as kubectl's Step column; also the number of steps done) over the plan's steps. With -o json or yaml, the objects themselves.

${EXIT_CODES_HELP}`,
    )
    .option("-A, --all-namespaces", "list the rollouts of every namespace", false)
    .action(async (opts: { allNamespaces: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const { client, namespace } = connect(g, io);
      const items = await client.list(opts.allNamespaces ? undefined : namespace);
      if (g.output !== "table") return printData(io, g.output, { apiVersion: "v1", kind: "List", items });
      if (items.length === 0) {
        // kubectl's habit: the "nothing here" note goes to stderr, so stdout stays empty for scripts.
        io.stderr(
          opts.allNamespaces
            ? "No VoiceRollouts found.\n"
            : `No VoiceRollouts found in namespace ${namespace}.\n`,
        );
        return;
      }
      io.stdout(renderRolloutList(items, { allNamespaces: opts.allNamespaces, now: Date.now() }));
    });

  rollout
    .command("status")
    .summary("show a rollout's steps, weight, pause and per-slice findings (--watch to follow it)")
    .description(
      `Show one rollout: its steps with the current one marked, the canary's weight, its phase and message, why it is paused, the last decision with a scorecard of the findings that did not pass (metric, slice, verdict, baseline -> canary, worsening, the allowed worsening, samples), and its conditions.

--watch redraws the view whenever the rollout changes, until it is Promoted, RolledBack or Failed (or Ctrl-C); it then exits 0 when promoted and 1 when rolled back or failed. -o json or yaml prints the object instead.

${EXIT_CODES_HELP}`,
    )
    .argument("<name>", "the VoiceRollout")
    .option("-w, --watch", "redraw on every change until the rollout ends", false)
    .action(async (name: string, opts: { watch: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const { client, namespace } = connect(g, io);
      const first = await client.get(namespace, name);
      const render = (r: VoiceRollout) =>
        g.output === "table" ? renderRolloutStatus(r, Date.now()) : formatData(g.output, r);
      io.stdout(render(first));
      if (!opts.watch) return;
      let last = first;
      let shown = render(first);
      if (!TERMINAL_PHASES.has(first.status?.phase ?? "")) {
        let deleted = false;
        await client.watch(namespace, name, first.metadata.resourceVersion, (event) => {
          if (event === null) {
            deleted = true;
            return "stop";
          }
          last = event;
          const view = render(event);
          // Only a change people can see is drawn again (a watch also delivers, e.g., metadata updates).
          if (view !== shown) {
            shown = view;
            // At a terminal the view replaces the last one; in a pipe or a log, views follow each other.
            io.stdout(io.stdoutIsTTY && g.output === "table" ? `\u001b[H\u001b[2J${view}` : `\n${view}`);
          }
          return TERMINAL_PHASES.has(event.status?.phase ?? "") ? "stop" : "continue";
        });
        if (deleted) {
          io.stderr(`voicectl: rollout/${name} was deleted\n`);
          return setExit(1);
        }
      }
      setExit(last.status?.phase === "Promoted" ? 0 : 1);
    });

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
    sub.action(async (name: string, opts: { reason?: string; full?: boolean }, cmd: Command) => {
      const reason = opts.reason?.trim() ?? "";
      if (reason === "") {
        throw new UsageError(
          `${action} needs --reason TEXT: why you ${action}, recorded with your name in rollout/${name}'s history`,
        );
      }
      if (reason.length > 1024)
        throw new UsageError(`--reason: at most 1024 characters, got ${reason.length}`);
      const g = globals(cmd);
      const { client, namespace } = connect(g, io);
      const user = await client.whoAmI();
      const intent = `${action} rollout/${name}`;
      // Reading the rollout first: its phase says whether the action would do anything, and its uid makes
      // it the command's owner. A user who may not read it is told they may not act on it.
      const target = await client.get(namespace, name, { intent, user });
      const why = pointlessAction(action, target);
      if (why !== null) throw new UsageError(why);
      const full = action === "promote" && opts.full === true;
      const command = await client.createCommand(target, { action, reason, user, full });
      if (g.output !== "table") return printData(io, g.output, command);
      io.stdout(
        `${action}${full ? " --full" : ""} of rollout/${name} requested by ${user} (command ${command.metadata.name}); the operator applies it on its next reconcile\n`,
      );
    });
  }

  rollout
    .command("history")
    .summary("who approved, aborted, promoted or retried a rollout, when and why")
    .description(
      `List a rollout's approvals, aborts, promotions and retries from its status: when, who, the action, the step's index and the reason. Commands the operator has not applied yet are listed after them, and commands it set aside (for example an approve that arrived after the rollout moved on) with its reason.

${EXIT_CODES_HELP}`,
    )
    .argument("<name>", "the VoiceRollout")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      const { client, namespace } = connect(g, io);
      const target = await client.get(namespace, name);
      const rows = historyRows(target, await client.commands(namespace, name));
      if (g.output !== "table") return printData(io, g.output, { rollout: name, namespace, history: rows });
      io.stdout(renderHistory(target, rows, Date.now()));
    });
}
