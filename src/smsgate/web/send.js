// The send page: counts as the user types (the gateway's own counting, GET /v1/segments),
// sends with a pass code, and follows each message until it is delivered or failed.
// Everything shown comes in through textContent: nothing typed or returned becomes HTML.
"use strict";

const FINAL = new Set(["delivered", "undelivered", "failed"]);
const $ = (id) => document.getElementById(id);
let counting = null;

async function count() {
  const text = $("text").value;
  const counter = $("counter");
  if (!text) { counter.textContent = ""; return; }
  const answer = await fetch("/v1/segments/?" + new URLSearchParams({ text }));
  const seg = await answer.json();
  if (!answer.ok) { counter.textContent = seg.error || "cannot count this text"; return; }
  const parts = seg.units === 1 ? "1 part" : `${seg.units} parts`;
  counter.textContent =
    `${seg.encoding} · ${seg.characters} characters · ${parts} · ${seg.remaining} left in this part`;
  counter.classList.toggle("too-long", seg.too_long);
}

function row(message) {
  const tr = document.createElement("tr");
  tr.dataset.uuid = message.message_uuid;
  for (const key of ["to", "state", "error_code"]) {
    const td = document.createElement("td");
    td.dataset.key = key;
    td.textContent = message[key] || "";
    tr.appendChild(td);
  }
  tr.className = message.state;
  return tr;
}

function show(messages) {
  const body = $("results").querySelector("tbody");
  for (const message of messages) {
    const old = body.querySelector(`tr[data-uuid="${CSS.escape(message.message_uuid)}"]`);
    if (old) old.replaceWith(row(message)); else body.appendChild(row(message));
  }
  $("results").hidden = false;
}

async function follow(code, uuids) {
  const started = Date.now();
  while (uuids.length && Date.now() - started < 15 * 60 * 1000) {
    await new Promise((done) => setTimeout(done, 1500));
    const answer = await fetch("/send/api/status", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code, uuids }),
    });
    if (!answer.ok) break;
    const { messages } = await answer.json();
    show(messages);
    const settled = new Set(messages.filter((m) => FINAL.has(m.state)).map((m) => m.message_uuid));
    uuids = uuids.filter((uuid) => !settled.has(uuid));
  }
}

async function send(event) {
  event.preventDefault();
  $("error").textContent = "";
  $("submit").disabled = true;
  const code = $("code").value;
  try {
    const answer = await fetch("/send/api/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code, dst: $("dst").value, text: $("text").value }),
    });
    const body = await answer.json();
    if (!answer.ok) { $("error").textContent = body.error || `refused (${answer.status})`; return; }
    $("results").querySelector("tbody").replaceChildren();
    show(body.messages);
    if (body.invalid.length) $("error").textContent = "Not sent, not valid numbers: " + body.invalid.join(", ");
    follow(code, body.messages.map((m) => m.message_uuid));
  } catch (error) {
    $("error").textContent = "The gateway did not answer: " + error;
  } finally {
    $("submit").disabled = false;
  }
}

$("text").addEventListener("input", () => {
  clearTimeout(counting);
  counting = setTimeout(count, 150);
});
$("send").addEventListener("submit", send);
