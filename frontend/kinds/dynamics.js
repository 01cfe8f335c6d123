/** Training dynamics: numbers only, no pictures, so no grid of its own; the Layer health panel's Dynamics view draws them (dynamics.js). */
import { defineKind } from "./kind.js";

export default defineKind("dynamics", { label: "Training dynamics", view: null });
