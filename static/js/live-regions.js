// The request page's live regions (templates/requests_app/_live.html): while the pipeline runs,
// one poll brings every region that can change and htmx swaps each in by its id, so no region
// lags behind another. What the viewer was doing survives the swap: a form they typed into
// keeps what they typed (if the step is still offered), the field they are in keeps its focus
// (htmx restores it by id), and evidence they opened (<details> with an id) stays open.
document.addEventListener("input", (event) => {
  if (event.target.form) event.target.form.dataset.edited = "true";
});

function carryTypedValues(from, to) {
  for (const field of from.elements) {
    if (!field.name || field.type === "file" || field.type === "hidden") continue;
    const twin = to.elements.namedItem(field.name);
    if (!twin || twin instanceof RadioNodeList) continue;
    if (field.type === "checkbox") twin.checked = field.checked;
    else twin.value = field.value;
  }
  to.dataset.edited = "true";
}

document.addEventListener("htmx:oobBeforeSwap", (event) => {
  const region = event.detail.target;
  const incoming = event.detail.fragment;
  region.querySelectorAll("form[data-edited][id]").forEach((form) => {
    const twin = incoming.querySelector(`form[id="${CSS.escape(form.id)}"]`);
    if (twin) carryTypedValues(form, twin);
  });
  const opened = new Set(Array.from(region.querySelectorAll("details[open][id]"), (d) => d.id));
  incoming.querySelectorAll("details[id]").forEach((details) => {
    if (opened.has(details.id)) details.open = true;
  });
});
