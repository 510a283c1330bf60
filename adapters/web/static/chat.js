// surveybot web chat: pick a survey, then talk to the bot over the websocket protocol of README.md.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const RESPONDENT_KEY = "surveybot.respondent";
  const NAME_KEY = "surveybot.name";
  const LANGUAGE_KEY = "surveybot.language";

  const state = {
    socket: null,
    survey: null, // {id, title}
    leaving: false,
    retries: 0,
    frames: 0,
    pending: 0, // frames (and the connection) still waiting for their reply
    question: null, // the question last shown: typed text answers it, and only it
    campaign: null, // the campaign whose shareable link opened the page (?campaign=ID)
  };

  // The respondent id is issued and signed by the server (POST /chat/respondent) and stays in this
  // browser, so that a reload or a reconnect resumes the survey. An id the server did not issue is
  // refused, so a client cannot speak for somebody else.
  const ISSUED = /^[0-9a-f]{24}\.[0-9a-f]{20}$/;

  async function respondentId() {
    const kept = localStorage.getItem(RESPONDENT_KEY);
    if (kept && ISSUED.test(kept)) return kept;
    const response = await fetch("/chat/respondent", { method: "POST" });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw new Error(problem.detail || `the server answered ${response.status}`);
    }
    const { respondent } = await response.json();
    localStorage.setItem(RESPONDENT_KEY, respondent);
    return respondent;
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // aria-busy on the message list while a reply is due: for screen readers, and for tests to wait on.
  function waiting(change) {
    state.pending = Math.max(0, state.pending + change);
    if (state.pending) $("messages").setAttribute("aria-busy", "true");
    else $("messages").removeAttribute("aria-busy");
  }

  // --- the survey picker ------------------------------------------------------------------------------

  async function loadSurveys() {
    $("name").value = localStorage.getItem(NAME_KEY) || "";
    $("language").value = localStorage.getItem(LANGUAGE_KEY) || "";
    let surveys = [];
    try {
      const response = await fetch("/chat/surveys");
      surveys = await response.json();
    } catch (error) {
      setStatus("Cannot reach the server.");
      return;
    }
    const list = $("surveys");
    list.replaceChildren();
    for (const survey of surveys) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.survey = survey.id;
      button.append(survey.title);
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = survey.id;
      button.append(id);
      button.addEventListener("click", () => start(survey));
      const item = document.createElement("li");
      item.append(button);
      list.append(item);
    }
    $("no-surveys").hidden = surveys.length > 0;
    const wanted = new URLSearchParams(location.search).get("survey");
    const found = surveys.find((s) => s.id === wanted);
    if (found) start(found);
  }

  function start(survey) {
    localStorage.setItem(NAME_KEY, $("name").value.trim());
    localStorage.setItem(LANGUAGE_KEY, $("language").value);
    state.survey = survey;
    state.leaving = false;
    state.retries = 0;
    $("chat-title").textContent = survey.title;
    $("messages").replaceChildren();
    $("picker").hidden = true;
    $("chat").hidden = false;
    const campaign = new URLSearchParams(location.search).get("campaign");
    state.campaign = campaign && /^[a-z0-9][a-z0-9_-]{0,31}$/.test(campaign) ? campaign : null;
    const query = `?survey=${encodeURIComponent(survey.id)}`;
    history.replaceState(null, "", state.campaign ? `${query}&campaign=${state.campaign}` : query);
    connect();
    $("text").focus();
  }

  function leave() {
    state.leaving = true;
    if (state.socket) state.socket.close(1000);
    state.socket = null;
    $("chat").hidden = true;
    $("picker").hidden = false;
    history.replaceState(null, "", location.pathname);
    setStatus("");
  }

  // --- the websocket ----------------------------------------------------------------------------------

  async function connect() {
    let respondent;
    try {
      respondent = await respondentId();
    } catch (error) {
      setStatus(`Refused: ${error.message}`);
      return;
    }
    const url = new URL(`/ws/surveys/${encodeURIComponent(state.survey.id)}`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("respondent", respondent);
    url.searchParams.set("name", localStorage.getItem(NAME_KEY) || "");
    if (state.campaign) url.searchParams.set("campaign", state.campaign);
    // The picker's language, else none: the server then reads the browser's Accept-Language.
    const language = localStorage.getItem(LANGUAGE_KEY) || "";
    if (/^[a-z]{2,3}$/.test(language)) url.searchParams.set("lang", language);
    const socket = new WebSocket(url);
    state.socket = socket;
    state.pending = 0;
    waiting(+1); // connecting is answered like a frame: the welcome, or where the survey was left off
    setStatus("Connecting…");
    socket.addEventListener("open", () => {
      state.retries = 0;
      setStatus("Connected");
    });
    socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
    socket.addEventListener("close", (event) => {
      if (state.socket !== socket || state.leaving) return;
      if (event.code === 1008) {
        if (event.reason.startsWith("respondent") && !state.reissued) {
          // An id from before ids were issued, or from another deployment: ask for a new one, once.
          state.reissued = true;
          localStorage.removeItem(RESPONDENT_KEY);
          connect();
          return;
        }
        setStatus(`Refused: ${event.reason}`);
        return;
      }
      // The server resumes the survey where it was left off, so reconnecting is all there is to do.
      const delay = Math.min(500 * 2 ** state.retries, 10000);
      state.retries += 1;
      setStatus("Reconnecting…");
      setTimeout(() => {
        if (state.socket === socket && !state.leaving) connect();
      }, delay);
    });
  }

  function send(frame) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      note("Not connected; reconnecting. Please send that again in a moment.", "error");
      return false;
    }
    state.frames += 1;
    socket.send(JSON.stringify({ ...frame, id: `${Date.now().toString(36)}-${state.frames}` }));
    waiting(+1);
    return true;
  }

  // Every frame sent (and the connection itself) gets one frame back: a reply, or an error.
  function receive(frame) {
    if (frame.type === "reply") frame.messages.forEach(show);
    else if (frame.type === "error") note(frame.error, "error");
    waiting(-1);
  }

  // --- messages ---------------------------------------------------------------------------------------

  function scrollDown() {
    const list = $("messages");
    list.scrollTop = list.scrollHeight;
  }

  function bubble(text, classes) {
    const item = document.createElement("li");
    item.className = `msg ${classes}`;
    const p = document.createElement("p");
    p.className = "text";
    p.textContent = text;
    item.append(p);
    return item;
  }

  function note(text, kind) {
    $("messages").append(bubble(text, `bot ${kind}`));
    scrollDown();
  }

  function said(text) {
    $("messages").append(bubble(text, "me"));
    scrollDown();
  }

  function buttons(list, className, messageId, echo) {
    const box = document.createElement("div");
    box.className = className;
    for (const b of list) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = b.label;
      button.dataset.value = b.value;
      if (b.role === "submit") button.classList.add("primary");
      if (className === "choices" && b.role === "toggle") {
        button.setAttribute("aria-pressed", b.selected ? "true" : "false");
      }
      button.addEventListener("click", () => {
        if (send({ type: "button", value: b.value, message_id: messageId }) && echo(b)) said(b.label);
      });
      box.append(button);
    }
    return box;
  }

  function render(m) {
    const item = bubble(m.text, `bot ${m.kind}`);
    item.dataset.id = m.id;
    item.dataset.kind = m.kind;
    if (m.question_id) item.dataset.question = m.question_id;
    if (m.choices.length) {
      // A single choice shows as answered (an edit) once pressed; toggles change in place.
      item.append(buttons(m.choices, "choices", m.id, () => false));
    }
    if (m.kind === "question" && m.hint && !m.choices.length) {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = m.hint;
      item.append(hint);
    }
    if (m.actions.length) {
      // Commands (Back, Skip, a survey to start) are echoed as if typed; Done is not.
      item.append(buttons(m.actions, "actions", m.id, (b) => b.role !== "submit"));
    }
    return item;
  }

  function show(m) {
    if (m.kind === "question") state.question = m.question_id;
    const list = $("messages");
    const item = render(m);
    const old = m.edit_of ? list.querySelector(`[data-id="${CSS.escape(m.edit_of)}"]`) : null;
    if (m.kind === "retired" && !old) return; // its buttons are gone from this page already
    if (old) {
      old.replaceWith(item);
    } else {
      if (m.kind === "question") {
        // A new question: the buttons of earlier messages are answered or moot.
        for (const b of list.querySelectorAll("button")) b.disabled = true;
      }
      list.append(item);
    }
    scrollDown();
  }

  // --- wiring -----------------------------------------------------------------------------------------

  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("text");
    const text = input.value.trim();
    if (!text) return;
    const frame = state.question ? { type: "text", text, question_id: state.question } : { type: "text", text };
    if (send(frame)) {
      said(text);
      input.value = "";
    }
  });
  $("leave").addEventListener("click", leave);
  loadSurveys();
})();
