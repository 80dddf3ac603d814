import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import {
  FileAccessError,
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  UnavailableError,
} from "../../core/errors.js";
import { translateApiError } from "./rollout-client.js";

const SERVER = "https://127.0.0.1:6443";

/** What client-node throws for an HTTP error: the API server's Status as text. */
function apiError(code: number, status: Record<string, unknown>): ApiException<string> {
  return new ApiException(
    code,
    "Unknown API Status Code!",
    JSON.stringify({ kind: "Status", code, ...status }),
    {},
  );
}

describe("translateApiError", () => {
  it("404 on the rollout: no VoiceRollout NAME in namespace N (not found, not a usage error)", () => {
    const err = translateApiError(
      apiError(404, { reason: "NotFound", message: 'voicerollouts.voicectl.dev "tts" not found' }),
      SERVER,
      {
        intent: "read rollout/tts",
        namespace: "voice-prod",
        notFound: "no VoiceRollout tts in namespace voice-prod",
      },
    );
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe("no VoiceRollout tts in namespace voice-prod");
  });

  it("403 from RBAC: the user, what they tried, and the server's words", () => {
    const message =
      'voicerollouts.voicectl.dev "tts" is forbidden: User "bob" cannot get resource "voicerollouts" in API group "voicectl.dev" in the namespace "voice-prod"';
    const err = translateApiError(apiError(403, { reason: "Forbidden", message }), SERVER, {
      intent: "approve rollout/tts",
      namespace: "voice-prod",
    });
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err.message).toBe(
      `forbidden: bob may not approve rollout/tts in namespace voice-prod: ${message}`,
    );
  });

  it("an admission policy's denial: its name and its message", () => {
    const message =
      `voicerolloutcommands.voicectl.dev "tts-approve-x7k2p" is forbidden: ValidatingAdmissionPolicy ` +
      `'voicerolloutcommands.voicectl.dev' with binding 'voicerolloutcommands.voicectl.dev' denied request: ` +
      `user "bob" may not approve voicerollout tts in namespace voice-prod`;
    const err = translateApiError(apiError(403, { reason: "Forbidden", message }), SERVER, {
      intent: "approve rollout/tts",
      namespace: "voice-prod",
      user: "bob",
    });
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err.message).toBe(
      "forbidden: bob may not approve rollout/tts in namespace voice-prod: the admission policy " +
        'voicerolloutcommands.voicectl.dev denied it: user "bob" may not approve voicerollout tts in namespace voice-prod',
    );
  });

  it("401: the credentials were not accepted", () => {
    const err = translateApiError(new ApiException(401, "Unauthorized", undefined, {}), SERVER, {
      intent: "list voicerollouts",
    });
    expect(err).toBeInstanceOf(ForbiddenError);
    expect(err.message).toMatch(
      /^unauthorized: the Kubernetes API at https:\/\/127\.0\.0\.1:6443 did not accept/,
    );
  });

  it("422: the server's causes as problems with field paths", () => {
    const err = translateApiError(
      apiError(422, {
        reason: "Invalid",
        message: 'VoiceRollout.voicectl.dev "tts" is invalid',
        details: {
          causes: [
            { reason: "FieldValueInvalid", field: "spec.steps[0].setWeight", message: "must be <= 100" },
          ],
        },
      }),
      SERVER,
      { intent: "create rollout/tts", namespace: "voice-prod" },
    );
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(err.message).toBe("(API server): spec.steps[0].setWeight: must be <= 100");
  });

  it("5xx: the API is failing, with its message", () => {
    const err = translateApiError(apiError(503, { message: "etcdserver: request timed out" }), SERVER, {
      intent: "list voicerollouts",
      namespace: "voice-prod",
    });
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe(
      "the Kubernetes API at https://127.0.0.1:6443 failed to list voicerollouts in namespace voice-prod: HTTP 503: etcdserver: request timed out",
    );
  });

  it.each([
    [
      "connection refused",
      "request to https://127.0.0.1:6443/apis failed, reason: connect ECONNREFUSED 127.0.0.1:6443",
      "ECONNREFUSED",
      "connect ECONNREFUSED 127.0.0.1:6443",
    ],
    [
      "a timeout",
      "request to https://10.1.2.3/apis failed, reason: connect ETIMEDOUT 10.1.2.3:443",
      "ETIMEDOUT",
      "connect ETIMEDOUT 10.1.2.3:443",
    ],
    [
      "an unknown CA",
      "request to https://127.0.0.1:6443/apis failed, reason: self-signed certificate in certificate chain",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "self-signed certificate in certificate chain",
    ],
  ])("%s: cannot reach the Kubernetes API at URL", (_what, message, code, reason) => {
    const fetchError = Object.assign(new Error(message), {
      name: "FetchError",
      type: "system",
      code,
      errno: code,
    });
    const err = translateApiError(fetchError, SERVER, { intent: "list voicerollouts" });
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err.message).toBe(`cannot reach the Kubernetes API at ${SERVER}: ${reason}`);
  });

  it("a certificate file the kubeconfig names but that is missing: the file", () => {
    const fsError = Object.assign(new Error("ENOENT: no such file or directory, open '/x/user.crt'"), {
      code: "ENOENT",
      path: "/x/user.crt",
    });
    const err = translateApiError(fsError, SERVER, { intent: "list voicerollouts" });
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toBe("/x/user.crt: no such file (named by the kubeconfig)");
  });

  it("leaves anything else alone: a bug stays a bug", () => {
    const bug = new TypeError("x is undefined");
    expect(translateApiError(bug, SERVER, { intent: "list voicerollouts" })).toBe(bug);
  });
});
