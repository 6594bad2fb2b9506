// Télésoin video room: WebRTC between the practitioner's browser and the patient's, signalled through
// our own server's WebSocket (the page's data-signal path). The streams go from the camera to the
// other browser and to the screen; our server never receives them. The practitioner's browser may
// record the session (MediaRecorder) once the server accepted it (the patient's consent, asked at
// that moment: the #tc-recording panel, swapped by htmx, says "on"); the file is saved on the
// practitioner's computer and sent nowhere. The server tells both sockets, and the patient's page
// shows that the session is being recorded. Texts come from the page (translated there); this file
// holds none.
(function () {
  "use strict";
  var root = document.getElementById("tc-room");
  if (!root) { return; }
  var text = root.dataset;
  var status = document.getElementById("tc-room-status");
  var local = document.getElementById("tc-local");
  var remote = document.getElementById("tc-remote");
  var controls = document.getElementById("tc-controls");
  var practitioner = text.role === "practitioner";
  var socket = null, pc = null, stream = null, timer = null, stats = null, retries = 0, closedForGood = false;
  var notice = document.getElementById("tc-recording-notice");
  var recorder = null, chunks = [], mixer = null, wanted = false;

  function say(key) {
    status.textContent = text[key] || "";
    root.dataset.phase = key;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(message)); }
  }

  function supported() {
    return !!(window.RTCPeerConnection && window.WebSocket && navigator.mediaDevices &&
              navigator.mediaDevices.getUserMedia);
  }

  function camera() {
    if (stream) { return Promise.resolve(stream); }
    return navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } })
      .then(function (s) {
        stream = s;
        local.srcObject = s;
        controls.hidden = false;
        return s;
      });
  }

  function hangUp() {
    if (stats) { clearInterval(stats); stats = null; }
    if (timer) { clearTimeout(timer); timer = null; }
    if (pc) { pc.close(); pc = null; }
    remote.srcObject = null;
    root.dataset.connection = "closed";
  }

  function watchStats() {
    stats = setInterval(function () {
      if (!pc) { return; }
      pc.getStats().then(function (report) {
        var received = 0, sent = 0;
        report.forEach(function (s) {
          if (s.type === "inbound-rtp" && s.kind === "video") { received += s.bytesReceived || 0; }
          if (s.type === "outbound-rtp" && s.kind === "video") { sent += s.bytesSent || 0; }
        });
        root.dataset.inboundBytes = String(received);
        root.dataset.outboundBytes = String(sent);
      });
    }, 1000);
  }

  function connect(iceServers, initiator) {
    hangUp();
    say("msgConnecting");
    pc = new RTCPeerConnection({ iceServers: iceServers || [] });
    if (stream) {
      stream.getTracks().forEach(function (track) { pc.addTrack(track, stream); });
    } else { // no camera or microphone here: still see and hear the other side
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.onicecandidate = function (e) {
      if (e.candidate && e.candidate.candidate) {
        send({ type: "candidate", candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid,
               sdpMLineIndex: e.candidate.sdpMLineIndex });
      }
    };
    pc.ontrack = function (e) {
      remote.srcObject = e.streams[0];
      if (wanted && !recorder && e.track.kind === "video") { startRecorder(); }
    };
    pc.onconnectionstatechange = function () {
      if (!pc) { return; }
      root.dataset.connection = pc.connectionState;
      if (pc.connectionState === "connected") {
        if (timer) { clearTimeout(timer); timer = null; }
        say("msgConnected");
        send({ type: "state", state: "connected" });
      } else if (pc.connectionState === "disconnected") {
        say("msgInterrupted");
        send({ type: "state", state: "interrupted" });
      } else if (pc.connectionState === "failed") {
        say("msgFailed");
        send({ type: "state", state: "failed" });
      }
    };
    // No connection after 20 s: the network (a firewall, a NAT without TURN) is in the way.
    timer = setTimeout(function () {
      if (pc && pc.connectionState !== "connected") { say("msgFailed"); send({ type: "state", state: "failed" }); }
    }, 20000);
    watchStats();
    if (initiator) {
      pc.createOffer().then(function (offer) { return pc.setLocalDescription(offer); })
        .then(function () { send({ type: "offer", sdp: pc.localDescription.sdp }); });
    }
  }

  function onMessage(event) {
    var m;
    try { m = JSON.parse(event.data); } catch (e) { return; }
    if (m.type === "peer") {
      if (!m.present) {
        hangUp();
        // alone in the room: the practitioner waits for the patient; the patient waits to be
        // admitted (told so on entering the waiting room), or was left once admitted
        say(practitioner ? "msgWaitingPeer" : (text.started === "1" ? "msgPeerLeft" : "msgWaitingAdmission"));
      } else if (practitioner && text.status === "scheduled") {
        window.location.reload(); // the patient arrived in the waiting room: show the admission button
      }
    } else if (m.type === "ready") {
      if (text.started !== "1") { text.started = "1"; say("msgAdmitted"); }
      var waiting = document.getElementById("tc-waiting"); // the waiting-room text is over once admitted
      if (waiting) { waiting.hidden = true; }
      connect(m.iceServers, m.initiator);
    } else if (m.type === "offer" && pc) {
      pc.setRemoteDescription({ type: "offer", sdp: m.sdp })
        .then(function () { return pc.createAnswer(); })
        .then(function (answer) { return pc.setLocalDescription(answer); })
        .then(function () { send({ type: "answer", sdp: pc.localDescription.sdp }); });
    } else if (m.type === "answer" && pc) {
      pc.setRemoteDescription({ type: "answer", sdp: m.sdp });
    } else if (m.type === "candidate" && pc) {
      pc.addIceCandidate({ candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex })
        .catch(function () { /* a candidate for a closed connection */ });
    } else if (m.type === "bye") {
      hangUp();
      say("msgPeerLeft");
    } else if (m.type === "recording") { // the server's word: the practitioner's browser records
      if (notice) { notice.hidden = !m.on; }
      root.dataset.recording = m.on ? "on" : "off";
    }
  }

  // --- recording, in the practitioner's browser only ------------------------------------------------

  function recordable() { return !!(window.MediaRecorder && window.MediaStream); }

  function recordedStream() {
    // the other person's picture, and both voices mixed (a recorder keeps a single audio track)
    var other = remote.srcObject, tracks = [];
    if (other) { other.getVideoTracks().forEach(function (t) { tracks.push(t); }); }
    var Context = window.AudioContext || window.webkitAudioContext;
    if (Context) {
      mixer = new Context();
      var into = mixer.createMediaStreamDestination();
      [stream, other].forEach(function (s) {
        if (s && s.getAudioTracks().length) { mixer.createMediaStreamSource(s).connect(into); }
      });
      into.stream.getAudioTracks().forEach(function (t) { tracks.push(t); });
    }
    return new MediaStream(tracks);
  }

  function startRecorder() {
    if (recorder) { return true; }
    if (!recordable()) { return false; }
    if (!remote.srcObject) { return true; } // starts when the other person's video arrives (ontrack)
    var types = ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"];
    var type = types.filter(function (t) { return MediaRecorder.isTypeSupported(t); })[0];
    try {
      recorder = new MediaRecorder(recordedStream(), type ? { mimeType: type } : undefined);
    } catch (e) { recorder = null; return false; }
    chunks = [];
    recorder.ondataavailable = function (e) { if (e.data && e.data.size) { chunks.push(e.data); } };
    recorder.start(1000); // a chunk a second: what was recorded is saved even if the page closes
    root.dataset.recorder = "recording";
    return true;
  }

  function save() {
    if (!chunks.length) { return; }
    var blob = new Blob(chunks, { type: chunks[0].type || "video/webm" });
    var now = new Date(), pad = function (n) { return (n < 10 ? "0" : "") + n; };
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "seance-" + (document.getElementById("tc-recording").dataset.session || "") + "-" +
      now.getFullYear() + pad(now.getMonth() + 1) + pad(now.getDate()) + "-" + pad(now.getHours()) +
      pad(now.getMinutes()) + ".webm";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
    chunks = [];
    root.dataset.recorder = "saved";
  }

  function stopRecorder(now) {
    wanted = false;
    if (!recorder) { return; }
    var r = recorder;
    recorder = null;
    if (now || r.state === "inactive") { // leaving the page: what the chunks hold, at once
      r.ondataavailable = null;
      save();
      if (r.state !== "inactive") { r.stop(); }
    } else {
      r.onstop = save;
      r.stop();
    }
    if (mixer) { mixer.close(); mixer = null; }
  }

  function syncRecording() {
    var panel = document.getElementById("tc-recording");
    if (!panel) { return; }
    if (!recordable()) {
      panel.querySelectorAll("form[data-tc-record-start]").forEach(function (f) {
        f.hidden = true;
        var why = document.createElement("p");
        why.className = "muted";
        why.textContent = panel.dataset.msgUnsupported;
        f.parentNode.insertBefore(why, f);
      });
    }
    if (panel.dataset.recording === "on") {
      wanted = true;
      if (!startRecorder()) { // this browser cannot: the server is told it stopped
        var stop = panel.querySelector("form[data-tc-record-stop]");
        if (stop) { stop.requestSubmit(); }
      }
    } else {
      stopRecorder(false);
    }
  }

  function open() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + text.signal);
    socket.onopen = function () { retries = 0; };
    socket.onmessage = onMessage;
    socket.onclose = function (e) {
      hangUp();
      if (e.code === 4403) { closedForGood = true; say("msgRefused"); return; }
      if (e.code === 4409) { closedForGood = true; say("msgElsewhere"); return; }
      if (closedForGood || retries >= 5) { say("msgFailed"); return; }
      retries += 1;
      say("msgInterrupted");
      setTimeout(open, 1000 * retries);
    };
  }

  function toggle(button, kind) {
    button.addEventListener("click", function () {
      if (!stream) { return; }
      var tracks = kind === "audio" ? stream.getAudioTracks() : stream.getVideoTracks();
      var on = !tracks.every(function (t) { return t.enabled; });
      tracks.forEach(function (t) { t.enabled = on; });
      button.setAttribute("aria-pressed", on ? "false" : "true");
    });
  }

  window.addEventListener("pagehide", function () { stopRecorder(true); closedForGood = true; send({ type: "bye" }); });
  document.querySelectorAll("form[data-tc-end]").forEach(function (form) {
    form.addEventListener("submit", function () { stopRecorder(true); closedForGood = true; send({ type: "bye" }); });
  });
  if (practitioner) {
    document.body.addEventListener("htmx:afterSettle", syncRecording);
    syncRecording();
  }
  toggle(document.getElementById("tc-mute"), "audio");
  toggle(document.getElementById("tc-camera"), "video");

  if (!supported()) { say("msgUnsupported"); return; }
  root.hidden = false;
  say(text.started === "1" ? "msgWaitingPeer" : "msgWaitingAdmission");
  camera().then(open, function () { say("msgCamera"); open(); });
})();
