// client-node 1.x builds a new https.Agent for every API request (KubeConfig.applySecurityAuthentication calls
// its createAgent each time), so every request opens a new connection: a TCP and TLS handshake, and a new
// TLS SecureContext that parses the CA, the client certificate and its private key again. A CPU profile of
// the operator under bench/scale (100 rollouts, one replica) put about a third of its busy time there
// (tls/secure-context setKey, SecureContext, getPeerCertificate) for about 10 requests per pass.
//
// PooledKubeConfig keeps what client-node decided (CA, client certificate, key, verification, server name)
// and swaps its fresh agent for a keep-alive one shared by every request with the same TLS settings, so
// connections are reused. Settings that change (a client certificate an exec plugin rotates) get a new
// agent; the few last ones are kept. Proxy and plain-HTTP agents are left as client-node made them.
import { createHash } from "node:crypto";
import { Agent } from "node:https";
import type { RequestOptions } from "node:https";
import { KubeConfig, type RequestContext } from "@kubernetes/client-node";
import { impersonationHeaders, type Impersonation } from "./impersonation.js";

/** Distinct TLS settings kept at once; older agents are closed. */
const MAX_AGENTS = 4;

/** The agent options that make two connections interchangeable, as one string. */
function tlsKey(options: Agent["options"]): string {
  const hash = createHash("sha256");
  for (const field of [
    "ca",
    "cert",
    "key",
    "pfx",
    "passphrase",
    "servername",
    "rejectUnauthorized",
  ] as const) {
    const value: unknown = options[field];
    hash.update(`${field}=`);
    const values: unknown[] = Array.isArray(value) ? value : [value];
    for (const v of values) hash.update(Buffer.isBuffer(v) ? v : String(v ?? ""));
    hash.update("\0");
  }
  return hash.digest("hex");
}

export class PooledKubeConfig extends KubeConfig {
  private readonly agents = new Map<string, Agent>();
  private impersonation: Record<string, string> = {};

  /** Act as another user and groups on every request (kubectl's --as, --as-group). */
  impersonate(i: Impersonation): void {
    this.impersonation = impersonationHeaders(i);
  }

  // Watches take their headers from here rather than from a RequestContext.
  override async applyToFetchOptions(opts: RequestOptions): ReturnType<KubeConfig["applyToFetchOptions"]> {
    const init = await super.applyToFetchOptions(opts);
    return { ...init, headers: { ...(init.headers as Record<string, string>), ...this.impersonation } };
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    for (const [name, value] of Object.entries(this.impersonation)) context.setHeaderParam(name, value);
    const made = context.getAgent();
    // Exactly https.Agent: subclasses are proxy agents, whose connections are not ours to pool.
    if (!made || made.constructor !== Agent) return;
    context.setAgent(this.shared((made as Agent).options));
  }

  private shared(options: Agent["options"]): Agent {
    const key = tlsKey(options);
    let agent = this.agents.get(key);
    if (!agent) {
      agent = new Agent({ ...options, keepAlive: true });
      this.agents.set(key, agent);
      if (this.agents.size > MAX_AGENTS) {
        const [oldest, old] = this.agents.entries().next().value as [string, Agent];
        this.agents.delete(oldest);
        old.destroy();
      }
    }
    return agent;
  }

  /** Closes the pooled connections (at shutdown, so the process can exit without waiting on idle sockets). */
  closeConnections(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}
