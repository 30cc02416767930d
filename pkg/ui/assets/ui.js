// Orch dashboard: live updates without a toolchain. The server sends an
// event naming the kinds that changed ("nodes tasks"); a page whose live
// region shows one of them re-fetches that region only. Pages work without
// this file (they refresh every 10 s with a meta refresh instead).
"use strict";
(function () {
  const live = document.getElementById("live");
  const status = document.getElementById("livestatus");
  const kinds = live ? (live.dataset.live || "").split(" ").filter(Boolean) : [];
  let busy = false, again = false;

  async function refresh() {
    if (busy) { again = true; return; }
    // Do not replace what the user is typing into or has focused.
    if (live.contains(document.activeElement) && document.activeElement !== live) { again = true; return; }
    busy = true;
    try {
      const r = await fetch(location.href, { headers: { "X-UI-Fragment": "1" }, credentials: "same-origin" });
      if (r.status === 401 || r.redirected) { location.reload(); return; }
      if (r.ok) {
        live.innerHTML = await r.text();
        live.dataset.updated = String(Date.now());
        if (status) status.textContent = "Live · updated " + new Date().toLocaleTimeString();
      }
    } catch (e) {
      if (status) status.textContent = "Live updates paused: " + e.message;
    } finally {
      busy = false;
      if (again) { again = false; setTimeout(refresh, 100); }
    }
  }

  if (kinds.length && window.EventSource) {
    const es = new EventSource("/ui/events");
    es.addEventListener("change", function (ev) {
      const changed = ev.data.split(" ");
      if (changed.some(function (k) { return kinds.includes(k); })) refresh();
    });
    es.onopen = function () { if (status) status.textContent = "Live"; };
    es.onerror = function () { if (status) status.textContent = "Reconnecting…"; };
    document.querySelectorAll('meta[http-equiv="refresh"]').forEach(function (m) { m.remove(); });
    live.addEventListener("focusout", function () { if (again) { again = false; refresh(); } });
  }

  // Logs: stream the agent's output as it arrives.
  const logs = document.getElementById("logs");
  if (logs && logs.dataset.src && window.fetch && window.TextDecoder) {
    (async function follow() {
      try {
        const r = await fetch(logs.dataset.src, { credentials: "same-origin" });
        if (!r.ok) { logs.textContent = await r.text(); return; }
        const reader = r.body.getReader();
        const dec = new TextDecoder();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
          logs.append(dec.decode(value, { stream: true }));
          if (atBottom) logs.scrollTop = logs.scrollHeight;
        }
      } catch (e) {
        logs.append("\n[log stream ended: " + e.message + "]");
      }
    })();
  }
  document.documentElement.classList.add("js");
})();
