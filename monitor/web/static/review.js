// The review queue's keyboard and in-place decisions. Everything also works without this
// file: the forms post and come back, "Reveal" is a link to the hit's page.
"use strict";

(() => {
  const queue = document.getElementById("review-items");
  const single = document.getElementById("review-hit");
  const root = queue || single;
  if (!root) return;
  const status = document.getElementById("review-status");
  const help = document.getElementById("review-help");

  const items = () => Array.from(root.querySelectorAll(".review-item"));
  const current = () => root.querySelector(".review-item.current");

  function say(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.className = bad ? "error" : (text ? "done" : "");
  }

  function makeCurrent(item, scroll) {
    for (const other of items()) other.classList.toggle("current", other === item);
    if (item && scroll) item.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  function move(step) {
    const all = items();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + step));
    makeCurrent(all[next], true);
  }

  // -- previews: blurred until revealed, by a click or "v" --------------------------------------

  function setRevealed(item, on) {
    const box = item && item.querySelector(".preview");
    if (!box) return;
    const img = box.querySelector("img");
    const link = item.querySelector("a[data-reveal]");
    img.src = img.dataset.src + (on ? "?reveal=1" : "");
    img.alt = on ? "Greyscale preview of the image" : "Blurred greyscale preview of the image";
    box.classList.toggle("revealed", on);
    box.classList.remove("failed");
    const veil = box.querySelector(".veil");
    if (veil) veil.textContent = on ? "Revealed" : "Blurred";
    if (link) link.textContent = on ? "Blur again" : "Reveal";
  }

  function toggleReveal(item) {
    const box = item && item.querySelector(".preview");
    if (box) setRevealed(item, !box.classList.contains("revealed"));
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[data-reveal]");
    if (link && root.contains(link)) {
      event.preventDefault();
      const item = link.closest(".review-item");
      makeCurrent(item, false);
      toggleReveal(item);
      return;
    }
    const item = event.target.closest && event.target.closest(".review-item");
    if (item && root.contains(item)) makeCurrent(item, false);
  });

  // A preview that could not be made (gone at the source, not an image...): say so.
  document.addEventListener("error", (event) => {
    const img = event.target;
    if (!(img instanceof HTMLImageElement) || !img.closest(".preview")) return;
    const box = img.closest(".preview");
    box.classList.add("failed");
    const veil = box.querySelector(".veil");
    if (veil) veil.textContent = "No preview: the source did not give one (gone, not an image, or refused). The review can go on.";
  }, true);

  // -- decisions ----------------------------------------------------------------------------------

  function ids(item) {
    return (item.dataset.hitIds || "").split(",").filter(Boolean).map(Number);
  }

  function submitForm(item, action) {
    const button = item.querySelector(`button[data-decide="${action}"]`);
    if (button) button.form.requestSubmit(button);
  }

  async function decide(item, action, reason) {
    if (!item) return;
    if (!queue) { // the hit's own page: the plain form, which comes back here
      if (action === "reject" && reason) item.querySelector(".reject-form input[name=reason]").value = reason;
      submitForm(item, action);
      return;
    }
    const body = { hit_ids: ids(item) };
    if (action === "reject" && reason) body.reason = reason;
    let answer;
    try {
      answer = await window.ncii.post(`/api/review/${action}`, body);
    } catch (err) {
      say("Could not reach the server: nothing was decided. Try again.", true);
      return;
    }
    const data = await answer.json().catch(() => ({}));
    if (!answer.ok) {
      const detail = typeof data.detail === "string" ? data.detail : `error ${answer.status}`;
      say(`Not decided: ${detail}`, true);
      return;
    }
    say(data.note || `${action}ed`);
    if (queue.dataset.status === "all") {
      for (const badge of item.querySelectorAll(".item-head .badge")) badge.remove();
      const mark = document.createElement("span");
      mark.className = `badge ${action === "confirm" ? "confirmed" : "rejected"}`;
      mark.textContent = action === "confirm" ? "confirmed" : "rejected";
      item.querySelector(".item-head").append(mark);
      move(1);
      return;
    }
    const all = items();
    const at = all.indexOf(item);
    item.remove();
    const left = items();
    const figure = document.querySelector("[data-figure=items]");
    if (figure) figure.textContent = String(Math.max(0, Number(figure.textContent) - 1));
    const hitsFigure = document.querySelector("[data-figure=hits]");
    if (hitsFigure) hitsFigure.textContent = String(Math.max(0, Number(hitsFigure.textContent) - ids(item).length));
    if (left.length) {
      makeCurrent(left[Math.min(at, left.length - 1)], true);
    } else {
      say(`${data.note || "Decided"}. Nothing left on this page: reload for more.`);
    }
  }

  function reject(item) {
    if (!item) return;
    const reason = window.prompt("Reject this item: not her image. Reason (optional):", "");
    if (reason === null) return; // cancelled
    decide(item, "reject", reason.trim());
  }

  // -- keys ---------------------------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    const item = current();
    switch (event.key) {
      case "j": case "ArrowDown": move(1); break;
      case "k": case "ArrowUp": move(-1); break;
      case "c": decide(item, "confirm"); break;
      case "r": reject(item); break;
      case "v": toggleReveal(item); break;
      case "x": {
        const box = item && item.querySelector("input.select");
        if (box) box.checked = !box.checked;
        break;
      }
      case "?": if (help) help.hidden = !help.hidden; break;
      case "Escape": if (help) help.hidden = true; break;
      default: return;
    }
    event.preventDefault();
  });

  if (!current()) makeCurrent(items()[0], false);
})();
