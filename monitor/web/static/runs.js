// ncii-monitor: a run's page follows the run live. While it is queued or running, the
// figures (elements with data-run-field="pages" etc.) are refreshed from GET
// /api/runs/{id} every 2 s; when it ends the page reloads to show its final state.
// Without this file the page has a "Refresh" link.
"use strict";

(() => {
  const box = document.querySelector("[data-run-id]");
  if (!box) return;
  const ACTIVE = new Set(["queued", "running"]);
  if (!ACTIVE.has(box.dataset.runStatus)) return;
  const url = `/api/runs/${encodeURIComponent(box.dataset.runId)}`;
  const EVERY = 2000;
  let failures = 0;

  const size = (value) => {
    let n = Number(value) || 0;
    for (const unit of ["B", "kB", "MB", "GB"]) {
      if (n < 1000 || unit === "GB") return unit === "B" ? `${n.toFixed(0)} B` : `${n.toFixed(1)} ${unit}`;
      n /= 1000;
    }
    return String(value);
  };
  const duration = (value) => {
    if (value === null || value === undefined) return "—";
    const whole = Math.floor(Number(value));
    if (whole < 60) return whole ? `${whole} s` : "<1 s";
    const minutes = Math.floor(whole / 60), secs = whole % 60;
    if (minutes < 60) return `${minutes} min ${String(secs).padStart(2, "0")} s`;
    return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
  };
  const when = (iso) => (iso ? `${iso.slice(0, 19).replace("T", " ")} UTC` : "—");

  const shown = (name, value, run) => {
    if (name === "bytes") return size(value);
    if (name === "duration_seconds") return duration(value);
    if (name.endsWith("_at")) return when(value);
    if (name === "status") return value + (run.cancel_requested && value === "running" ? " (cancelling)" : "");
    return value === null || value === undefined || value === "" ? "—" : String(value);
  };

  const update = (run) => {
    for (const el of document.querySelectorAll("[data-run-field]")) {
      const name = el.dataset.runField;
      if (!(name in run)) continue;
      const value = run[name];
      if (el instanceof HTMLProgressElement || el instanceof HTMLMeterElement) {
        el.value = Math.min(Number(value) || 0, el.max || Infinity);
        continue;
      }
      const text = shown(name, value, run);
      if (el.textContent !== text) el.textContent = text;
      if (name === "status" && el.classList.contains("badge")) el.className = `badge ${value}`;
    }
  };

  const tick = async () => {
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if ([401, 403, 404].includes(answer.status)) return; // signed out, or gone: stop
      if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
      const run = await answer.json();
      failures = 0;
      update(run);
      if (!ACTIVE.has(run.status)) {
        window.location.replace(window.location.pathname); // its final state, without the note
        return;
      }
    } catch (error) {
      failures += 1;
      if (failures >= 30) return; // a minute without an answer: leave it to "Refresh"
    }
    window.setTimeout(tick, EVERY);
  };
  window.setTimeout(tick, EVERY);
})();
