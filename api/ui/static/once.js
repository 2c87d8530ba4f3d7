// Forms marked data-once are sent once: their submit buttons are disabled as the form is sent, so a double
// click sends one request (the server refuses a second copy anyway: the form's issue key is used once).
// A page shown again from the back/forward cache gets its buttons back. A static file: the CSP allows no inline script.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute || !form.hasAttribute("data-once")) return;
  if (form.getAttribute("data-sent")) {
    event.preventDefault();
    return;
  }
  form.setAttribute("data-sent", "yes");
  form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = true; });
});
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-once][data-sent]").forEach(function (form) {
    form.removeAttribute("data-sent");
    form.querySelectorAll("button[type=submit]").forEach(function (button) { button.disabled = false; });
  });
});
