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
  // Live page: plays the room's live stream by WHEP (an offer POSTed to /whep/<room>, the
  // answer back, the session's URL in Location), waits while the stream is off and retries
  // by itself, and ends the session (DELETE) when the page goes away.
  var live = document.getElementById("live");
  if (live && window.RTCPeerConnection) {
    var video = document.getElementById("live-video"), overlay = document.getElementById("live-overlay");
    var stateEl = document.getElementById("live-state"), badge = document.getElementById("live-badge");
    var soundOn = document.getElementById("live-sound"), soundOff = document.getElementById("live-mute");
    var pc = null, session = null, timer = null, playing = false, seen = false;
    var say = function (key) { stateEl.textContent = live.dataset["s" + key.charAt(0).toUpperCase() + key.slice(1)]; };
    var show = function (on) {
      playing = on; overlay.hidden = on; badge.hidden = !on;
      soundOn.hidden = !on || !video.muted; soundOff.hidden = !on || video.muted;
      live.dataset.state = on ? "playing" : "waiting";
    };
    var end = function () {
      if (session) { fetch(session, { method: "DELETE", keepalive: true }).catch(function () {}); session = null; }
      if (pc) { pc.onconnectionstatechange = null; pc.close(); pc = null; }
    };
    var retry = function (key, seconds) {
      end(); show(false); say(key);
      clearTimeout(timer); timer = setTimeout(start, seconds * 1000);
    };
    var start = function () {
      end();
      var me = pc = new RTCPeerConnection();
      me.addTransceiver("video", { direction: "recvonly" });
      me.addTransceiver("audio", { direction: "recvonly" });
      var stream = new MediaStream();
      me.ontrack = function (e) { stream.addTrack(e.track); video.srcObject = stream; };
      me.onconnectionstatechange = function () {
        if (me !== pc) return;
        var st = me.connectionState;
        if (st === "connected") { seen = true; show(true); say("playing"); video.play().catch(function () {}); }
        else if (st === "failed" || st === "closed" || st === "disconnected") retry(playing ? "ended" : "failed", 3);
      };
      me.createOffer().then(function (offer) { return me.setLocalDescription(offer); }).then(function () {
        return fetch("/whep/" + live.dataset.room, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: me.localDescription.sdp });
      }).then(function (r) {
        if (me !== pc) return;
        if (r.status === 201) {
          session = r.headers.get("Location");
          say("connecting");
          return r.text().then(function (sdp) { return me.setRemoteDescription({ type: "answer", sdp: sdp }); }).then(function () {
            // The bridge closing the session (the stream stopped) ends DTLS: start again.
            me.getReceivers().forEach(function (rx) {
              if (rx.transport) rx.transport.onstatechange = function () { if (rx.transport.state === "closed" && me === pc) retry("ended", 3); };
            });
          });
        }
        if (r.status === 404) return retry(seen ? "ended" : "waiting", 5);
        if (r.status === 503) return retry("full", 10);
        retry("failed", 10);
      }).catch(function () { if (me === pc) retry("failed", 10); });
    };
    soundOn.addEventListener("click", function () { video.muted = false; video.play().catch(function () {}); show(true); soundOff.focus(); });
    soundOff.addEventListener("click", function () { video.muted = true; show(true); soundOn.focus(); });
    document.getElementById("live-full").addEventListener("click", function () {
      var stage = video.parentNode; if (stage.requestFullscreen) stage.requestFullscreen().catch(function () {});
    });
    window.addEventListener("pagehide", end);
    // For tests and curious viewers: what is received (one entry per inbound track).
    window.pontLive = {
      get state() { return live.dataset.state || "waiting"; },
      get session() { return session; },
      stats: function () {
        if (!pc) return Promise.resolve([]);
        return pc.getStats().then(function (report) {
          var out = [];
          report.forEach(function (s) {
            if (s.type === "inbound-rtp") out.push({ kind: s.kind, packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0 });
          });
          return out;
        });
      }
    };
    start();
  }
})();
