// What `voicectl rollout` asks of the API server: read, list, watch and create VoiceRollouts, check that a
// RolloutPolicy exists, learn who we are (SelfSubjectReview), and record VoiceRolloutCommands. The CLI never
// changes a rollout's spec or status: the operator acts on commands, so the CLI only records them.
//
// Every failure leaves here as a typed error a person can act on (core/errors.ts): the API's 404, 403 and
// admission denials, and a server that cannot be reached, each in words naming what was being done and by
// whom. client-node's own errors carry the whole HTTP response, which is noise at a terminal.
import {
  ApiException,
  AuthenticationV1Api,
  CustomObjectsApi,
  Watch,
  type KubeConfig,
} from "@kubernetes/client-node";
import {
  FileAccessError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
  UsageError,
  WrongStateError,
  describeFsError,
  type Problem,
} from "../../core/errors.js";
import {
  API_VERSION,
  COMMAND_KIND,
  COMMAND_PLURAL,
  GROUP,
  POLICY_PLURAL,
  ROLLOUT_KIND,
  ROLLOUT_PLURAL,
  VERSION,
  type CommandAction,
  type VoiceRollout,
  type VoiceRolloutCommand,
  type VoiceRolloutCommandSpec,
  type VoiceRolloutSpec,
} from "../../core/resource/voicerollout.js";

/** Labels on commands, so `kubectl get voicerolloutcommands -l voicectl.dev/rollout=tts` finds them too. */
export const ROLLOUT_LABEL = "voicectl.dev/rollout";
export const ACTION_LABEL = "voicectl.dev/action";

/** Who wrote a field, in managedFields (client-node would say "node-fetch"). */
export const FIELD_MANAGER = "voicectl";

/** What was being attempted, for error messages: "approve rollout/tts", "list voicerollouts". */
export interface Attempt {
  readonly intent: string;
  readonly namespace?: string | undefined;
  /** Who asked, when we know it already (from a SelfSubjectReview). */
  readonly user?: string | undefined;
  /** The message for a 404, when one is expected (the rollout does not exist). */
  readonly notFound?: string | undefined;
}

/** A Kubernetes Status object, as much of it as we read. */
interface ApiStatus {
  readonly message?: string;
  readonly reason?: string;
  readonly details?: { readonly causes?: readonly { field?: string; message?: string; reason?: string }[] };
}

function statusOf(err: unknown): ApiStatus | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const body: unknown = (err as ApiException<unknown>).body;
  if (typeof body === "object" && body !== null) return body as ApiStatus;
  if (typeof body !== "string") return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === "object" && parsed !== null ? (parsed as ApiStatus) : undefined;
  } catch {
    return body.trim() === "" ? undefined : { message: body.trim().split("\n")[0] };
  }
}

/** The HTTP status of a failed call: ApiException's code, or a watch error's statusCode. */
export function httpStatusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

// Network failures from node-fetch (FetchError) or Node itself: the API is not there, or not the one we trust.
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function isNetworkError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { name?: unknown; code?: unknown; type?: unknown };
  if (e.name === "FetchError" || e.name === "AbortError" || e.name === "TimeoutError") return true;
  if (typeof e.code !== "string") return false;
  // TLS trouble (unknown CA, wrong host name) means we cannot talk to the API we were configured for.
  return NETWORK_CODES.has(e.code) || /^(ERR_TLS_|CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/.test(e.code);
}

/** node-fetch says "request to URL failed, reason: connect ECONNREFUSED ..."; keep the reason. */
function networkReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const m = /reason: (.*)$/s.exec(message);
  return (m?.[1] ?? message).split("\n")[0]!.trim();
}

/**
 * Turn anything client-node throws into a typed, readable error. `server` is the API's URL. Exported for the
 * unit tests; the client applies it to every call.
 */
