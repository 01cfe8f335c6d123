/**
 * Entry point of the CNN Viz tab. TensorBoard loads it in an iframe whose document is
 *   <base href="plugin/cnnviz/"><script type="module">import("./static/index.js").then(m => m.render())</script>
 */
import { createApp } from "./app.js";

// Resolved against this module, not the page, so it follows wherever TensorBoard serves the tab from.
const STYLESHEET = new URL("./style.css", import.meta.url);

export function render() {
  document.documentElement.lang = "en";
  document.title = "CNN Viz";
  const root = document.createElement("div");
  root.className = "cnnviz";
  root.hidden = true; // shown once the stylesheet is in, so the tab never flashes unstyled
  const reveal = () => {
    root.hidden = false;
  };
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = STYLESHEET.href;
  link.addEventListener("load", reveal);
  link.addEventListener("error", reveal);
  document.head.append(link);
  document.body.append(root);
  createApp(root);
}
