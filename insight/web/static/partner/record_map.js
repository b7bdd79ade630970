// A small map to place a record's point: click the map or drag the marker, and the longitude and
// latitude fields change with it; typing in the fields moves the marker. Without JavaScript (or Leaflet)
// the fields work as they are.
(function () {
  "use strict";
  var box = document.getElementById("record-map");
  var lonField = document.getElementById("longitude");
  var latField = document.getElementById("latitude");
  if (!box || !lonField || !latField || !window.L) { return; }
  box.hidden = false;
  var hint = document.getElementById("record-map-hint");
  if (hint) { hint.hidden = false; }
  var centre = [parseFloat(box.dataset.lat), parseFloat(box.dataset.lon)];
  var map = L.map(box, { keyboard: true }).setView(centre, 12);
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution || "" }).addTo(map);
  }
  var icon = L.icon({
    iconUrl: box.dataset.icon, iconRetinaUrl: box.dataset.icon2x, shadowUrl: box.dataset.shadow,
    iconSize: [25, 41], iconAnchor: [12, 41], shadowSize: [41, 41]
  });
  var marker = null;

  function typed() {
    var lon = parseFloat(lonField.value), lat = parseFloat(latField.value);
    return isFinite(lon) && isFinite(lat) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180 ? [lat, lon] : null;
  }
  function write(latlng) {
    lonField.value = latlng.lng.toFixed(6);
    latField.value = latlng.lat.toFixed(6);
    box.dataset.placed = lonField.value + "," + latField.value;
  }
  function place(latlng) {
    if (marker === null) {
      marker = L.marker(latlng, { draggable: true, icon: icon, alt: "Record location (drag to move)",
                                  title: "Record location", keyboard: true }).addTo(map);
      marker.on("dragend", function () { write(marker.getLatLng()); });
    } else {
      marker.setLatLng(latlng);
    }
  }
  var start = typed();
  if (start) { place(start); map.setView(start, 15); }
  map.on("click", function (e) { place(e.latlng); write(e.latlng); });
  function follow() {
    var here = typed();
    if (here) { place(here); map.panTo(here); }
  }
  lonField.addEventListener("change", follow);
  latField.addEventListener("change", follow);
})();
