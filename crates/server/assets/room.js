// pont meeting page: WebSocket signalling (docs/signalling.md) and one RTCPeerConnection.
// The bridge always offers; this page always answers. Exposes window.pont for tests.
"use strict";
(function () {
  const t = (k) => pontI18n.t(k);
  const $ = (id) => document.getElementById(id);
  const room = document.body.dataset.room;
  const known = document.body.dataset.known === "1";
  const params = new URLSearchParams(location.search);

  const state = {
    ws: null, pc: null, local: null, me: null, joined: false, leaving: false, fatal: false,
    participants: new Map(),   // id -> {id, display_name, muted, video_muted, kind}
    streams: new Map(),        // participant id -> MediaStream
    midOwner: new Map(),       // mid -> participant id
    published: false, activeSpeaker: null, mainWindow: null, micOn: true, camOn: true,
    retry: 0, chain: Promise.resolve(), name: "",
    waiting: false, waitlist: [], hands: [], chat: [], unread: 0, removed: null,
    screens: new Map(),        // participant id -> MediaStream of its shared screen
    midSource: new Map(),      // mid -> "microphone" | "camera" | "screen"
    sharer: null, screenSender: null, screenTrack: null, shareWanted: false,
    publishMids: null, sinkId: "", deviceSwitches: 0,
    poll: null, pollResults: null, pollVoted: false, pollHidden: false, pollShown: "",
    locked: false, dials: new Map(), // call id -> {target, state, code} of a moderator's dial-out
  };
  const KIND = { web: "kind_web", sip: "kind_sip", pstn: "kind_pstn" };
  const isModerator = () => { const p = state.participants.get(state.me); return !!p && p.role === "moderator"; };

  // The message line. A notice during the meeting (muted by a moderator, asked to unmute…)
  // can be closed; one that replaces the meeting (removed, ended, unknown room) stays.
  function message(key, info) {
    const m = $("message");
    if (!key) { m.hidden = true; m.dataset.code = ""; m.textContent = ""; return; }
    m.hidden = false; m.className = info ? "message info" : "message";
    m.dataset.code = key; m.textContent = "";
    const text = document.createElement("span"); text.className = "text"; text.textContent = t(key);
    m.append(text);
    if (info && !$("meeting").hidden) {
      const close = document.createElement("button"); close.type = "button"; close.className = "close";
      close.setAttribute("aria-label", t("close")); close.onclick = () => message(null);
      m.append(close);
    }
  }
  function status(key) { $("status").dataset.key = key || ""; $("status").textContent = key ? t(key) : ""; }
  pontI18n.onchange = () => {
    const m = $("message");
    if (!m.hidden && m.dataset.code) {
      m.querySelector(".text").textContent = t(m.dataset.code);
      const close = m.querySelector(".close"); if (close) close.setAttribute("aria-label", t("close"));
    }
    if ($("status").dataset.key) status($("status").dataset.key);
    updateButtons(); renderList(); renderChat(); renderLock(); renderDials();
    state.pollShown = ""; renderPoll();
  };

  function send(obj) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(Object.assign({ v: 1 }, obj)));
  }

  async function getMedia() {
    if (!navigator.mediaDevices || !window.isSecureContext) { message("insecure"); return null; }
    try {
      return await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
    } catch (e) {
      if (e && (e.name === "NotAllowedError" || e.name === "SecurityError")) { message("denied"); return null; }
      try { return await navigator.mediaDevices.getUserMedia({ audio: true }); } catch (_) {}
      message("no_device", true); return null;
    }
  }

  async function join(name) {
    state.name = name; localStorage.setItem("pont.name", name);
    $("lobby").hidden = true; $("meeting").hidden = false;
    if (!state.local) state.local = await getMedia();
    if (state.local) $("self").srcObject = state.local;
    connect();
  }

  function connect() {
    state.leaving = false; state.published = false;
    status(state.retry ? "reconnecting" : "connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/api/v1/rooms/${room}/ws`);
    state.ws = ws;
    ws.onopen = () => send({ type: "join", name: state.name });
    ws.onmessage = (ev) => { let m; try { m = JSON.parse(ev.data); } catch (_) { return; } onMessage(m); };
    ws.onclose = () => {
      if (state.ws !== ws) return;
      teardown();
      if (state.leaving || state.fatal) return;
      status("reconnecting"); message("reconnecting", true);
      const delay = Math.min(10000, 500 * 2 ** Math.min(state.retry++, 5));
      setTimeout(connect, delay);
    };
  }

  function teardown() {
    if (state.pc) { state.pc.close(); state.pc = null; }
    state.joined = false; $("rec").hidden = true; state.me = null; state.midOwner.clear(); state.streams.clear();
    state.participants.clear(); state.activeSpeaker = null; state.hands = []; state.waitlist = [];
    state.chat = []; state.waiting = false; $("waiting").hidden = true;
    state.screens.clear(); state.midSource.clear(); state.sharer = null; state.screenSender = null;
    endShare(false); render(); renderChat();
  }

  function onMessage(m) {
    switch (m.type) {
      case "joined":
        state.me = m.participant_id; state.joined = true; state.retry = 0; state.fatal = false;
        state.waiting = false; $("waiting").hidden = true; $("meeting").hidden = false;
        for (const p of m.participants || []) state.participants.set(p.id, p);
        state.activeSpeaker = m.active_speaker || null;
        message(null); status("connected"); render();
        if (!state.micOn || !state.camOn) send({ type: "mute", audio: !state.micOn, video: !state.camOn });
        break;
      case "offer": state.chain = state.chain.then(() => onOffer(m)).catch((e) => console.error("offer", e)); break;
      case "participant_joined": if (m.participant) state.participants.set(m.participant.id, m.participant); render(); break;
      case "participant_left":
        state.participants.delete(m.participant_id); state.streams.delete(m.participant_id);
        if (state.activeSpeaker === m.participant_id) state.activeSpeaker = null;
        render(); break;
      case "muted": {
        const p = state.participants.get(m.participant_id);
        if (p) { p.muted = m.audio; p.video_muted = m.video; }
        if (m.by_moderator && m.participant_id === state.me && m.audio && state.micOn) {
          setMic(false); message("muted_by_moderator", true);
        }
        renderList(); break;
      }
      case "unmute_requested": message("unmute_requested", true); break;
      case "locked":
        state.locked = !!m.locked; renderLock();
        if (isModerator()) message(state.locked ? "locked_now" : "unlocked_now", true);
        break;
      case "live": {
        const was = state.live;
        state.live = !!m.live; state.viewers = m.viewers || 0; renderLive();
        if (isModerator() && was !== state.live) message(state.live ? "live_started" : "live_stopped", true);
        break;
      }
      case "dialout": onDialout(m); break;
      case "poll":
        if (!state.poll || state.poll.id !== m.poll.id) {
          state.pollResults = null; state.pollVoted = false; state.pollHidden = false;
        }
        state.poll = m.poll; renderPoll(); break;
      case "poll_results":
        if (state.poll && m.poll_id === state.poll.id) { state.pollResults = m; renderPoll(); }
        break;
      case "waiting":
        state.me = m.participant_id; state.waiting = true; state.retry = 0;
        $("meeting").hidden = true; $("waiting").hidden = false; message(null); status("waiting_status");
        break;
      case "waiting_room": state.waitlist = m.waiting || []; renderWaiting(); break;
      case "hands":
        state.hands = m.participant_ids || [];
        for (const p of state.participants.values()) p.hand = state.hands.includes(p.id);
        updateButtons(); renderList(); break;
      case "role": {
        const p = state.participants.get(m.participant_id);
        if (p) p.role = m.role;
        updateButtons(); renderList(); break;
      }
      case "sharing": {
        const p = state.participants.get(m.participant_id);
        if (p) p.sharing = m.sharing;
        if (m.sharing) state.sharer = m.participant_id;
        else if (state.sharer === m.participant_id) state.sharer = null;
        if (m.participant_id === state.me && m.sharing && state.shareWanted && state.screenSender) {
          // The bridge let us share: the screen goes out on its m-line (no renegotiation).
          state.screenSender.replaceTrack(state.screenTrack).catch((e) => console.warn("share", e));
          $("sharebar").hidden = false; updateButtons();
        }
        render(); break;
      }
      case "share_stopped": endShare(false); message("share_stopped", true); break;
      case "chat_history": state.chat = m.messages || []; renderChat(); break;
      case "chat":
        state.chat.push(m);
        if (state.chat.length > 500) state.chat.shift();
        if ($("panel-chat").hidden && m.from !== state.me) state.unread++;
        addChat(m); break;
      case "removed":
        // The bridge ended this participation: no reconnecting.
        state.fatal = true; state.removed = m.reason; teardown();
        $("meeting").hidden = true; $("waiting").hidden = true; status(null);
        message(m.reason === "turned_away" ? "turned_away" : m.reason === "ended" ? "ended" : "removed", true);
        break;
      case "speaker": state.activeSpeaker = m.participant_id || null; render(); break;
      // Consent: everyone sees, in both languages, while the room is being recorded.
      // The notice is also spoken, in the page's language, when recording starts or resumes
      // (phone callers hear it in their mix).
      case "recording": {
        const was = state.recording; state.recording = m.state;
        $("rec").hidden = m.state !== "recording";
        updateRecControls();
        if (m.state === "recording" && was !== "recording") {
          new Audio("/assets/recorded-" + pontI18n.lang + ".wav").play()
            .then(() => { state.noticesPlayed = (state.noticesPlayed || 0) + 1; })
            .catch((e) => console.warn("recording notice not played", e));
        }
        if (m.reason) message("recording_" + m.reason, true);
        break;
      }
      case "error":
        console.warn("pont error", m.code, m.message);
        if (m.code === "unknown_room" || m.code === "room_full" || m.code === "room_locked") {
          state.fatal = true; message(m.code); status(null); $("meeting").hidden = true;
        } else if (m.code === "connection_lost") {
          state.ws && state.ws.close();
        } else if (m.code === "share_busy") {
          endShare(false); message("share_busy", true);
        } else if (["chat_rate_limited", "chat_too_long", "not_moderator", "participant_not_found",
                    "not_waiting", "still_waiting", "invalid_uri", "no_trunk", "dial_failed",
                    "no_ports", "sip_unavailable", "wrong_state"].includes(m.code)
                   || m.code.startsWith("poll_")) {
          message(m.code, true);
        }
        break;
      default: break;
    }
  }

  function newPc() {
    const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle", rtcpMuxPolicy: "require" });
    pc.ontrack = (ev) => {
      const pid = state.midOwner.get(ev.transceiver.mid);
      if (!pid) return;
      const map = state.midSource.get(ev.transceiver.mid) === "screen" ? state.screens : state.streams;
      let s = map.get(pid);
      if (!s) { s = new MediaStream(); map.set(pid, s); }
      s.addTrack(ev.track);
      ev.track.onended = () => { s.removeTrack(ev.track); };
      render();
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed" && state.pc === pc && state.ws) state.ws.close();
    };
    return pc;
  }

  async function onOffer(m) {
    if (!state.pc) state.pc = newPc();
    const pc = state.pc;
    for (const s of m.streams || []) { state.midOwner.set(s.mid, s.participant_id); state.midSource.set(s.mid, s.source); }
    await pc.setRemoteDescription({ type: "offer", sdp: m.sdp });
    if (!state.published && m.publish) {
      state.published = true; state.publishMids = m.publish;
      for (const tr of pc.getTransceivers()) {
        if (m.publish.screen && tr.mid === m.publish.screen) {
          // Sending, with no track until we share: replaceTrack then needs no new offer.
          tr.direction = "sendonly"; state.screenSender = tr.sender; continue;
        }
        const kind = tr.mid === m.publish.audio ? "audio" : tr.mid === m.publish.video ? "video" : null;
        if (!kind) continue;
        const track = state.local && state.local.getTracks().find((x) => x.kind === kind);
        if (track) { await tr.sender.replaceTrack(track); tr.direction = "sendonly"; }
        else tr.direction = "inactive";
      }
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    send({ type: "answer", sdp: pc.localDescription.sdp });
  }

  // ---- rendering ----
  function tileFor(pid) {
    let el = document.querySelector(`.tile[data-pid="${pid}"]`);
    if (!el) {
      el = document.createElement("div"); el.className = "tile"; el.dataset.pid = pid;
      const v = document.createElement("video"); v.autoplay = true; v.playsInline = true;
      const l = document.createElement("span"); l.className = "label";
      el.append(v, l);
    }
    return el;
  }
  function play(v) {
    if (state.sinkId && v.setSinkId && v.sinkId !== state.sinkId) v.setSinkId(state.sinkId).catch(() => {});
    const p = v.play();
    if (p && p.catch) p.catch(() => { v.muted = true; v.play().catch(() => {}); });
  }

  function render() {
    const me = state.me;
    const remote = [...state.participants.keys()].filter((id) => id !== me);
    // The main window shows a shared screen while there is one (the speaker moves to the
    // strip); else the active speaker (ourselves too, in our own view); with no speaker yet,
    // the first other participant.
    let main = state.activeSpeaker;
    if (!main || (main !== me && !state.participants.has(main))) main = remote[0] || null;
    const mainEl = $("main"), strip = $("strip");
    const shared = state.sharer && state.sharer !== me && state.screens.get(state.sharer);
    let screenEl = document.querySelector(".tile.screen");
    if (shared) {
      if (!screenEl) {
        screenEl = tileFor("screen"); screenEl.classList.add("screen"); mainEl.appendChild(screenEl);
      }
      const v = screenEl.querySelector("video");
      if (v.srcObject !== shared) { v.srcObject = shared; play(v); }
      const p = state.participants.get(state.sharer);
      screenEl.querySelector(".label").textContent = (p ? p.display_name : "") + " · " + t("screen");
      main = null;
    } else if (screenEl) screenEl.remove();
    state.mainWindow = main;
    state.mainWindowSource = shared ? "screen" : main ? "camera" : null;
    const want = new Set();
    for (const pid of remote) {
      const el = tileFor(pid); want.add(pid);
      const v = el.querySelector("video"); const s = state.streams.get(pid);
      if (s && v.srcObject !== s) { v.srcObject = s; play(v); }
      const p = state.participants.get(pid);
      el.querySelector(".label").textContent = p ? p.display_name : pid;
      el.classList.toggle("speaking", pid === state.activeSpeaker);
      const parent = pid === main ? mainEl : strip;
      // Moving a media element pauses it: play it again.
      if (el.parentNode !== parent) { parent.appendChild(el); if (v.srcObject) play(v); }
    }
    // Ourselves in the main window when we are the speaker.
    let selfMain = document.querySelector('.tile[data-pid="self"]');
    if (main && main === me && state.local) {
      if (!selfMain) {
        selfMain = tileFor("self"); const v = selfMain.querySelector("video");
        v.muted = true; v.srcObject = state.local; v.style.transform = "scaleX(-1)"; play(v);
        selfMain.querySelector(".label").textContent = `${state.name} (${t("you")})`;
        selfMain.classList.add("speaking"); mainEl.appendChild(selfMain);
      }
    } else if (selfMain) selfMain.remove();
    for (const el of document.querySelectorAll(".tile[data-pid]")) {
      if (el.dataset.pid !== "self" && el.dataset.pid !== "screen" && !want.has(el.dataset.pid)) el.remove();
    }
    renderList();
  }

  function button(key, onclick, cls) {
    const b = document.createElement("button"); b.type = "button"; b.className = "small " + (cls || "");
    b.textContent = t(key); b.dataset.action = key; b.onclick = onclick; return b;
  }
  function moderate(action, pid) { send({ type: "moderate", action, participant_id: pid }); }
  function tag(key, cls) {
    const s = document.createElement("span"); s.className = "tag " + cls; s.dataset.tag = key; s.textContent = t(key); return s;
  }

  // Brings a list (the roster, the waiting box) to `rows` in place: a row's buttons are kept
  // while its actions stay the same, so a speaker change or a raised hand elsewhere does not
  // take the keyboard focus away, nor a click from under the pointer. A row is
  // {id, parts: [nodes before the buttons], acts: [fresh buttons, used if the actions changed]}.
  function syncRows(ul, rows) {
    // Rows that went go first, so that the others need not move (moving a row blurs it).
    const ids = new Set(rows.map((r) => r.id));
    for (const li of [...ul.children]) if (!ids.has(li.dataset.pid)) li.remove();
    const old = new Map([...ul.children].map((li) => [li.dataset.pid, li]));
    rows.forEach((r, i) => {
      let li = old.get(r.id);
      if (!li) { li = document.createElement("li"); li.dataset.pid = r.id; }
      const key = r.acts.length ? pontI18n.lang + ":" + r.acts.map((b) => b.dataset.action).join(",") : "";
      let acts = li.querySelector(":scope > .acts");
      if (acts && acts.dataset.key !== key) { acts.remove(); acts = null; }
      if (!acts && key) {
        acts = document.createElement("span"); acts.className = "acts"; acts.dataset.key = key;
        acts.append(...r.acts);
        li.append(acts);
      }
      for (const n of [...li.childNodes]) if (n !== acts) n.remove();
      li.prepend(...r.parts);
      if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
    });
  }

  // The roster: raised hands first (in the order raised), then everyone else as they came.
  function renderList() {
    const mod = isModerator();
    const all = [...state.participants.values()];
    const order = (p) => { const h = state.hands.indexOf(p.id); return h < 0 ? 1e9 : h; };
    all.sort((a, b) => order(a) - order(b));
    $("count").textContent = all.length ? "(" + all.length + ")" : "";
    syncRows($("plist"), all.map((p) => {
      const name = document.createElement("span"); name.className = "name"; name.textContent = p.display_name;
      const parts = [name];
      const raised = state.hands.includes(p.id);
      if (raised) parts.push(tag("hand", "hand"));
      if (p.kind && p.kind !== "web" && KIND[p.kind]) parts.push(tag(KIND[p.kind], "kind"));
      if (p.role === "moderator") parts.push(tag("moderator", "role"));
      if (p.id === state.me) parts.push(tag("you", ""));
      if (p.id === state.activeSpeaker) parts.push(tag("speaking", "speaking"));
      if (p.sharing) parts.push(tag("sharing", "sharing"));
      if (p.muted) parts.push(tag("muted", "muted"));
      const acts = [];
      if (mod && p.id !== state.me) {
        if (raised) acts.push(button("lower_hand", () => moderate("lower_hand", p.id)));
        if (p.sharing) acts.push(button("stop_share", () => moderate("stop_share", p.id)));
        acts.push(p.muted ? button("ask_unmute", () => moderate("unmute", p.id)) : button("mute", () => moderate("mute", p.id)));
        if (p.role !== "moderator") acts.push(button("make_moderator", () => moderate("make_moderator", p.id)));
        acts.push(button("remove", () => moderate("remove", p.id), "danger"));
      }
      return { id: p.id, parts, acts };
    }));
    $("mod-controls").hidden = !mod; $("mod-tools").hidden = !mod; updateRecControls(); renderPoll(); renderLive();
  }

  function renderWaiting() {
    $("waitroom").hidden = !isModerator() || state.waitlist.length === 0;
    syncRows($("wlist"), state.waitlist.map((w) => {
      const name = document.createElement("span"); name.className = "name"; name.textContent = w.display_name;
      return { id: w.id, parts: [name, tag(KIND[w.kind] || "kind_web", "kind")], acts: [
        button("admit", () => moderate("admit", w.id)), button("turn_away", () => moderate("remove", w.id), "danger")] };
    }));
  }

  // The chat log: rebuilt for the history and a change of language, else one line appended
  // (the log is aria-live: a screen reader reads the new message, not the whole log again).
  function chatLine(c) {
    const li = document.createElement("li"); li.dataset.seq = c.seq;
    const head = document.createElement("div"); head.className = "chat-head";
    const who = document.createElement("strong"); who.textContent = c.name;
    const when = document.createElement("time");
    const d = new Date(c.at); when.dateTime = d.toISOString();
    when.textContent = d.toLocaleTimeString(pontI18n.lang, { hour: "2-digit", minute: "2-digit" });
    head.append(who, " ", when);
    const body = document.createElement("div"); body.className = "chat-text"; body.textContent = c.text;
    li.append(head, body);
    return li;
  }
  function renderUnread() {
    const u = $("unread"); u.hidden = state.unread === 0; u.textContent = state.unread ? "(" + state.unread + ")" : "";
  }
  function renderChat() {
    const ol = $("chatlog");
    ol.replaceChildren(...state.chat.map(chatLine));
    ol.scrollTop = ol.scrollHeight; renderUnread();
  }
  function addChat(c) {
    const ol = $("chatlog");
    const atEnd = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    ol.append(chatLine(c));
    while (ol.children.length > state.chat.length) ol.firstElementChild.remove();
    if (atEnd || c.from === state.me) ol.scrollTop = ol.scrollHeight;
    renderUnread();
  }

  // The side panel's tabs (the ARIA tabs pattern: one tab stop, arrow keys move between them).
  function showTab(chat, focusTab) {
    $("panel-chat").hidden = !chat; $("panel-people").hidden = chat;
    for (const [id, on] of [["tab-chat", chat], ["tab-people", !chat]]) {
      $(id).setAttribute("aria-selected", String(on)); $(id).tabIndex = on ? 0 : -1;
    }
    if (chat) { state.unread = 0; renderUnread(); $("chatlog").scrollTop = $("chatlog").scrollHeight; }
    if (focusTab) $(chat ? "tab-chat" : "tab-people").focus();
    else if (chat) $("chat-input").focus();
  }
  $("tab-people").onclick = () => showTab(false);
  $("tab-chat").onclick = () => showTab(true);
  for (const id of ["tab-people", "tab-chat"]) {
    $(id).onkeydown = (e) => {
      const to = { ArrowLeft: id === "tab-people", ArrowRight: id === "tab-people", Home: false, End: true }[e.key];
      if (to === undefined) return;
      e.preventDefault(); showTab(to, true);
    };
  }
  $("chat-form").onsubmit = (e) => {
    e.preventDefault();
    const text = $("chat-input").value.trim();
    if (!text) return;
    send({ type: "chat", text }); $("chat-input").value = "";
  };
  $("chat-input").onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("chat-form").requestSubmit(); }
  };
  $("btn-hand").onclick = () => send({ type: "hand", raised: !state.hands.includes(state.me) });

  // ---- devices: microphone, camera, speaker, switched without a new offer ----
  function fill(sel, devices, current, fallback) {
    sel.textContent = "";
    devices.forEach((d, i) => {
      const o = document.createElement("option"); o.value = d.deviceId;
      o.textContent = d.label || fallback + " " + (i + 1);
      o.selected = d.deviceId === current; sel.append(o);
    });
  }
  async function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const all = await navigator.mediaDevices.enumerateDevices();
    const inUse = (kind) => {
      const tr = state.local && state.local.getTracks().find((x) => x.kind === kind);
      return tr && tr.getSettings ? tr.getSettings().deviceId : "";
    };
    fill($("sel-mic"), all.filter((d) => d.kind === "audioinput"), inUse("audio"), t("microphone"));
    fill($("sel-cam"), all.filter((d) => d.kind === "videoinput"), inUse("video"), t("camera"));
    const speakers = all.filter((d) => d.kind === "audiooutput");
    $("spk-row").hidden = !("setSinkId" in HTMLMediaElement.prototype) || speakers.length === 0;
    fill($("sel-spk"), speakers, state.sinkId, t("speaker"));
  }
  async function useDevice(kind, deviceId) {
    const constraints = kind === "audio"
      ? { audio: { deviceId: { exact: deviceId } } }
      : { video: { deviceId: { exact: deviceId }, width: 640, height: 360 } };
    let track;
    try { track = (await navigator.mediaDevices.getUserMedia(constraints)).getTracks()[0]; }
    catch (e) { console.warn("device", e); message("no_device", true); return; }
    track.enabled = kind === "audio" ? state.micOn : state.camOn;
    if (!state.local) state.local = new MediaStream();
    for (const old of state.local.getTracks().filter((x) => x.kind === kind)) { state.local.removeTrack(old); old.stop(); }
    state.local.addTrack(track);
    $("self").srcObject = state.local;
    const mid = state.publishMids && state.publishMids[kind];
    const tr = state.pc && state.pc.getTransceivers().find((x) => x.mid === mid);
    if (tr) await tr.sender.replaceTrack(track);
    state.deviceSwitches++;
  }
  $("btn-devices").onclick = () => {
    const box = $("devices"); box.hidden = !box.hidden;
    $("btn-devices").setAttribute("aria-expanded", String(!box.hidden));
    if (!box.hidden) listDevices();
  };
  $("sel-mic").onchange = (e) => useDevice("audio", e.target.value);
  $("sel-cam").onchange = (e) => useDevice("video", e.target.value);
  $("sel-spk").onchange = (e) => {
    state.sinkId = e.target.value;
    for (const v of document.querySelectorAll("video")) if (v.setSinkId) v.setSinkId(state.sinkId).catch(() => {});
  };

  // ---- screen sharing: getDisplayMedia, one share per room (the bridge says who) ----
  async function startShare(stream) {
    if (state.shareWanted) return;
    if (!stream) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) { message("share_unavailable", true); return; }
      try { stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }); }
      catch (e) { console.warn("getDisplayMedia", e); return; }
    }
    const track = stream.getVideoTracks()[0];
    if (!track) return;
    state.screenTrack = track; state.shareWanted = true;
    track.onended = () => endShare(true);
    send({ type: "share", on: true }); updateButtons();
  }
  function endShare(tell) {
    const was = state.shareWanted;
    state.shareWanted = false;
    if (state.screenTrack) { state.screenTrack.onended = null; state.screenTrack.stop(); state.screenTrack = null; }
    if (state.screenSender) state.screenSender.replaceTrack(null).catch(() => {});
    $("sharebar").hidden = true;
    if (was && tell) send({ type: "share", on: false });
    updateButtons();
  }
  $("btn-share").onclick = () => (state.shareWanted ? endShare(true) : startShare());
  $("btn-share-stop").onclick = () => endShare(true);
  $("btn-admit-all").onclick = () => moderate("admit_all");
  $("btn-mute-all").onclick = () => moderate("mute_all");
  $("btn-lock").onclick = () => moderate(state.locked ? "unlock" : "lock");
  $("btn-live").onclick = () => moderate(state.live ? "live_stop" : "live_start");
  function renderLive() {
    $("live").hidden = !state.live;
    $("live-count").textContent = String(state.viewers || 0);
    const b = $("btn-live");
    b.textContent = t(state.live ? "live_stop" : "live_start"); b.setAttribute("aria-pressed", String(!!state.live));
    const url = location.origin + "/live/" + room;
    $("live-link-row").hidden = !state.live || !isModerator();
    $("live-link").href = url; $("live-link").textContent = url;
  }
  function renderLock() {
    $("locked").hidden = !state.locked;
    const b = $("btn-lock");
    b.textContent = t(state.locked ? "unlock_room" : "lock_room"); b.setAttribute("aria-pressed", String(!!state.locked));
  }

  // Dial-out: a moderator calls a room system (sip:) or a phone (tel:) into the room; the
  // bridge says how each call goes (dialout), and a call answered is in the roster.
  $("dial-form").onsubmit = (e) => {
    e.preventDefault();
    const uri = $("dial-uri").value.trim();
    if (!uri) return;
    send({ type: "moderate", action: "dial", uri }); $("dial-uri").value = "";
  };
  function dialText(d) {
    if (d.state !== "failed") return t("dial_" + d.state);
    if ([486, 600].includes(d.code)) return t("dial_busy");
    if ([408, 480, 487, 603].includes(d.code)) return t("dial_no_answer");
    if ([404, 484, 604].includes(d.code)) return t("dial_not_found");
    return t("dial_failed_code") + (d.code ? " " + d.code : "");
  }
  function onDialout(m) {
    state.dials.set(m.call, { target: m.target, state: m.state, code: m.code });
    // A call answered is in the roster now: its line goes after a moment.
    if (m.state === "answered") setTimeout(() => { state.dials.delete(m.call); renderDials(); }, 5000);
    renderDials();
  }
  // Polls: moderators ask (the form under the roster), everyone votes in the card above the
  // tabs; moderators see the results live, everyone once they are shared.
  $("poll-form").onsubmit = (e) => {
    e.preventDefault();
    const choices = $("poll-options").value.split("\n").map((c) => c.trim()).filter((c) => c);
    send({ type: "moderate", action: "poll_open", poll: { question: $("poll-question").value,
      choices, multiple: $("poll-multiple").checked, anonymous: $("poll-anonymous").checked } });
    $("poll-form").reset(); $("poll-new").open = false;
  };
  $("poll-vote").onsubmit = (e) => {
    e.preventDefault();
    if (!state.poll) return;
    const choices = [...$("poll-choices").querySelectorAll("input:checked")].map((i) => Number(i.value));
    if (choices.length === 0) return;
    send({ type: "vote", poll_id: state.poll.id, choices });
    state.pollVoted = true; renderPoll();
  };
  $("btn-poll-share").onclick = () => state.poll && send({ type: "moderate", action: "poll_share", poll_id: state.poll.id });
  $("btn-poll-close").onclick = () => state.poll && send({ type: "moderate", action: "poll_close", poll_id: state.poll.id });
  $("btn-poll-dismiss").onclick = () => { state.pollHidden = true; renderPoll(); };
  function renderPoll() {
    const p = state.poll, card = $("poll");
    card.hidden = !p || state.pollHidden;
    if (!p) return;
    const open = p.state === "open", mod = isModerator();
    // The choices are rebuilt only when the poll changes (not while someone is choosing).
    const key = p.id + p.state + pontI18n.lang;
    if (state.pollShown !== key) {
      state.pollShown = key;
      $("poll-label").textContent = t(open ? "poll" : "poll_closed_label");
      $("poll-q").textContent = p.question;
      $("poll-choices").replaceChildren(...p.choices.map((c, i) => {
        // A choice: its box, its number (a phone caller's key) and text, and once there are
        // results its count and a bar.
        const l = document.createElement("label"); l.className = "choice";
        const input = document.createElement("input");
        input.type = p.multiple ? "checkbox" : "radio"; input.name = "poll-choice"; input.value = String(i);
        input.disabled = !open;
        const s = document.createElement("span"); s.className = "text"; s.textContent = (i + 1) + ". " + c;
        const n = document.createElement("span"); n.className = "count"; n.hidden = true;
        const bar = document.createElement("span"); bar.className = "bar"; bar.hidden = true;
        const fill = document.createElement("span"); fill.className = "fill"; bar.append(fill);
        l.append(input, s, n, bar); return l;
      }));
    }
    $("poll-vote").querySelector(".poll-row").hidden = !open;
    $("poll-voted").hidden = !state.pollVoted || !open;
    const r = state.pollResults;
    const most = r ? Math.max(1, ...r.counts) : 1;
    $("poll-choices").querySelectorAll(".choice").forEach((l, i) => {
      const n = l.querySelector(".count"), bar = l.querySelector(".bar");
      n.hidden = bar.hidden = !r;
      if (!r) return;
      n.textContent = String(r.counts[i]); n.title = r.counts[i] + " " + t("poll_votes");
      n.setAttribute("aria-label", n.title); l.dataset.count = String(r.counts[i]);
      bar.firstChild.style.width = (100 * r.counts[i] / most) + "%";
    });
    $("btn-poll-share").hidden = !mod || !r || r.shared;
    $("btn-poll-close").hidden = !mod || !open;
    $("btn-poll-dismiss").hidden = open;
  }

  function renderDials() {
    syncRows($("dlist"), [...state.dials.entries()].map(([id, d]) => {
      const name = document.createElement("span"); name.className = "name"; name.textContent = d.target;
      const st = document.createElement("span"); st.className = "tag " + d.state; st.dataset.state = d.state; st.textContent = dialText(d);
      const acts = d.state === "failed" ? [button("close", () => { state.dials.delete(id); renderDials(); })] : [];
      return { id, parts: [name, st], acts };
    }));
  }
  $("btn-end").onclick = () => { if (confirm(t("end_confirm"))) moderate("end"); };
  $("btn-wait-leave").onclick = () => { state.leaving = true; send({ type: "leave" }); if (state.ws) state.ws.close();
    $("waiting").hidden = true; status(null); message("left", true); };

  // The phone fallback: the trunk's number, the room number then #, the PIN then #.
  (function dialin() {
    const numbers = document.body.dataset.dialin, pin = document.body.dataset.pin;
    if (!numbers) return;
    $("dialin").hidden = false; $("dialin-number").textContent = numbers; $("dialin-room").textContent = room;
    if (pin) { $("dialin-pin-line").hidden = false; $("dialin-pin").textContent = pin; }
  })();

  // Moderators (the organizer signed in on the portal, and whoever a moderator names) control
  // the recording from the page, over the signalling; everyone sees its state.
  function updateRecControls() {
    const st = state.recording || "off";
    $("rec-controls").hidden = !isModerator();
    $("btn-rec-start").hidden = st !== "off";
    $("btn-rec-pause").hidden = st !== "recording";
    $("btn-rec-resume").hidden = st !== "paused";
    $("btn-rec-stop").hidden = st === "off";
  }
  for (const b of $("rec-controls").querySelectorAll("button")) {
    b.onclick = () => send({ type: "moderate", action: "record_" + b.dataset.action });
  }
  fetch("/api/v1/me").then((r) => { if (r.ok) state.organizer = true; }).catch(() => {});

  function updateButtons() {
    const mic = $("btn-mic"), cam = $("btn-cam"), hand = $("btn-hand");
    mic.textContent = t(state.micOn ? "mute_mic" : "unmute_mic"); mic.classList.toggle("off", !state.micOn);
    cam.textContent = t(state.camOn ? "stop_camera" : "start_camera"); cam.classList.toggle("off", !state.camOn);
    const raised = state.hands.includes(state.me);
    hand.textContent = t(raised ? "lower_hand" : "raise_hand"); hand.setAttribute("aria-pressed", String(raised));
    hand.classList.toggle("on", raised);
    const share = $("btn-share");
    share.textContent = t(state.shareWanted ? "stop_share" : "share_screen"); share.classList.toggle("on", state.shareWanted);
    renderWaiting();
  }

  function setMic(on) {
    state.micOn = on;
    if (state.local) for (const tr of state.local.getAudioTracks()) tr.enabled = state.micOn;
    send({ type: "mute", audio: !state.micOn, video: !state.camOn }); updateButtons();
  }
  $("btn-mic").onclick = () => setMic(!state.micOn);
  $("btn-cam").onclick = () => {
    state.camOn = !state.camOn;
    if (state.local) for (const tr of state.local.getVideoTracks()) tr.enabled = state.camOn;
    send({ type: "mute", audio: !state.micOn, video: !state.camOn }); updateButtons();
  };
  $("btn-leave").onclick = () => {
    state.leaving = true; send({ type: "leave" });
    if (state.ws) state.ws.close();
    teardown(); $("meeting").hidden = true; status(null);
    const m = $("message"); message("left", true);
    const b = document.createElement("button"); b.type = "button"; b.textContent = t("rejoin"); b.dataset.i18n = "rejoin";
    b.onclick = () => { message(null); $("meeting").hidden = false; connect(); };
    m.append(b);
  };
  window.addEventListener("pagehide", () => { state.leaving = true; send({ type: "leave" }); });

  // ---- for tests and curious users ----
  window.pont = {
    get participantId() { return state.me; },
    get activeSpeaker() { return state.activeSpeaker; },
    get mainWindowParticipant() { return state.mainWindow; },
    get participants() { return [...state.participants.values()]; },
    get connectionState() { return state.pc ? state.pc.connectionState : "new"; },
    get message() { const m = $("message"); return m.hidden ? null : m.dataset.code; },
    get recording() { return state.recording || "off"; },
    get locked() { return state.locked; },
    get live() { return { live: !!state.live, viewers: state.viewers || 0 }; },
    get poll() { return state.poll; },
    get pollResults() { return state.pollResults; },
    get dials() { return [...state.dials.entries()].map(([call, d]) => Object.assign({ call }, d)); },
    get organizer() { return !!state.organizer; },
    get recordingNoticesPlayed() { return state.noticesPlayed || 0; },
    get waiting() { return state.waiting; },
    get waitingRoom() { return state.waitlist.slice(); },
    get hands() { return state.hands.slice(); },
    get chat() { return state.chat.slice(); },
    get removed() { return state.removed; },
    get micOn() { return state.micOn; },
    get moderator() { return isModerator(); },
    get sharer() { return state.sharer; },
    get sharing() { return state.shareWanted && !$("sharebar").hidden; },
    get mainWindowSource() { return state.mainWindowSource || null; },
    get deviceSwitches() { return state.deviceSwitches; },
    // Shares `stream` (a test's canvas) as if getDisplayMedia had returned it.
    shareStream(stream) { return startShare(stream); },
    stopSharing() { endShare(true); },
    // Inbound RTP per remote participant and kind: packets received, frames decoded.
    async stats() {
      const out = [];
      if (!state.pc) return out;
      const r = await state.pc.getStats();
      r.forEach((s) => {
        if (s.type !== "inbound-rtp") return;
        out.push({ kind: s.kind, mid: s.mid, participantId: state.midOwner.get(s.mid) || null,
          packetsReceived: s.packetsReceived || 0, framesDecoded: s.framesDecoded || 0,
          audioLevel: s.audioLevel === undefined ? null : s.audioLevel,
          codec: (r.get(s.codecId) || {}).mimeType || null });
      });
      return out;
    },
  };

  // ---- start ----
  pontI18n.apply(); updateButtons();
  if (!known) { message("unknown_room"); return; }
  const name = params.get("name") || localStorage.getItem("pont.name") || "";
  $("name").value = name;
  $("join-form").onsubmit = (e) => { e.preventDefault(); const n = $("name").value.trim(); if (n) join(n); };
  if (params.get("autojoin") === "1" && name) join(name);
  else $("lobby").hidden = false;
})();
