// Tell the portal the viewer's time zone, so pages show times in it (exportportal/viewer_time_zone.py).
(() => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (!zone) return;
  const current = document.cookie.split("; ").find((c) => c.startsWith("tz="));
  if (current && decodeURIComponent(current.slice(3)) === zone) return;
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; SameSite=Lax${secure}`;
})();
