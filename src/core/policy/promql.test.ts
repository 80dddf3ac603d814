import { describe, expect, it } from "vitest";
import { checkTemplate, renderTemplate } from "./promql.js";

const values = {
  version: "tts-v41|tts-v42",
  namespace: "voice-prod",
  window: "1m",
  sliceLabels: "voice_id, language",
};

describe("PromQL templates", () => {
  it("fills every placeholder", () => {
    const t =
      'sum by (le, version, {{sliceLabels}}) (increase(voice_ttfa_seconds_bucket{namespace="{{namespace}}", version=~"{{version}}"}[{{window}}]))';
    expect(renderTemplate(t, values).text).toBe(
      'sum by (le, version, voice_id, language) (increase(voice_ttfa_seconds_bucket{namespace="voice-prod", version=~"tts-v41|tts-v42"}[1m]))',
    );
  });

  it.each([
    ["sum by (le, {{sliceLabels}}) (x)", "sum by (le) (x)"],
    ["sum by ({{sliceLabels}}, le) (x)", "sum by (le) (x)"],
    ["sum by ({{sliceLabels}}) (x)", "sum by () (x)"],
  ])("an empty slice label list leaves %j valid", (t, out) => {
    expect(renderTemplate(t, { ...values, sliceLabels: "" }).text).toBe(out);
    expect(checkTemplate(t)).toEqual([]);
  });

  it.each([
    'sum by (le, version, {{sliceLabels}}) (increase(voice_ttfa_seconds_bucket{version=~"{{version}}"}[{{window}}]))',
    'sum by (version) (increase(voice_requests_total{outcome!="ok", namespace="{{namespace}}"}[{{window}}]))',
    "histogram_quantile(0.95, sum by (le) (rate(x_bucket[5m])))",
  ])("accepts %j", (t) => expect(checkTemplate(t)).toEqual([]));

  it.each([
    [
      'sum by (le (increase(x_bucket{version=~"{{version}}"}[{{window}}]))',
      /PromQL syntax error at column \d+/,
    ],
    ["rate(x[{{window}}]", /PromQL syntax error at column 19 \(at the end\)/],
    ['increase(x{version=~"{{version}}"}[{{window}}]) +', /PromQL syntax error at column 50 \(at the end\)/],
    [
      "increase(x[{{windw}}])",
      /unknown placeholder \{\{windw\}\}: expected \{\{version\}\}, \{\{namespace\}\}, \{\{window\}\}, \{\{sliceLabels\}\}/,
    ],
  ])("reports %j with the position in the template as written", (t, message) => {
    expect(checkTemplate(t).join("; ")).toMatch(message);
  });

  it("maps a position after a placeholder back to the template", () => {
    // The error sits after {{version}}, whose value is longer than the placeholder text.
    const t = 'x{version=~"{{version}}"} )';
    const [problem] = checkTemplate(t);
    expect(problem).toMatch(/column 27/);
  });
});
