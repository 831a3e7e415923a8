/* Switchboard DNI: each visit sees its own tracking number.
 * <script src="https://HOST/dni.js" data-tag="TAGCODE" async></script>
 * data-selector: optional, default ".phone-number". On any error the original number stays. */
((w, d) => {
  'use strict';
  if (w.SwitchboardDNI) return; // included twice: one copy runs
  var me = { sessionId: null, phoneNumber: null };
  w.SwitchboardDNI = me;
  try {
    var s = d.currentScript, tag = s && s.getAttribute('data-tag');
    if (!tag) return;
    var sel = s.getAttribute('data-selector') || '.phone-number';
    var api = new URL(s.src).origin + '/api/dni/track';
    var key = 'sb_dni_' + tag, TIMEOUT = 3000, BEAT = 60000, seen = 0, live = true;

    // The session id lives in first-party storage: localStorage, else a cookie.
    var load = () => {
      try { var v = w.localStorage.getItem(key); if (v) return v; } catch (e) {}
      var m = d.cookie.match(new RegExp('(?:^|; )' + key + '=([^;]*)'));
      return m ? decodeURIComponent(m[1]) : null;
    };
    var save = (v) => {
      try { w.localStorage.setItem(key, v); return; } catch (e) {}
      try { d.cookie = key + '=' + encodeURIComponent(v) + '; path=/; max-age=2592000; SameSite=Lax'; } catch (e) {}
    };

    var q = new URL(w.location.href).searchParams, p = (n) => q.get(n) || undefined;
    var visit = {
      tagCode: tag, referrer: d.referrer, userAgent: navigator.userAgent, landingPage: w.location.href,
      utmSource: p('utm_source'), utmMedium: p('utm_medium'), utmCampaign: p('utm_campaign'),
      utmTerm: p('utm_term'), utmContent: p('utm_content'),
      gclid: p('gclid'), fbclid: p('fbclid'), msclkid: p('msclkid')
    };

    // The first phone-like text under el is replaced (markup kept), else all its text.
    var PHONE = /\+?\(?\d[\d\s().\-]{5,}\d/;
    var setText = (el, text) => {
      var walk = d.createTreeWalker(el, 4), n;
      while ((n = walk.nextNode())) {
        if (PHONE.test(n.nodeValue)) { n.nodeValue = n.nodeValue.replace(PHONE, text); return; }
      }
      el.textContent = text;
    };
    var setTel = (a, e164) => {
      if (a && /^tel:/i.test(a.getAttribute('href') || '')) a.setAttribute('href', 'tel:' + e164);
    };
    var swap = (r) => {
      d.querySelectorAll(sel).forEach((el) => {
        setText(el, r.formattedNumber || r.phoneNumber);
        setTel(el.closest('a'), r.phoneNumber);
        el.querySelectorAll('a').forEach((a) => setTel(a, r.phoneNumber));
      });
    };
    var swapWhenReady = (r) => {
      if (d.readyState === 'loading') d.addEventListener('DOMContentLoaded', () => { try { swap(r); } catch (e) {} });
      else swap(r);
    };

    var track = () => {
      var ctl = typeof AbortController === 'function' ? new AbortController() : null;
      var timer = setTimeout(() => ctl && ctl.abort(), TIMEOUT);
      visit.sessionId = me.sessionId || load() || undefined;
      seen = Date.now();
      return fetch(api, {
        method: 'POST', mode: 'cors', credentials: 'omit',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(visit), signal: ctl ? ctl.signal : undefined
      }).then((res) => (res.ok ? res.json() : null)).then((r) => {
        if (r && r.success === false) live = false; // not swapped for this visit: no lease to keep
        if (!r || !r.success || typeof r.phoneNumber !== 'string') return;
        if (typeof r.sessionId === 'string' && r.sessionId) { me.sessionId = r.sessionId; save(r.sessionId); }
        me.phoneNumber = r.phoneNumber;
        swapWhenReady(r);
      }).catch(() => {}).then(() => clearTimeout(timer));
    };

    // Heartbeat: keeps the lease alive while the page is visible.
    var visible = () => d.visibilityState !== 'hidden';
    setInterval(() => { if (live && visible()) track(); }, BEAT);
    d.addEventListener('visibilitychange', () => { if (live && visible() && Date.now() - seen > BEAT) track(); });
    track();
  } catch (e) { /* never break the page */ }
})(window, document);
