// bertdistil web demo: the exported classifier run client-side by transformers.js on onnxruntime-web (WASM).
// Nothing is fetched from outside this folder: the model is ./model/, the runtime ./vendor/.
// URL parameters: ?threads=N (WASM threads; >1 needs cross-origin isolation, see `bertdistil serve`)
// and ?dtype=q8|fp32 (onnx/model_quantized.onnx, the default, or onnx/model.onnx).
import { AutoModelForSequenceClassification, AutoTokenizer, env } from "./vendor/transformers.min.js";

const params = new URLSearchParams(location.search);
const maxThreads = self.crossOriginIsolated ? navigator.hardwareConcurrency || 1 : 1;
const threads = Math.min(Number(params.get("threads") || maxThreads), maxThreads);
const dtype = params.get("dtype") || "q8";

env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = "./";              // a path, not a URL: transformers.js fetches URLs only from a hub
env.useBrowserCache = false;             // every load is a cold start: what a first visitor gets
env.useWasmCache = false;
env.backends.onnx.wasm.wasmPaths = {
  mjs: new URL("vendor/ort-wasm-simd-threaded.asyncify.mjs", location.href).href,
  wasm: new URL("vendor/ort-wasm-simd-threaded.asyncify.wasm", location.href).href,
};
env.backends.onnx.wasm.numThreads = threads;

const $ = (id) => document.getElementById(id);
addEventListener("error", (e) => fail(e.error ?? e.message));
addEventListener("unhandledrejection", (e) => fail(e.reason));
function fail(err) {                     // shown on the page and given to the browser test
  $("status").textContent = `error: ${err}`;
  window.bertdistil = { error: String(err?.stack ?? err) };
}
const tokenizer = await AutoTokenizer.from_pretrained("model");
const model = await AutoModelForSequenceClassification.from_pretrained("model", { dtype, device: "wasm" });
const id2label = model.config.id2label;

function softmax(xs) {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

// One sentence at batch 1: {label, scores {label: probability}, logits [n_labels], ms}.
async function classify(text) {
  const t0 = performance.now();
  const inputs = await tokenizer(text, { truncation: true, max_length: 128 });
  const { logits } = await model(inputs);
  const row = Array.from(logits.data, Number);
  const ms = performance.now() - t0;
  const probs = softmax(row);
  const best = row.indexOf(Math.max(...row));
  const scores = Object.fromEntries(probs.map((p, i) => [id2label[i] ?? `LABEL_${i}`, p]));
  return { label: id2label[best] ?? `LABEL_${best}`, scores, logits: row, ms };
}

function show(r) {
  $("label").textContent = r.label;
  $("scores").replaceChildren(...Object.entries(r.scores).map(([name, p]) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${name}</td><td>${p.toFixed(3)}</td><td><span class="bar" style="width:${(p * 12).toFixed(2)}rem"></span></td>`;
    return tr;
  }));
  $("latency").textContent = r.ms.toFixed(1);
  $("result").hidden = false;
}

const first = await classify($("text").value);
show(first);
const info = {
  threads, dtype, crossOriginIsolated: self.crossOriginIsolated,
  first_prediction_ms: performance.now(),   // navigation start → first prediction shown (cold: no caches)
  model_file: dtype === "fp32" ? "onnx/model.onnx" : "onnx/model_quantized.onnx",
};
$("status").textContent = `ready: ${info.model_file}, WASM, ${threads} thread(s), ` +
  `first prediction ${info.first_prediction_ms.toFixed(0)} ms after the page was opened`;
$("classify").disabled = false;
$("classify").addEventListener("click", async () => show(await classify($("text").value)));
window.bertdistil = { info, classify };   // used by the browser test and benchmark
