// The playground: plain JavaScript over the public HTTP API, no build step, no dependency.
// Each function below is one API call a frontend would make; copy what you need.
"use strict";

const $ = (id) => document.getElementById(id);
let apiKey = localStorage.getItem("rag-api-key") || "";
let lastAnswerId = null;

function headers(extra = {}) {
  return apiKey ? { ...extra, Authorization: `Bearer ${apiKey}` } : extra;
}

// Every call goes through here: a 401 shows the key field, other errors carry the
// server's message ({"error": {"type", "message"}}).
async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers(options.headers) });
  if (response.status === 401) {
    $("key-section").hidden = false;
    $("key-reason").textContent = apiKey
      ? "The API key was refused; enter another."
      : "This server requires an API key.";
    throw new Error("an API key is required");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error.message;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function showError(element, error) {
  element.textContent = error.message;
  element.classList.add("error");
}

// --- collections ---------------------------------------------------------------------------

async function loadCollections(select) {
  const collections = await (await api("/v1/collections")).json();
  const picker = $("collection");
  picker.replaceChildren(
    ...collections.map((c) => new Option(`${c.name} (${c.documents} documents)`, c.name)),
  );
  if (select) picker.value = select;
}

async function createCollection() {
  const name = $("new-collection").value.trim();
  if (!name) return;
  await api("/v1/collections", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  $("new-collection").value = "";
  await loadCollections(name);
}

// --- upload and job progress ---------------------------------------------------------------

async function upload() {
  const files = $("files").files;
  if (!files.length) return;
  const form = new FormData();
  for (const file of files) form.append("files", file);
  form.append("collection", $("collection").value);
  $("job").classList.remove("error");
  try {
    const job = await (await api("/v1/documents", { method: "POST", body: form })).json();
    await followJob(job.job_id);
    await loadCollections($("collection").value);
  } catch (error) {
    showError($("job"), error);
  }
}

async function followJob(jobId) {
  const bar = $("job-progress");
  bar.hidden = false;
  for (;;) {
    const job = await (await api(`/v1/jobs/${jobId}`)).json();
    bar.max = Math.max(job.total, 1);
    bar.value = job.done;
    $("job").textContent = `job ${jobId}: ${job.status}, ${job.done} of ${job.total} files`
      + (job.failed ? `, ${job.failed} failed` : "");
    if (job.status === "succeeded" || job.status === "failed") return job;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

// --- asking, streamed ------------------------------------------------------------------------

// POST /v1/ask with "stream": true answers with server-sent events: "token" (text pieces),
// "citations", then "done" (the whole answer), or "error".
async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("answer").textContent = "";
  $("answer").classList.remove("error");
  $("answer-status").textContent = "thinking…";
  $("citations").replaceChildren();
  $("feedback").hidden = true;
  $("feedback-status").textContent = "";
  try {
    const response = await api("/v1/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        question, stream: true, filters: { collections: [$("collection").value] },
      }),
    });
    await readEvents(response, {
      token: (data) => { $("answer").textContent += data.text; },
      citations: (data) => showCitations(data.citations),
      done: (data) => showDone(data),
      error: (data) => { throw new Error(data.error.message); },
    });
  } catch (error) {
    $("answer-status").textContent = "";
    showError($("answer"), error);
  }
}

async function readEvents(response, handlers) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length && handlers[name]) handlers[name](JSON.parse(data.join("\n")));
    }
  }
}

function showCitations(citations) {
  $("citations").replaceChildren(...citations.map((citation) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.className = "citation";
    link.dataset.chunkId = citation.chunk_id;
    const title = citation.title || citation.source;
    const section = sectionBelow(title, citation.section);
    link.textContent = `[${citation.number}] ${title}${section ? ` — ${section}` : ""}`
      + (citation.page ? `, page ${citation.page}` : "");
    link.addEventListener("click", () => openPassage(citation.chunk_id));
    item.append(link);
    return item;
  }));
}

// A section path usually starts with the document's title ("Guide > Brakes"): show the rest.
function sectionBelow(title, section) {
  if (!section) return "";
  if (!section.startsWith(title)) return section;
  return section.slice(title.length).replace(/^\s*>\s*/, "");
}

// The checked answer replaces the streamed text: a citation may have moved to the passage
// that holds the answer, and markers the checks dropped must not stay on the page.
function showDone(answer) {
  lastAnswerId = answer.answer_id;
  $("answer").textContent = answer.answer;
  if (answer.refused) {
    $("answer-status").textContent = `refused (${answer.refusal_reason})`;
  } else {
    $("answer-status").textContent = `support ${answer.support_score.toFixed(2)}`
      + (answer.grounded ? ", grounded" : ", not fully grounded");
  }
  $("feedback").hidden = false;
}

// --- a cited passage in its document ---------------------------------------------------------

async function openPassage(chunkId) {
  const passage = await (await api(`/v1/passages/${chunkId}`)).json();
  const where = [
    passage.title, sectionBelow(passage.title, passage.section),
    passage.page && `page ${passage.page}`,
  ]
    .filter(Boolean).join(" · ");
  $("passage-meta").textContent =
    `${where} (${passage.source}, characters ${passage.char_start}–${passage.char_end})`;
  const before = document.createElement("span");
  before.className = "context";
  before.textContent = passage.before ? `${passage.before}\n…\n` : "";
  const mark = document.createElement("mark");
  mark.textContent = passage.text;
  const after = document.createElement("span");
  after.className = "context";
  after.textContent = passage.after ? `\n…\n${passage.after}` : "";
  $("passage-text").replaceChildren(before, mark, after);
  $("passage").hidden = false;
  $("passage").scrollIntoView({ behavior: "smooth" });
}

// --- feedback and the quality report -------------------------------------------------------

async function sendFeedback(rating) {
  if (!lastAnswerId) return;
  try {
    await api("/v1/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ answer_id: lastAnswerId, rating }),
    });
    $("feedback-status").textContent = "thanks, recorded";
  } catch (error) {
    showError($("feedback-status"), error);
  }
}

// The report needs the key too, so it is fetched and opened as a local page.
async function openReport() {
  try {
    const response = await api("/v1/reports/quality?format=html");
    const url = URL.createObjectURL(await response.blob());
    window.open(url, "_blank");
    $("report-status").textContent = "";
  } catch (error) {
    showError($("report-status"), error);
  }
}

// --- start ---------------------------------------------------------------------------------

$("use-key").addEventListener("click", async () => {
  apiKey = $("key").value.trim();
  localStorage.setItem("rag-api-key", apiKey);
  $("key-section").hidden = true;
  await loadCollections().catch(() => {});
});
$("create-collection").addEventListener("click", () => createCollection().catch(alert));
$("upload").addEventListener("click", upload);
$("ask-form").addEventListener("submit", ask);
$("thumbs-up").addEventListener("click", () => sendFeedback(1));
$("thumbs-down").addEventListener("click", () => sendFeedback(-1));
$("report").addEventListener("click", openReport);
loadCollections().catch(() => {});
