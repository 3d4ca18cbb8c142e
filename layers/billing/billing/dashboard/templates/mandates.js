// The dashboard's one script (progressive: without it the link is selected and copied by hand).
// A button naming an input in data-copy copies its value and says so; served from /dashboard/static
// (the CSP allows this origin's scripts only, nothing inline).
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = button.getAttribute("data-done");
    });
  });
});
