/* Map styling functions for dash-leaflet, referenced from Python as {"variable": "insightMap.<name>"}. */
window.insightMap = {
  styleArea: function (feature, context) {
    const h = context.hideout || {};
    const code = feature.properties.code;
    const v = h.values ? h.values[code] : null;
    let fill = "#f3f2f1";
    if (v !== null && v !== undefined && h.breaks) {
      for (let i = 0; i < h.breaks.length; i++) {
        if (v <= h.breaks[i] + 1e-9) { fill = h.colours[i]; break; }
      }
    }
    const selected = h.selected && h.selected === code;
    return {
      color: selected ? "#d4351c" : "#1d3557",
      weight: selected ? 4 : 1.2,
      fillColor: fill,
      fillOpacity: h.values ? 0.75 : 0.15,
    };
  },
  pointToLayer: function (feature, latlng, context) {
    const h = context.hideout || {};
    return L.circleMarker(latlng, {
      radius: h.radius || 5, color: "#0b0c0c", weight: 1, fillColor: h.colour || "#3182bd", fillOpacity: 0.85,
    });
  },
  clusterToLayer: function (feature, latlng, index, context) {
    const h = context.hideout || {};
    const n = feature.properties.point_count;
    const size = n < 100 ? 30 : n < 1000 ? 38 : 46;
    const icon = L.divIcon({
      html: '<div style="background:' + (h.colour || "#3182bd") + '"><span>' + n + "</span></div>",
      className: "cluster", iconSize: L.point(size, size),
    });
    return L.marker(latlng, { icon: icon, title: n + " points; select to zoom in" });
  },
  bindPopup: function (feature, layer) {
    const p = feature.properties || {};
    if (p.cluster) { return; }
    /* every text property arrives HTML-escaped from the server */
    let text = "<strong>" + (p.name || "(no name)") + "</strong>";
    const line = function (label, value) { if (value) { text += "<br>" + label + value; } };
    line("Category: ", p.category);
    line("Kind: ", p.kind_label);
    if (p.month) { text += "<br>" + p.month; }
    if (p.website && /^https?:\/\//i.test(p.website)) {
      text += '<br>Website: <a href="' + p.website + '" rel="noopener noreferrer" target="_blank">' + p.website + "</a>";
    } else { line("Website: ", p.website); }
    line("Phone: ", p.phone);
    if (p.email && /^[^\s"<>]+@[^\s"<>]+$/.test(p.email)) {
      text += '<br>Email: <a href="mailto:' + p.email + '">' + p.email + "</a>";
    }
    line("Owner: ", p.owner);
    if (p.checked) { line("Last checked: ", p.checked); } else { line("Last updated: ", p.updated); }
    if (p.stale) { text += "<br><em>Not checked as still true recently: may be out of date</em>"; }
    layer.bindPopup(text);
  },
  bindAreaTooltip: function (feature, layer) {
    const p = feature.properties || {};
    const t = document.createElement("span");
    t.textContent = p.name + " (" + p.code + ")";
    layer.bindTooltip(t.innerHTML, { sticky: true });
  },
};

/* Choices apply a moment after the last change: the hidden 'apply-now' button tells Dash to read them. */
(function () {
  let timer = null;
  document.addEventListener("change", function (event) {
    const target = event.target;
    if (!target || !target.closest || !target.closest("#map-controls") || target.id === "search") { return; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      const button = document.getElementById("apply-now");
      if (button) { button.click(); }
    }, 400);
  });
  /* Skip links move focus themselves: changing the address's #fragment would make Dash's router redraw
     the page and lose the focus it had just moved. */
  document.addEventListener("click", function (event) {
    const link = event.target && event.target.closest ? event.target.closest("a.in-page-skip") : null;
    if (!link) { return; }
    const target = document.getElementById((link.getAttribute("href") || "").replace(/^#/, ""));
    if (!target) { return; }
    event.preventDefault();
    target.focus();
    target.scrollIntoView({ block: "start" });
  });
  /* From the search box, the down arrow moves to the first suggestion; up and down move between them. */
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (!target || (event.key !== "ArrowDown" && event.key !== "ArrowUp")) { return; }
    const list = document.getElementById("search-results");
    if (!list) { return; }
    const links = Array.from(list.querySelectorAll("a"));
    if (target.id === "search" && event.key === "ArrowDown" && links.length) {
      links[0].focus(); event.preventDefault(); return;
    }
    const at = links.indexOf(target);
    if (at < 0) { return; }
    const next = event.key === "ArrowDown" ? links[at + 1] : (links[at - 1] || document.getElementById("search"));
    if (next) { next.focus(); event.preventDefault(); }
  });
})();
