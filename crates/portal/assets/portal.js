// The portal's small enhancements, one file (the Content-Security-Policy allows no inline
// script). Every page works without it; each part runs only where its elements are.
(function () {
  "use strict";
  // Watch page: "copy the download link".
  var copy = document.getElementById("copy");
  if (copy) {
    copy.addEventListener("click", function () {
      var s = document.getElementById("copy-status");
      navigator.clipboard.writeText(copy.dataset.url).then(function () { s.textContent = copy.dataset.done; });
    });
  }
  // Planning form: shows the end time as the start or the duration change.
  var time = document.getElementById("f-time"), dur = document.getElementById("f-duration"), out = document.getElementById("f-end");
  if (time && dur && out) {
    var update = function () {
      var m = /^(\d\d):(\d\d)/.exec(time.value);
      if (!m) { out.value = ""; return; }
      var t = (+m[1] * 60 + +m[2] + +dur.value) % 1440;
      out.value = String(Math.floor(t / 60)).padStart(2, "0") + ":" + String(t % 60).padStart(2, "0");
    };
    time.addEventListener("input", update); dur.addEventListener("change", update);
  }
})();
