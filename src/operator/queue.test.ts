import { describe, expect, it } from "vitest";
import { ManualClock } from "./memory.js";
import { backoffDelay, WorkQueue } from "./queue.js";

const BACKOFF = { baseMs: 100, maxMs: 1000 };

describe("work queue", () => {
  it("keeps one entry per key however often it is added", async () => {
    const q = new WorkQueue(new ManualClock(), BACKOFF);
    q.add("voice/a");
    q.add("voice/b");
    q.add("voice/a");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("voice/a");
    expect(await q.get()).toBe("voice/b");
    expect(q.length).toBe(0);
  });

  it("never hands out a key that is being processed; one added meanwhile runs again after done", async () => {
    const q = new WorkQueue(new ManualClock(), BACKOFF);
    q.add("voice/a");
    const key = await q.get();
    q.add("voice/a");
    q.add("voice/a");
    q.add("voice/b");
    // A second worker gets b, not a second copy of a.
    expect(await q.get()).toBe("voice/b");
    let next: string | undefined;
    void q.get().then((k) => (next = k));
    await Promise.resolve();
    expect(next).toBeUndefined();
    q.done(key!);
    await Promise.resolve();
    expect(next).toBe("voice/a");
    expect(q.isProcessing("voice/a")).toBe(true);
    q.done("voice/a");
    expect(q.length).toBe(0);
  });

  it("adds a key after a delay, the earliest of several delayed adds winning", async () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock, BACKOFF);
    q.addAfter("voice/a", 5000);
    q.addAfter("voice/a", 2000);
    q.addAfter("voice/a", 9000);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(1999);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe("voice/a");
    clock.advance(10_000);
    expect(q.length).toBe(0);
  });

  it.each([
    [0, 100],
    [1, 200],
    [3, 800],
    [4, 1000],
    [50, 1000],
  ])("after %i failures the delay is %i ms", (failures, delay) => {
    expect(backoffDelay(failures, BACKOFF)).toBe(delay);
  });

  it("backs off per key, doubling until forget() after a success", () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock, BACKOFF);
    expect([q.addRateLimited("voice/a"), q.addRateLimited("voice/a"), q.addRateLimited("voice/a")]).toEqual([
      100, 200, 400,
    ]);
    expect(q.addRateLimited("voice/b")).toBe(100);
    q.forget("voice/a");
    expect(q.failuresOf("voice/a")).toBe(0);
    expect(q.addRateLimited("voice/a")).toBe(100);
  });

  it("shutDown wakes waiting workers with no key and drops delayed adds", async () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock, BACKOFF);
    const waiting = q.get();
    q.addAfter("voice/a", 1000);
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(clock.pendingTimers).toBe(0);
    q.add("voice/a");
    expect(await q.get()).toBeUndefined();
  });
});
