import { Agent } from "node:https";
import { HttpMethod, RequestContext } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { PooledKubeConfig } from "./agents.js";

/** A kubeconfig for a server at 127.0.0.1 with a client certificate; the PEM bodies are only compared. */
function kubeconfig(cert: string, server = "https://127.0.0.1:6443"): PooledKubeConfig {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const kc = new PooledKubeConfig();
  kc.loadFromString(`apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", certificate-authority-data: ${b64("CA")} } }]
users: [{ name: u, user: { client-certificate-data: ${b64(cert)}, client-key-data: ${b64("KEY")} } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`);
  return kc;
}

async function agentFor(kc: PooledKubeConfig): Promise<Agent> {
  const context = new RequestContext("https://127.0.0.1:6443/api/v1/namespaces", HttpMethod.GET);
  await kc.applySecurityAuthentication(context);
  return context.getAgent() as Agent;
}

describe("PooledKubeConfig", () => {
  it("gives every request with the same TLS settings one keep-alive agent, with client-node's settings", async () => {
    const kc = kubeconfig("CERT-1");
    const first = await agentFor(kc);
    const second = await agentFor(kc);
    expect(second).toBe(first);
    expect(first.options.keepAlive).toBe(true);
    expect(String(first.options.cert)).toBe("CERT-1");
    expect(String(first.options.ca)).toBe("CA");
    kc.closeConnections();
  });

  it("a different client certificate gets its own agent; a few are kept", async () => {
    const kc = kubeconfig("CERT-1");
    const first = await agentFor(kc);
    const user = kc.getCurrentUser()!;
    (user as { certData?: string }).certData = Buffer.from("CERT-2").toString("base64");
    const rotated = await agentFor(kc);
    expect(rotated).not.toBe(first);
    expect(String(rotated.options.cert)).toBe("CERT-2");
    kc.closeConnections();
  });

  it("leaves plain-HTTP agents as client-node made them", async () => {
    const kc = new PooledKubeConfig();
    kc.loadFromClusterAndUser(
      { name: "c", server: "http://127.0.0.1:8080", skipTLSVerify: true },
      { name: "u" },
    );
    const context = new RequestContext("http://127.0.0.1:8080/api", HttpMethod.GET);
    await kc.applySecurityAuthentication(context);
    expect(context.getAgent()).not.toBeInstanceOf(Agent);
  });
});
