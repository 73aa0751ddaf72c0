// The view's stop button (an anywidget front end): a click sends {event: "stop"} to the kernel,
// where the run stops within one forward pass (local) or one chunk (remote).
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "guidance-stop";
  button.title = "Stop this run: the model stops at once and the cell returns the partial program";
  button.style.cssText = "font-family: sans-serif; font-size: 0.8em; margin: 2px 0; " +
    "padding: 1px 10px; border: 1px solid rgba(127, 127, 127, 0.6); border-radius: 3px; " +
    "background: rgba(255, 60, 60, 0.15); color: inherit; cursor: pointer";
  const show = () => {
    const running = model.get("running");
    button.disabled = !running || button.dataset.clicked === "yes";
    button.textContent = running ? (button.dataset.clicked === "yes" ? "stopping…" : "■ stop")
      : model.get("outcome");
  };
  button.addEventListener("click", () => {
    if (button.disabled) return;
    button.dataset.clicked = "yes";
    model.send({ event: "stop" });
    show();
  });
  model.on("change:running", show);
  show();
  el.appendChild(button);
}
export default { render };
