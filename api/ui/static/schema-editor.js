// The JSON Schema editor: instant JSON syntax feedback and a Format button for textareas marked
// data-schema. Whether the JSON is a schema a tool accepts is the server's answer (hx-post on the
// textarea, the domain's rules), swapped into the status next to it: one rule set decides.
(function () {
  "use strict";

  function statusOf(area) {
    return document.getElementById("schema-status-" + area.name);
  }

  function show(area, message) {
    var status = statusOf(area);
    if (!status) return;
    status.textContent = "";
    var span = document.createElement("span");
    span.className = "field-error schema-error";
    span.dataset.valid = "false";
    span.textContent = message;
    status.appendChild(span);
  }

  // JSON.parse only: true when the text parses (or is empty), else the message is shown at once
  function parses(area) {
    var text = area.value.trim();
    if (!text) return true;
    try {
      JSON.parse(text);
      return true;
    } catch (error) {
      area.setAttribute("aria-invalid", "true");
      show(area, area.name + ": not valid JSON (" + error.message + ")");
      return false;
    }
  }

  document.addEventListener("input", function (event) {
    var area = event.target;
    if (area.matches && area.matches("textarea[data-schema]")) parses(area);
  });

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-format]");
    if (!button) return;
    var area = document.getElementById(button.dataset.format);
    if (!area || !area.value.trim() || !parses(area)) return;
    area.value = JSON.stringify(JSON.parse(area.value), null, 2);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // the server's verdict marks the field too
  document.addEventListener("htmx:afterSwap", function (event) {
    var verdict = event.target.querySelector && event.target.querySelector("[data-valid]");
    if (!verdict || !event.target.id || event.target.id.indexOf("schema-status-") !== 0) return;
    var area = document.querySelector("textarea[name='" + verdict.dataset.field + "']");
    if (!area) return;
    if (verdict.dataset.valid === "true") area.removeAttribute("aria-invalid");
    else area.setAttribute("aria-invalid", "true");
  });
})();
