// Reliquary web console: moments in the reader's time zone, and the print button.
// The server writes every moment as <time class="moment" datetime="...Z" title="... UTC">;
// this shows it in the browser's own time zone and keeps the UTC value in the title.
"use strict";

(function () {
  function localTimes() {
    let format;
    try {
      format = new Intl.DateTimeFormat(undefined, {
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
        timeZoneName: "short",
      });
    } catch (error) {
      return; // an old browser: the UTC text stays
    }
    for (const element of document.querySelectorAll("time.moment[datetime]")) {
      const moment = new Date(element.getAttribute("datetime"));
      if (Number.isNaN(moment.getTime())) continue;
      element.textContent = format.format(moment);
      element.dataset.local = "1";
    }
  }

  function printButtons() {
    for (const button of document.querySelectorAll("[data-print]")) {
      button.hidden = false;
      button.addEventListener("click", () => window.print());
    }
  }

  function start() {
    localTimes();
    printButtons();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
