// Progress for long uploads: send the form with XMLHttpRequest and show how much has gone.
// Without JavaScript the form posts normally and the server answers the same way.
(function () {
  "use strict";
  if (!window.XMLHttpRequest || !window.FormData || !window.DOMParser) { return; }

  function attach(form) {
    if (!form) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var box = document.getElementById("upload-progress");
      var bar = document.getElementById("upload-bar");
      var status = document.getElementById("upload-status");
      var button = form.querySelector("button[type=submit]");
      box.hidden = false;
      button.disabled = true;
      status.textContent = "Sending…";
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var percent = Math.round((e.loaded / e.total) * 100);
          bar.value = percent;
          status.textContent = percent < 100 ? "Sent " + percent + "%" : "Sent. Checking every row…";
        }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status < 400 && xhr.responseURL && xhr.responseURL !== form.action) {
          window.location.assign(xhr.responseURL);
          return;
        }
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = page.querySelector("main");
        if (!fresh) {
          status.textContent = "Something went wrong (" + xhr.status + "). Try again.";
          button.disabled = false;
          return;
        }
        document.querySelector("main").replaceWith(fresh);
        document.title = page.title;
        (document.querySelector(".error-summary") || fresh).focus();
        attach(document.getElementById("upload-form"));
      });
      xhr.addEventListener("error", function () {
        status.textContent = "The file could not be sent. Check your connection and try again.";
        button.disabled = false;
      });
      xhr.send(new FormData(form));
    });
  }

  attach(document.getElementById("upload-form"));
}());
