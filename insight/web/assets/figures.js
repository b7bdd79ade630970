/* The two-figures page: each choice applies as it changes (debounced), and keyboard focus stays on the
   control that changed when the form is redrawn. Native <select>s do not tell Dash of a change, so
   this reads the form and hands its values to the page's store. */
(function () {
  let timer = null;
  let lastId = null;
  function refocus(tries) {
    const active = document.activeElement;
    if (lastId && (!active || active === document.body)) {
      const again = document.getElementById(lastId);
      if (again) { again.focus(); return; }
    }
    if (tries > 0) { setTimeout(function () { refocus(tries - 1); }, 150); }
  }
  document.addEventListener("change", function (event) {
    const form = document.getElementById("figures-form");
    if (!form || !form.contains(event.target)) { return; }
    lastId = event.target.id;
    clearTimeout(timer);
    timer = setTimeout(function () {
      const values = {};
      form.querySelectorAll("select[data-field]").forEach(function (e) { values[e.dataset.field] = e.value; });
      values.at = Date.now();
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props("figures-choice", { data: values });
        refocus(20);
      }
    }, 300);
  });
})();
