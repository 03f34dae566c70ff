// The request page's live regions (templates/requests_app/_live.html): while the pipeline runs,
// one poll brings every region that can change and htmx swaps each in by its id. A region the
// viewer is working in waits: a form they typed into keeps what they typed, and the field they
// are in keeps its focus. Evidence they opened (<details> with an id) stays open.
document.addEventListener("input", (event) => {
  if (event.target.form) event.target.form.dataset.edited = "true";
});

document.addEventListener("htmx:oobBeforeSwap", (event) => {
  const region = event.detail.target;
  const active = document.activeElement;
  const typing = active && region.contains(active) && active.matches("input, select, textarea");
  if (typing || region.querySelector("form[data-edited]")) {
    event.preventDefault();
    return;
  }
  const opened = new Set(Array.from(region.querySelectorAll("details[open][id]"), (d) => d.id));
  event.detail.fragment.querySelectorAll("details[id]").forEach((details) => {
    if (opened.has(details.id)) details.open = true;
  });
});