export function translateApiError(err: unknown, server: string, attempt: Attempt): Error {
  if (
    err instanceof UsageError ||
    err instanceof NotFoundError ||
    err instanceof WrongStateError ||
    err instanceof ForbiddenError ||
    err instanceof UnavailableError ||
    err instanceof InvalidInputError ||
    err instanceof FileAccessError
  )
    return err;
  const where = attempt.namespace !== undefined ? ` in namespace ${attempt.namespace}` : "";
  const status = httpStatusOf(err);
  if (status === undefined) {
    if (isNetworkError(err))
      return new UnavailableError(`cannot reach the Kubernetes API at ${server}: ${networkReason(err)}`);
    // A client certificate or CA file the kubeconfig names, read only when the first request is made.
    const e = err as { code?: unknown; path?: unknown } | null;
    if (typeof e?.path === "string" && typeof e.code === "string")
      return new FileAccessError(e.path, `${describeFsError(err)} (named by the kubeconfig)`);
    return err instanceof Error ? err : new Error(String(err));
  }
  const body = statusOf(err);
  const serverMessage = body?.message ?? (err instanceof Error ? err.message.split("\n")[0]! : "");
  if (status === 401) {
    return new ForbiddenError(
      `unauthorized: the Kubernetes API at ${server} did not accept the kubeconfig's credentials (expired or wrong certificate or token?)`,
    );
  }
  const denial = /ValidatingAdmissionPolicy '([^']+)'.*?denied request: (.*)$/s.exec(serverMessage);
  if (status === 403 || denial) {
    const user = attempt.user ?? /User "([^"]+)"/.exec(serverMessage)?.[1] ?? "you";
    const why = denial
      ? `the admission policy ${denial[1]} denied it: ${denial[2]!.trim()}`
      : serverMessage || "the API server refused it";
    return new ForbiddenError(`forbidden: ${user} may not ${attempt.intent}${where}: ${why}`);
  }
  if (status === 404) {
    return new NotFoundError(
      attempt.notFound ?? `cannot ${attempt.intent}${where}: not found: ${serverMessage}`,
    );
  }
  if (status === 422 || status === 400) {
    const causes = body?.details?.causes ?? [];
    const problems: Problem[] =
      causes.length > 0
        ? causes.map((c) => ({
            file: "(API server)",
            path: c.field,
            message: c.message ?? c.reason ?? "invalid",
          }))
        : [{ file: "(API server)", message: serverMessage || `HTTP ${status}` }];
    return new InvalidInputError(problems);
  }
  if (status === 409) {
    return new UsageError(`cannot ${attempt.intent}${where}: ${serverMessage || "conflict"}`);
  }
  return new UnavailableError(
    `the Kubernetes API at ${server} failed to ${attempt.intent}${where}: HTTP ${status}${serverMessage ? `: ${serverMessage}` : ""}`,
  );
}

/** What a watch delivers: the object as it is now, or null once it was deleted. */
export type WatchEvent = VoiceRollout | null;

export class RolloutClient {
  private readonly objects: CustomObjectsApi;
  private readonly auth: AuthenticationV1Api;
  readonly server: string;

  constructor(private readonly kc: KubeConfig) {
    this.objects = kc.makeApiClient(CustomObjectsApi);
    this.auth = kc.makeApiClient(AuthenticationV1Api);
    this.server = kc.getCurrentCluster()?.server ?? "(no server)";
  }

