// The audit page's live tail: new entries arrive over SSE and are added at the top of the table.
// Values are set with textContent (never parsed as HTML). A static file: the CSP allows no inline script.
(function () {
  var table = document.getElementById("audit-log");
  var toggle = document.getElementById("live-tail");
  if (!table || !toggle || !window.EventSource) return;
  var source = null;
  var columns = ["position", "type", "kind", "stream_id", "version", "actor", "occurred_at"];
  function add(entry) {
    var row = document.createElement("tr");
    row.className = "live";
    columns.forEach(function (name) {
      var cell = document.createElement("td");
      cell.textContent = entry[name] === undefined || entry[name] === null ? "" : String(entry[name]);
      row.appendChild(cell);
    });
    var header = table.querySelector("tr");
    header.parentNode.insertBefore(row, header.nextSibling);
  }
  function start() {
    var url = toggle.getAttribute("data-stream");
    source = new EventSource(url);
    source.addEventListener("entry", function (event) { add(JSON.parse(event.data)); });
    source.addEventListener("ended", function () { stop(); toggle.textContent = "Live tail ended (signed out)"; });
    toggle.textContent = "Stop live tail";
    toggle.setAttribute("aria-pressed", "true");
  }
  function stop() {
    if (source) source.close();
    source = null;
    toggle.textContent = "Live tail";
    toggle.setAttribute("aria-pressed", "false");
  }
  toggle.addEventListener("click", function () { if (source) { stop(); } else { start(); } });
})();
