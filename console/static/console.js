// The console's only script of its own (htmx does the rest).
// A session that ended while the page was open: htmx requests get 401. Reloading the
// page lands on the login page (under whatever prefix a proxy serves the console).
document.addEventListener("htmx:responseError", (event) => {
  if (event.detail.xhr.status === 401) window.location.reload();
});
