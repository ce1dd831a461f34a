// pont web client strings, English and French, from the portal's catalogues. The portal's
// language switch (the pont_lang cookie) decides, else the browser's language; a choice made
// in the meeting page's menu is kept in the same cookie.
(function () {
  // Generated from the portal's catalogues (crates/portal/i18n/*.ftl, the meeting-* messages).
  const strings = /*STRINGS*/;
  function pick() {
    const m = document.cookie.match(/(?:^|;\s*)pont_lang=([a-z]+)/);
    const saved = m ? m[1] : null;
    if (saved && strings[saved]) return saved;
    const nav = (navigator.languages || [navigator.language || "en"]);
    for (const l of nav) { const k = String(l).slice(0, 2).toLowerCase(); if (strings[k]) return k; }
    return "en";
  }
  let lang = pick();
  const api = {
    get lang() { return lang; },
    t(key) { return (strings[lang] && strings[lang][key]) || strings.en[key] || key; },
    set(l) { if (strings[l]) { lang = l; document.cookie = "pont_lang=" + l + "; Path=/; Max-Age=31536000; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : ""); api.apply(); } },
    apply() {
      document.documentElement.lang = lang;
      for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = api.t(el.dataset.i18n);
      for (const el of document.querySelectorAll("[data-i18n-ph]")) el.placeholder = api.t(el.dataset.i18nPh);
      for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", api.t(el.dataset.i18nLabel));
      const sel = document.getElementById("lang");
      if (sel) { sel.value = lang; sel.onchange = () => api.set(sel.value); }
      if (api.onchange) api.onchange();
    },
  };
  window.pontI18n = api;
})();
