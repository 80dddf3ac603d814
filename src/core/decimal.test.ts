import { describe, expect, it } from "vitest";
import { compare, decimalFromNumber, multiply, parseDecimal, subtract, toNumber } from "./decimal.js";

const d = (s: string) => {
  const x = parseDecimal(s);
  if (!x) throw new Error(`bad test decimal ${s}`);
  return x;
};

describe("decimal", () => {
  it.each([
    ["0.3", "0.2", "0.1", 0],
    ["0.71", "0.70", "0.01", 0],
    ["4.2", "4.1", "0.1", 0],
    ["1.5e-3", "0.0005", "0.001", 0],
    ["350", "349.999", "0.001", 0],
    ["0.72", "0.70", "0.01", 1],
  ])("%s - %s compared with %s is %i (exact, unlike binary floating point)", (a, b, budget, expected) => {
    expect(compare(subtract(d(a), d(b)), d(budget))).toBe(expected);
  });

  it("binary floating point gets these wrong, which is why decimals are used", () => {
    expect(4.2 - 4.1 > 0.1).toBe(true);
    expect(0.71 - 0.7 > 0.01).toBe(true);
  });

  it.each(["", "abc", "1.2.3", "--1", "1e", ".", "NaN", "Infinity", "0x10"])("rejects %j", (s) => {
    expect(parseDecimal(s)).toBeNull();
  });

  it("parses signs, exponents and leading zeros", () => {
    expect(toNumber(d("-0.015"))).toBeCloseTo(-0.015, 15);
    expect(toNumber(d("2E3"))).toBe(2000);
    expect(toNumber(d("007.50"))).toBe(7.5);
    expect(toNumber(d(".5"))).toBe(0.5);
  });

  it("multiplies exactly (relative budgets)", () => {
    expect(compare(multiply(d("0.1"), d("3.3")), d("0.33"))).toBe(0);
    expect(compare(multiply(decimalFromNumber(0.15), d("240")), d("36"))).toBe(0);
  });
});
