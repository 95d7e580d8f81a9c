// ncii-monitor: small progressive enhancements. Every page works without this file.
"use strict";

// Forms with data-confirm ask first (delete, cancel...).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});

// "Back" links on error pages: CSP forbids javascript: URLs.
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a[data-back]");
  if (link) { event.preventDefault(); history.back(); }
});

// The CSRF token for fetch() calls that change something.
window.ncii = {
  csrf: () => document.body.dataset.csrf || "",
  post: (url, body) => fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": window.ncii.csrf() },
    body: JSON.stringify(body || {}),
  }),
};
