// What `voicectl rollout` subcommands do, apart from their registration (../rollout.ts) so that client-node,
// zod and yaml are loaded only when one of them runs, not when the command tree is built (bench/startup).
import type { Command } from "commander";
import { stringify } from "yaml";
import { contextNamespace, loadKubeConfig } from "../../../adapters/kubernetes/config.js";
import { RolloutClient } from "../../../adapters/kubernetes/rollout-client.js";
import { InvalidInputError, UsageError, WrongStateError } from "../../../core/errors.js";
import type { CommandAction, VoiceRollout } from "../../../core/resource/voicerollout.js";
import type { CliIo } from "../../io.js";
import {
  historyRows,
  renderHistory,
  renderRolloutList,
  renderRolloutStatus,
  TERMINAL_PHASES,
} from "../../output/rollout.js";
import { describeAccept, parseAccepts } from "./accept.js";
import { loadRolloutFile } from "./file.js";

type Format = "table" | "json" | "yaml";

interface GlobalOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly as?: string | undefined;
  readonly asGroup?: string[] | undefined;
  readonly namespace?: string | undefined;
  readonly output: Format;
}

const globals = (cmd: Command) => cmd.optsWithGlobals<GlobalOptions>();

function connect(g: GlobalOptions, io: CliIo): { client: RolloutClient; namespace: string } {
  const kc = loadKubeConfig(
    { kubeconfig: g.kubeconfig, context: g.context, as: g.as, asGroups: g.asGroup },
    io.env,
  );
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

export async function start(cmd: Command, io: CliIo): Promise<void> {
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
}

export async function list(opts: { allNamespaces: boolean }, cmd: Command, io: CliIo): Promise<void> {
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
}

export async function status(
  name: string,
  opts: { watch: boolean },
  cmd: Command,
  io: CliIo,
  setExit: (code: number) => void,
): Promise<void> {
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
}

export async function act(
  action: CommandAction,
  name: string,
  opts: { reason?: string; full?: boolean; accept?: string[]; margin?: string },
  cmd: Command,
  io: CliIo,
): Promise<void> {
  const reason = opts.reason?.trim() ?? "";
  if (reason === "") {
    throw new UsageError(
      `${action} needs --reason TEXT: why you ${action}, recorded with your name in rollout/${name}'s history`,
    );
  }
  if (reason.length > 1024) throw new UsageError(`--reason: at most 1024 characters, got ${reason.length}`);
  // Checked before anything is read from the cluster: a mistyped --accept is a usage error.
  const accept = parseAccepts(opts.accept ?? [], opts.margin);
  const g = globals(cmd);
  const { client, namespace } = connect(g, io);
  const user = await client.whoAmI();
  const intent = `${action} rollout/${name}`;
  // Reading the rollout first: its phase says whether the action would do anything, and its uid makes
  // it the command's owner. A user who may not read it is told they may not act on it.
  const target = await client.get(namespace, name, { intent, user });
  const why = pointlessAction(action, target);
  if (why !== null) throw new WrongStateError(why);
  const full = action === "promote" && opts.full === true;
  // What each acceptance means now, and a refusal for a critical metric, before anything is recorded.
  const accepting = accept.map((a) => describeAccept(a, target));
  const command = await client.createCommand(target, {
    action,
    reason,
    user,
    full,
    ...(accept.length > 0 ? { accept } : {}),
  });
  if (g.output !== "table") return printData(io, g.output, command);
  io.stdout(
    `${action}${full ? " --full" : ""} of rollout/${name} requested by ${user} (command ${command.metadata.name}); the operator applies it on its next reconcile\n` +
      accepting.map((a) => `accepting ${a}\n`).join(""),
  );
}

export async function history(name: string, cmd: Command, io: CliIo): Promise<void> {
  const g = globals(cmd);
  const { client, namespace } = connect(g, io);
  const target = await client.get(namespace, name);
  const rows = historyRows(target, await client.commands(namespace, name));
  if (g.output !== "table") return printData(io, g.output, { rollout: name, namespace, history: rows });
  io.stdout(renderHistory(target, rows, Date.now()));
}
