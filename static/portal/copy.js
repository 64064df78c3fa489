// "Copy" buttons: `data-copy` names the element whose text goes to the clipboard. Hidden until this
// script wires them (and where the browser has no clipboard), so without it the page offers the
// download only. Wired on load and after each htmx swap (a draft page turns "done" by a swap).
function wireCopyButtons() {
  if (!navigator.clipboard) return;
  for (const button of document.querySelectorAll("button[data-copy]:not([data-wired])")) {
    button.dataset.wired = "1";
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.querySelector(button.dataset.copy);
      await navigator.clipboard.writeText(source ? source.textContent : "");
      button.textContent = "Copied";
    });
  }
}
document.addEventListener("DOMContentLoaded", wireCopyButtons);
document.addEventListener("htmx:afterSettle", wireCopyButtons);