  private async call<T>(attempt: Attempt, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw translateApiError(err, this.server, attempt);
    }
  }

  /** The authenticated user's name, as the API server sees it (the name RBAC and admission check). */
  async whoAmI(): Promise<string> {
    const review = await this.call({ intent: "ask who they are (SelfSubjectReview)" }, () =>
      this.auth.createSelfSubjectReview({
        body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
      }),
    );
    const name = review.status?.userInfo?.username;
    if (!name) throw new UnavailableError(`the Kubernetes API at ${this.server} did not say who the user is`);
    return name;
  }

  /** `as` says what the read is for (and by whom), for the error message when it is refused. */
  async get(
    namespace: string,
    name: string,
    as: { intent: string; user?: string } = { intent: `read rollout/${name}` },
  ): Promise<VoiceRollout> {
    return this.call(
      { ...as, namespace, notFound: `no VoiceRollout ${name} in namespace ${namespace}` },
      async () =>
        (await this.objects.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: ROLLOUT_PLURAL,
          name,
        })) as VoiceRollout,
    );
  }

  /** Every VoiceRollout of a namespace, or of all namespaces when `namespace` is undefined. */
  async list(namespace: string | undefined): Promise<VoiceRollout[]> {
    const list = (await this.call(
      { intent: "list voicerollouts", namespace: namespace ?? "(all namespaces)" },
      () =>
        namespace === undefined
          ? this.objects.listCustomObjectForAllNamespaces({
              group: GROUP,
              version: VERSION,
              plural: ROLLOUT_PLURAL,
            })
          : this.objects.listNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              namespace,
              plural: ROLLOUT_PLURAL,
            }),
    )) as { items?: VoiceRollout[] };
    return list.items ?? [];
  }

  /** Whether a RolloutPolicy of that name exists in the namespace. */
  async policyExists(namespace: string, name: string): Promise<boolean> {
    try {
      await this.objects.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: POLICY_PLURAL,
        name,
      });
      return true;
    } catch (err) {
      if (httpStatusOf(err) === 404) return false;
      throw translateApiError(err, this.server, { intent: `read rolloutpolicy/${name}`, namespace });
    }
  }

  /** Creates a rollout; null when one of that name exists already. */
  async create(
    namespace: string,
    metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> },
    spec: VoiceRolloutSpec,
  ): Promise<VoiceRollout | null> {
    const body = { apiVersion: API_VERSION, kind: ROLLOUT_KIND, metadata: { ...metadata, namespace }, spec };
    try {
      return (await this.objects.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: ROLLOUT_PLURAL,
        body,
        fieldManager: FIELD_MANAGER,
      })) as VoiceRollout;
    } catch (err) {
      if (httpStatusOf(err) === 409) return null;
      throw translateApiError(err, this.server, { intent: `create rollout/${metadata.name}`, namespace });
    }
  }

  /**
   * Records a command for the operator. Owned by the rollout, so deleting the rollout deletes its commands
   * (no blockOwnerDeletion: that would need permission to set finalizers on the rollout, which an on-call
   * approver should not need).
   */
  async createCommand(
    rollout: VoiceRollout,
    spec: {
      action: CommandAction;
      reason: string;
      user: string;
      full: boolean;
      accept?: VoiceRolloutCommandSpec["accept"] | undefined;
    },
  ): Promise<VoiceRolloutCommand> {
    const { name, namespace, uid } = rollout.metadata;
    const body = {
      apiVersion: API_VERSION,
      kind: COMMAND_KIND,
      metadata: {
        generateName: `${name}-${spec.action}-`,
        namespace,
        labels: { [ROLLOUT_LABEL]: name, [ACTION_LABEL]: spec.action },
        ownerReferences: uid ? [{ apiVersion: API_VERSION, kind: ROLLOUT_KIND, name, uid }] : [],
      },
      spec: { rollout: name, ...spec },
    };
    return this.call(
      { intent: `${spec.action} rollout/${name}`, namespace, user: spec.user },
      async () =>
        (await this.objects.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: COMMAND_PLURAL,
          body,
          fieldManager: FIELD_MANAGER,
        })) as VoiceRolloutCommand,
    );
  }

  /** The commands recorded for a rollout, oldest first. */
  async commands(namespace: string, rollout: string): Promise<VoiceRolloutCommand[]> {
    const list = (await this.call({ intent: `list the commands of rollout/${rollout}`, namespace }, () =>
      this.objects.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: COMMAND_PLURAL,
      }),
    )) as { items?: VoiceRolloutCommand[] };
    // Filtered on spec.rollout rather than the label: a command created with kubectl may lack the label.
    return (list.items ?? [])
      .filter((c) => c.spec?.rollout === rollout)
      .sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""));
  }

  /**
   * Watches one rollout from `resourceVersion` on, calling `onChange` with each new state (null once it is
   * deleted) until it returns "stop" or `signal` aborts. A watch the server closes is resumed where it
   * left off; when that point has been compacted away (410 Gone), the rollout is read again.
   */
  async watch(
    namespace: string,
    name: string,
    resourceVersion: string | undefined,
    onChange: (event: WatchEvent) => "stop" | "continue",
    signal?: AbortSignal,
  ): Promise<void> {
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${ROLLOUT_PLURAL}`;
    const attempt = { intent: `watch rollout/${name}`, namespace };
    let rv = resourceVersion;
    for (;;) {
      if (signal?.aborted) return;
      const outcome = await this.watchOnce(path, name, rv, signal, (type, obj) => {
        const next = obj?.metadata?.resourceVersion;
        if (next) rv = next;
        if (type === "BOOKMARK") return "continue";
        return onChange(type === "DELETED" ? null : obj);
      });
      if (outcome.kind === "stop") return;
      if (outcome.kind === "gone") {
        const fresh = await this.get(namespace, name);
        rv = fresh.metadata.resourceVersion;
        if (onChange(fresh) === "stop") return;
        continue;
      }
      if (outcome.kind === "error") throw translateApiError(outcome.err, this.server, attempt);
      // "closed": the server ended the watch (its timeout); resume from the last version seen.
    }
  }

  private watchOnce(
    path: string,
    name: string,
    rv: string | undefined,
    signal: AbortSignal | undefined,
    onEvent: (type: string, obj: VoiceRollout | null) => "stop" | "continue",
  ): Promise<{ kind: "stop" | "closed" | "gone" } | { kind: "error"; err: unknown }> {
    return new Promise((resolve) => {
      let controller: AbortController | undefined;
      let settled = false;
      const finish = (o: { kind: "stop" | "closed" | "gone" } | { kind: "error"; err: unknown }) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        controller?.abort();
        resolve(o);
      };
      const onAbort = () => finish({ kind: "stop" });
      signal?.addEventListener("abort", onAbort);
      new Watch(this.kc)
        .watch(
          path,
          { fieldSelector: `metadata.name=${name}`, resourceVersion: rv, allowWatchBookmarks: true },
          (type: string, obj: unknown) => {
            if (settled) return;
            if (type === "ERROR") {
              const status = obj as { code?: number; message?: string } | undefined;
              if (status?.code === 410) finish({ kind: "gone" });
              else
                finish({
                  kind: "error",
                  err: Object.assign(new Error(status?.message ?? "watch error"), {
                    statusCode: status?.code,
                  }),
                });
              return;
            }
            if (onEvent(type, obj as VoiceRollout | null) === "stop") finish({ kind: "stop" });
          },
          (err: unknown) => {
            if (!err) finish({ kind: "closed" });
            else if (httpStatusOf(err) === 410) finish({ kind: "gone" });
            else finish({ kind: "error", err });
          },
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish({ kind: "error", err }),
        );
    });
  }
}
