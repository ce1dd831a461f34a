// pont web client strings, English and French. The browser language decides; the choice in
// the language menu is kept in localStorage.
(function () {
  const strings = {
    en: {
      room_number: "Room number", join: "Join", your_name: "Your name", room: "Room",
      mute_mic: "Mute microphone", unmute_mic: "Unmute microphone",
      stop_camera: "Stop camera", start_camera: "Start camera", leave: "Leave",
      participants: "Participants", you: "you", speaking: "speaking", muted: "muted",
      connecting: "Connecting…", connected: "Connected", reconnecting: "Connection lost: reconnecting…",
      left: "You left the meeting.", rejoin: "Join again",
      denied: "Camera and microphone access was denied. Allow it in the browser's site settings, then reload the page.",
      no_device: "No camera or microphone was found: joining without them.",
      unknown_room: "This room does not exist. Check the room number.",
      room_full: "This room is full. Try again later.",
      room_locked: "The organizer has locked this room. Ask them to unlock it.",
      error: "Error",
      insecure: "Camera and microphone need HTTPS (or http://localhost).",
      recording_storage_full: "Recording stopped: the recording storage is full. What was recorded is kept.",
      recording_storage_error: "Recording stopped: the recording could not be written. What was recorded is kept.",
    },
    fr: {
      room_number: "Numéro de salle", join: "Rejoindre", your_name: "Votre nom", room: "Salle",
      mute_mic: "Couper le micro", unmute_mic: "Activer le micro",
      stop_camera: "Couper la caméra", start_camera: "Activer la caméra", leave: "Quitter",
      participants: "Participants", you: "vous", speaking: "parle", muted: "micro coupé",
      connecting: "Connexion…", connected: "Connecté", reconnecting: "Connexion perdue : reconnexion…",
      left: "Vous avez quitté la réunion.", rejoin: "Rejoindre à nouveau",
      denied: "L'accès à la caméra et au micro a été refusé. Autorisez-le dans les réglages du site, puis rechargez la page.",
      no_device: "Aucune caméra ni aucun micro trouvé : vous rejoignez sans.",
      unknown_room: "Cette salle n'existe pas. Vérifiez le numéro de salle.",
      room_full: "Cette salle est pleine. Réessayez plus tard.",
      room_locked: "L'organisateur a verrouillé cette salle. Demandez-lui de la déverrouiller.",
      error: "Erreur",
      insecure: "La caméra et le micro exigent HTTPS (ou http://localhost).",
      recording_storage_full: "Enregistrement arrêté : l'espace de stockage est plein. Ce qui a été enregistré est conservé.",
      recording_storage_error: "Enregistrement arrêté : l'écriture a échoué. Ce qui a été enregistré est conservé.",
    },
  };
  function pick() {
    const saved = localStorage.getItem("pont.lang");
    if (saved && strings[saved]) return saved;
    const nav = (navigator.languages || [navigator.language || "en"]);
    for (const l of nav) { const k = String(l).slice(0, 2).toLowerCase(); if (strings[k]) return k; }
    return "en";
  }
  let lang = pick();
  const api = {
    get lang() { return lang; },
    t(key) { return (strings[lang] && strings[lang][key]) || strings.en[key] || key; },
    set(l) { if (strings[l]) { lang = l; localStorage.setItem("pont.lang", l); api.apply(); } },
    apply() {
      document.documentElement.lang = lang;
      for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = api.t(el.dataset.i18n);
      for (const el of document.querySelectorAll("[data-i18n-ph]")) el.placeholder = api.t(el.dataset.i18nPh);
      const sel = document.getElementById("lang");
      if (sel) { sel.value = lang; sel.onchange = () => api.set(sel.value); }
      if (api.onchange) api.onchange();
    },
  };
  window.pontI18n = api;
})();
