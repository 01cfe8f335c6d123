/** The tab's words for states without pictures: nothing logged yet, and errors. */
import { el } from "./dom.js";

const LOGGING_EXAMPLE = `from tb_cnnviz import CNNVizCallback

viz = CNNVizCallback(model, probe_images, log_dir="runs/exp1")
for epoch in range(epochs):
    train_one_epoch(model)
    viz.on_epoch_end(epoch)   # logs feature maps of every conv layer
viz.close()`;

export function emptyLogdirHelp(onReload) {
  return el("div", { className: "empty" }, [
    el("h2", { text: "No CNN Viz data yet" }),
    el("p", { text: "Log what your convolutional layers see during training with CNNVizCallback:" }),
    el("pre", {}, [el("code", { text: LOGGING_EXAMPLE })]),
    el("p", {}, ["Then start TensorBoard on the parent folder, e.g. ", el("code", { text: "tensorboard --logdir runs" }), ". Runs appear here once their first step is written."]),
    el("button", { type: "button", className: "primary", text: "Check again", on: { click: onReload } }),
  ]);
}

export function errorBanner(error) {
  return el("div", { className: "error", role: "alert" }, [el("strong", { text: "Could not load: " }), error.message]);
}

export function notice(text) {
  return el("p", { className: "notice", role: "status", text });
}
