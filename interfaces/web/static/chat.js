// The chat page: posts a question and reads the answer as it streams (NDJSON: one event per line).
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const send = document.getElementById("chat-send");
  const messages = document.getElementById("messages");
  const errorBox = document.getElementById("chat-error");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let thread = messages.dataset.thread || null;

  function add(cls, text, tag) {
    const el = document.createElement(tag || "div");
    el.className = cls;
    if (text) el.textContent = text;
    messages.appendChild(el);
    messages.scrollTop = messages.scrollHeight;
    return el;
  }
  function toolBox(call) {
    const d = add("tool", null, "details");
    const s = document.createElement("summary");
    s.textContent = "tool call: " + call;
    const pre = document.createElement("pre");
    pre.textContent = "(running…)";
    d.append(s, pre);
    return pre;
  }
  function showError(text) { errorBox.textContent = text; errorBox.hidden = false; }

  async function ask(text) {
    errorBox.hidden = true;
    add("msg user", text);
    let bubble = null;            // the streaming answer
    const waiting = [];           // tool boxes waiting for their result, in call order
    const r = await fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/x-ndjson" },
      body: JSON.stringify({ message: text, thread_id: thread }),
    });
    if (!r.ok) {
      let detail = r.statusText;
      try { detail = (await r.json()).detail; } catch (e) { /* not JSON */ }
      showError(detail);
      return;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (value) buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        const ev = JSON.parse(line);
        if (ev.type === "thread") {
          thread = ev.id;
          messages.dataset.thread = ev.id;
          history.replaceState(null, "", "/chat/" + ev.id);
        } else if (ev.type === "token") {
          if (!bubble) bubble = add("msg assistant streaming", "");
          bubble.textContent += ev.text;
        } else if (ev.type === "call") {
          bubble = null;  // text before a tool call was the model thinking aloud; the answer comes after
          waiting.push(toolBox(ev.text));
        } else if (ev.type === "result") {
          const pre = waiting.shift();
          if (pre) pre.textContent = ev.text;
        } else if (ev.type === "answer") {
          if (!bubble) bubble = add("msg assistant", "");
          if (ev.html) { bubble.innerHTML = ev.html; } else { bubble.textContent = ev.text; }
          bubble.classList.remove("streaming");
          bubble.classList.add("final");
        } else if (ev.type === "brain") {
          add("brain muted", "answered by " + ev.text);
        } else if (ev.type === "error") {
          showError(ev.text);
        }
        messages.scrollTop = messages.scrollHeight;
      }
      if (done) break;
    }
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send.disabled = true;
    try { await ask(text); } catch (err) { showError("the answer was cut off: " + err); }
    finally { send.disabled = false; input.focus(); }
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
})();
