// Live updates of a run's page: polls the run's JSON feed every 1.5 s while it is queued or
// running, and stops once it has ended (after showing the final state). No page reloads.
//
// HTML fragments in the feed (status line, results) are rendered and escaped by the server's
// templates; everything else is set with textContent, never as HTML.
"use strict";
(function () {
  const root = document.getElementById("sync-run");
  if (!root) {
    return;
  }
  const url = root.dataset.progressUrl;
  const interval = 1500;
  let etag = root.dataset.logEtag || "";
  const numbers = new Intl.NumberFormat();

  function byId(id) {
    return document.getElementById(id);
  }

  function render(data) {
    const status = byId("sync-status");
    if (status && data.status_html !== undefined) {
      status.innerHTML = data.status_html;
    }
    for (const [name, value] of Object.entries(data.stats || {})) {
      const cell = root.querySelector('[data-stat="' + name + '"]');
      if (cell) {
        cell.textContent = numbers.format(value);
        cell.parentElement.classList.toggle("sync-zero", value === 0);
      }
    }
    const diffCount = byId("sync-diff-count");
    if (diffCount && data.diff_count !== undefined) {
      diffCount.textContent = numbers.format(data.diff_count);
    }
    if (data.log !== undefined) {
      const log = byId("sync-log");
      if (log) {
        // Follow the end of the log unless the reader scrolled up to read something.
        const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
        log.textContent = data.log;
        if (atBottom) {
          log.scrollTop = log.scrollHeight;
        }
      }
      etag = data.log_etag;
    }
    if (data.final_html !== undefined) {
      const results = byId("sync-results");
      if (results) {
        results.innerHTML = data.final_html;
      }
    }
  }

  function showPollError(message) {
    const note = byId("sync-poll-error");
    if (note) {
      note.textContent = message;
      note.hidden = !message;
    }
  }

  async function poll() {
    try {
      const response = await fetch(url + "?log_etag=" + encodeURIComponent(etag), {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      const data = await response.json();
      showPollError("");
      render(data);
      if (!data.active) {
        root.dataset.active = "false";
        return; // ended: the page now shows the final state; stop polling
      }
    } catch (error) {
      showPollError("Live updates interrupted (" + error.message + "); retrying…");
    }
    window.setTimeout(poll, interval);
  }

  const log = byId("sync-log");
  if (log) {
    log.scrollTop = log.scrollHeight;
  }
  if (root.dataset.active === "true") {
    window.setTimeout(poll, interval);
  }
})();
