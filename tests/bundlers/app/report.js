// Page side: publishes a verdict as window.__result (read by run-chromium.mjs) and on the page.
export function report(result) {
  globalThis.__result = result;
  document.title = result.ok ? "pass" : "FAIL";
  const pre = document.createElement("pre");
  pre.textContent = JSON.stringify(result, null, 2);
  document.body.append(pre);
  console.log(`[bundlers] ${JSON.stringify(result)}`);
}

export const wsUrl = () => new URLSearchParams(location.search).get("ws") ?? "ws://127.0.0.1:15673";

/**
 * Runs the round trip in a worker: posts the relay URL at once (a worker whose handler is
 * registered late loses this first message, or a SharedWorker its connect event) and waits,
 * bounded, for the worker's verdict.
 */
export function inWorker(port, label, ws, ms = 40_000) {
  return new Promise((resolve) => {
    const timer = setTimeout(
      () => resolve({ ok: false, label, error: `no answer from the ${label} after ${ms} ms (first message lost?)` }),
      ms,
    );
    port.onmessage = (e) => {
      clearTimeout(timer);
      resolve(e.data);
    };
    port.onmessageerror = () => {
      clearTimeout(timer);
      resolve({ ok: false, label, error: "messageerror" });
    };
    port.postMessage({ ws, label });
  });
}

/** Both (or all) results passed: one verdict of several runs. */
export function combine(results) {
  return { ok: results.every((r) => r.ok), runs: results };
}
