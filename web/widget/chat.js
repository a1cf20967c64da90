/*
 * Chat widget for the night-time leg cramps assistant (Rasa REST channel).
 *
 * Embed it with one script tag:
 *
 *   <script src="https://your-assistant.example/widget/chat.js"
 *           data-server="https://your-rasa.example"
 *           data-title="Leg cramp questions" defer></script>
 *
 * Options (data-* attributes on the script tag):
 *   data-server  Base URL of the Rasa server (required). Rasa must allow the
 *                page's origin with `--cors`.
 *   data-title   Text of the launcher button and heading of the chat panel.
 *
 * The widget loads chat.css and disclaimer.json from the folder chat.js was
 * loaded from. It has no dependencies and never inserts text as HTML: every
 * message is built with DOM methods and textContent.
 *
 * An answer from the content store comes as one message whose `custom` holds
 * its small print, `{"small_print": {"disclaimer": "...", "sources": "..."}}`
 * (connectors/rest_output.py). The widget shows it under the answer, in the
 * same bubble, after the answer in reading order.
 *
 * Every message is sent with a fresh `message_id`, and Retry sends the same id
 * again: the project's REST channel (connectors/resilience.py) then answers a
 * message it already processed from what it stored, so nothing is done twice.
 */
(function () {
  "use strict";

  /** Milliseconds before a request to Rasa is given up. */
  const REQUEST_TIMEOUT_MS = 30000;

  /** Every sentence the widget shows on its own, in one place. */
  const TEXT = {
    defaultTitle: "Questions? Chat with us",
    close: "Close chat",
    conversation: "Conversation",
    inputLabel: "Your question",
    placeholder: "Type your question…",
    send: "Send",
    you: "You said: ",
    assistant: "Assistant said: ",
    choices: "Suggested topics",
    typing: "The assistant is typing…",
    notSent: "Not sent.",
    retry: "Retry",
    newTab: " (opens in a new tab)",
    waitForAnswer: "Please wait for the answer to your last message.",
    connectionLost:
      "Connection lost. The assistant can't be reached right now — please try again in a moment.",
    timedOut: "The assistant took too long to answer. Please try again in a moment.",
    serverError: (status) =>
      `The assistant couldn't answer just now (error ${status}). Please try again in a moment.`,
    keptForRetry: " Your message is kept in the conversation: choose “Retry” to send it again.",
    // Shown only if disclaimer.json cannot be loaded.
    fallbackDisclaimer:
      "This assistant gives general information, not medical advice. " +
      "For advice about your own health, ask a doctor, nurse or pharmacist.",
  };

  // ---------------------------------------------------------------- set-up

  const script =
    document.currentScript || document.querySelector('script[src*="/widget/chat.js"]');
  if (!script || window.__legCrampChatWidget) {
    return; // not found, or already on the page
  }
  window.__legCrampChatWidget = true;

  const server = (script.dataset.server || "").replace(/\/+$/, "");
  if (!server) {
    console.error("chat widget: the script tag needs a data-server attribute (the Rasa URL).");
    return;
  }
  const title = script.dataset.title || TEXT.defaultTitle;
  // chat.css and disclaimer.json sit beside chat.js.
  const widgetFolder = new URL(".", script.src);
  const storageKey = `leg-cramp-chat:${server}`;

  const state = loadState();
  let pending = false; // true while a request to Rasa is in flight

  // ------------------------------------------------------ session storage

  /** A random conversation id (crypto.getRandomValues works on plain http too). */
  function newSenderId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /**
   * A fresh id for one user message, sent as the REST channel's `message_id`.
   * A retry sends the same id again, so Rasa answers a message it already
   * processed (the first answer got lost) from what it stored, never twice.
   * crypto.randomUUID exists on https and localhost pages only.
   */
  function newMessageId() {
    if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
    // A version 4 UUID, as randomUUID makes it (crypto.getRandomValues works on plain http).
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-` +
      `${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** Whether `id` can be sent as a `message_id` (Rasa's channel takes up to 100 characters). */
  function isMessageId(id) {
    return typeof id === "string" && /^[0-9A-Za-z-]{1,100}$/.test(id);
  }

  /** Keeps only well-formed messages from storage (it may be stale or edited). */
  function cleanMessage(message) {
    if (!message || typeof message.text !== "string") return null;
    if (message.from !== "user" && message.from !== "bot") return null;
    const buttons = Array.isArray(message.buttons)
      ? message.buttons.filter(
          (b) => b && typeof b.title === "string" && typeof b.payload === "string")
      : [];
    const clean = {
      from: message.from,
      text: message.text,
      payload: typeof message.payload === "string" ? message.payload : message.text,
      buttons,
      failed: message.failed === true,
    };
    if (message.from === "user") clean.id = isMessageId(message.id) ? message.id : newMessageId();
    const smallPrint = message.from === "bot" ? cleanSmallPrint(message.smallPrint) : null;
    if (smallPrint) clean.smallPrint = smallPrint;
    return clean;
  }

  /**
   * The small print of an answer, `{disclaimer, sources}` (sources optional), or
   * null when `value` is not one.
   */
  function cleanSmallPrint(value) {
    if (!value || typeof value.disclaimer !== "string" || !value.disclaimer.trim()) return null;
    const clean = { disclaimer: value.disclaimer };
    if (typeof value.sources === "string" && value.sources.trim()) clean.sources = value.sources;
    return clean;
  }

  /** The conversation of this browser tab: sender id, transcript, open or not. */
  function loadState() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(storageKey) || "null");
      if (saved && /^[0-9a-f]{32}$/.test(saved.sender) && Array.isArray(saved.messages)) {
        return {
          sender: saved.sender,
          messages: saved.messages.map(cleanMessage).filter(Boolean),
          open: saved.open === true,
        };
      }
    } catch (error) {
      // Storage blocked or corrupt: start a fresh conversation.
    }
    return { sender: newSenderId(), messages: [], open: false };
  }

  function saveState() {
    try {
      sessionStorage.setItem(storageKey, JSON.stringify(state));
    } catch (error) {
      // Storage full or blocked: the conversation simply won't survive a reload.
    }
  }

  // ------------------------------------------------------------ DOM helpers

  /**
   * Creates an element. `attributes` may hold `class` and `text` (textContent)
   * besides ordinary attributes; children are nodes or strings (text nodes).
   */
  function element(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  /** Text for screen readers only. */
  function srOnly(text) {
    return element("span", { class: "cw-sr", text });
  }

  /** An <a> for an http(s) URL, or null for anything else (javascript:, data:, ...). */
  function safeLink(href) {
    let url;
    try {
      url = new URL(href);
    } catch (error) {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    return element(
      "a",
      { href: url.href, target: "_blank", rel: "noopener noreferrer" },
      href,
      srOnly(TEXT.newTab),
    );
  }

  /** Appends `text`, turning http(s) URLs into links. */
  function appendLinkified(parent, text) {
    const urlPattern = /\bhttps?:\/\/[^\s<>"]+/gi;
    let done = 0;
    for (const match of text.matchAll(urlPattern)) {
      let url = match[0].replace(/[.,;:!?'"]+$/, ""); // sentence punctuation isn't part of it
      if (url.endsWith(")") && !url.includes("(")) url = url.slice(0, -1);
      parent.append(text.slice(done, match.index));
      parent.append(safeLink(url) || url);
      done = match.index + url.length;
    }
    parent.append(text.slice(done));
  }

  /** Appends bot text: **bold** becomes <strong>, URLs become links. */
  function appendRichText(parent, text) {
    // split() with a capture group: odd indexes are the bold parts.
    text.split(/\*\*([^*\n]+?)\*\*/).forEach((part, index) => {
      if (!part) return;
      const target = index % 2 === 1 ? parent.appendChild(element("strong")) : parent;
      appendLinkified(target, part);
    });
  }

  // ------------------------------------------------------------ the widget

  const ids = {
    panel: "cw-panel",
    title: "cw-title",
    disclaimer: "cw-disclaimer",
    input: "cw-input",
  };

  const launcher = element("button", {
    type: "button",
    class: "cw-launcher",
    "aria-expanded": "false",
    "aria-controls": ids.panel,
    text: title,
  });
  const closeButton = element("button", {
    type: "button",
    class: "cw-close",
    "aria-label": TEXT.close,
    title: TEXT.close,
    text: "×",
  });
  const disclaimer = element("p", { id: ids.disclaimer, class: "cw-disclaimer" });
  const messageList = element("div", { class: "cw-messages" });
  const log = element(
    "div",
    {
      class: "cw-log",
      role: "log",
      "aria-live": "polite",
      "aria-label": TEXT.conversation,
      tabindex: "0", // lets keyboard users scroll a long conversation
    },
    disclaimer,
    messageList,
  );
  const status = element("div", { class: "cw-status", role: "status" });
  const alertBox = element("div", { class: "cw-alert", role: "alert" });
  const input = element("input", {
    id: ids.input,
    class: "cw-input",
    type: "text",
    name: "message",
    autocomplete: "off",
    maxlength: "1000",
    placeholder: TEXT.placeholder,
  });
  const form = element(
    "form",
    { class: "cw-form" },
    element("label", { class: "cw-sr", for: ids.input, text: TEXT.inputLabel }),
    input,
    element("button", { type: "submit", class: "cw-send", text: TEXT.send }),
  );
  const panel = element(
    "div",
    {
      id: ids.panel,
      class: "cw-panel",
      role: "dialog",
      "aria-labelledby": ids.title,
      "aria-describedby": ids.disclaimer,
    },
    element(
      "div",
      { class: "cw-header" },
      element("h2", { id: ids.title, class: "cw-title", text: title }),
      closeButton,
    ),
    log,
    status,
    alertBox,
    form,
  );
  panel.hidden = true;
  panel.dataset.pending = "false";
  const root = element("aside", { class: "cw-root", "aria-label": title }, panel, launcher);

  // ------------------------------------------------------------- rendering

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  /** Scrolls the question to the top so its answer is read from the start. */
  function scrollToQuestion(bubble) {
    log.scrollTop = bubble.offsetTop - 12; // the browser stops at the end if it all fits
  }

  /**
   * The small print under an answer: the disclaimer, then the sources line.
   * It follows the answer in the bubble, so screen readers read it after it.
   */
  function renderSmallPrint(smallPrint) {
    const box = element("div", { class: "cw-small" },
      element("p", { class: "cw-small-disclaimer", text: smallPrint.disclaimer }));
    if (smallPrint.sources) {
      box.append(element("p", { class: "cw-small-sources", text: smallPrint.sources }));
    }
    return box;
  }

  /** Builds one message bubble (with its small print and choice buttons, for the bot). */
  function renderMessage(message) {
    const text = element("p", { class: "cw-text" });
    const bubble = element("div", { class: `cw-msg cw-msg--${message.from}` }, text);
    if (message.from === "user") {
      text.append(srOnly(TEXT.you), message.text); // the user's text stays plain text
      if (message.failed) {
        bubble.classList.add("cw-msg--failed");
        const retry = element("button", { type: "button", class: "cw-retry", text: TEXT.retry });
        retry.addEventListener("click", () => retrySend(message));
        bubble.append(element("p", { class: "cw-failed" }, TEXT.notSent + " ", retry));
      }
    } else {
      text.append(srOnly(TEXT.assistant));
      appendRichText(text, message.text);
      if (message.smallPrint) bubble.append(renderSmallPrint(message.smallPrint));
      if (message.buttons.length) bubble.append(renderChoices(message.buttons));
    }
    return bubble;
  }

  /** The bot's buttons: clicking one sends its payload and shows its title. */
  function renderChoices(buttons) {
    const group = element("div", {
      class: "cw-choices",
      role: "group",
      "aria-label": TEXT.choices,
    });
    for (const button of buttons) {
      const choice = element("button", { type: "button", class: "cw-choice", text: button.title });
      choice.addEventListener("click", () => send(button.payload, button.title));
      group.append(choice);
    }
    return group;
  }

  /** Renders the whole transcript (once, on load, while the panel is hidden). */
  function renderAll() {
    messageList.replaceChildren(...state.messages.map(renderMessage));
    scrollToEnd();
  }

  /**
   * The bubble of a message: the list's children follow state.messages.
   * Single bubbles are updated in place, so the live region announces only them.
   */
  function bubbleOf(message) {
    return messageList.children[state.messages.indexOf(message)];
  }

  function addMessage(message) {
    const clean = cleanMessage(message);
    state.messages.push(clean);
    messageList.append(renderMessage(clean));
    scrollToEnd();
    saveState();
    return clean;
  }

  function showAlert(text) {
    alertBox.textContent = text;
  }

  /** Shows or hides "The assistant is typing…" (added to a live status region). */
  function setPending(isPending) {
    pending = isPending;
    // Not aria-busy: it would hold back the live regions inside the panel.
    panel.dataset.pending = String(isPending);
    if (isPending) {
      const dots = element("span", { class: "cw-dots", "aria-hidden": "true" },
        element("span"), element("span"), element("span"));
      status.replaceChildren(element("div", { class: "cw-typing" }, dots, TEXT.typing));
      scrollToEnd();
    } else {
      status.replaceChildren();
    }
  }

  // ------------------------------------------------------------ talking to Rasa

  class HttpError extends Error {
    constructor(status) {
      super(`HTTP ${status}`);
      this.status = status;
    }
  }

  /**
   * The bot's messages from Rasa's replies: text, buttons and small print. A
   * reply that is only the disclaimer (the "having trouble" answer sends it as
   * a paragraph of its own) becomes the small print of the message before it,
   * so it never shows as a bubble of its own.
   */
  function botMessages(replies) {
    const messages = [];
    for (const reply of replies) {
      if (!reply || typeof reply !== "object") continue;
      const text = typeof reply.text === "string" ? reply.text : "";
      const buttons = Array.isArray(reply.buttons) ? reply.buttons : [];
      const custom = reply.custom && typeof reply.custom === "object" ? reply.custom : {};
      const smallPrint = cleanSmallPrint(custom.small_print);
      const previous = messages[messages.length - 1];
      if (text && text === disclaimer.textContent && !buttons.length && !smallPrint &&
          previous && !previous.smallPrint) {
        previous.smallPrint = { disclaimer: text };
      } else if (text || buttons.length) {
        messages.push({ from: "bot", text, buttons, smallPrint });
      }
    }
    return messages;
  }

  /** Posts one message (and its id) to Rasa's REST channel; resolves to the bot's messages. */
  async function postToRasa(text, messageId) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(`${server}/webhooks/rest/webhook`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: state.sender, message: text, message_id: messageId }),
        signal: controller.signal,
      });
      if (!response.ok) throw new HttpError(response.status);
      const replies = await response.json();
      return Array.isArray(replies) ? replies : [];
    } finally {
      clearTimeout(timer);
    }
  }

  /** What to tell the user about a failed request. */
  function describeFailure(error) {
    if (error instanceof HttpError) return TEXT.serverError(error.status);
    if (error && error.name === "AbortError") return TEXT.timedOut;
    return TEXT.connectionLost;
  }

  /**
   * Sends `payload` to the assistant, showing `shownText` as the user's bubble.
   * A message that fails stays in the conversation, marked "Not sent", with a
   * Retry button, so nothing the user typed is lost. `id` is the message's
   * `message_id`: a new one, unless this is a retry.
   */
  async function send(payload, shownText, id = newMessageId()) {
    if (pending) {
      showAlert(TEXT.waitForAnswer);
      return false;
    }
    showAlert("");
    const message = addMessage({ from: "user", text: shownText, payload, id });
    setPending(true);
    try {
      const replies = await postToRasa(payload, message.id);
      botMessages(replies).forEach(addMessage);
      // A long answer is read from its start, not from the small print at its end.
      scrollToQuestion(bubbleOf(message));
    } catch (error) {
      message.failed = true;
      saveState();
      bubbleOf(message).replaceWith(renderMessage(message));
      showAlert(describeFailure(error) + TEXT.keptForRetry);
    } finally {
      setPending(false);
    }
    return true;
  }

  /**
   * Drops the failed message and sends it again at the end of the conversation,
   * with its own `message_id`: if Rasa did get it the first time (only the answer
   * was lost), it answers from what it stored instead of processing it twice.
   */
  function retrySend(message) {
    if (pending) {
      showAlert(TEXT.waitForAnswer);
      return;
    }
    bubbleOf(message).remove();
    state.messages = state.messages.filter((m) => m !== message);
    input.focus();
    send(message.payload, message.text, message.id);
  }

  // --------------------------------------------------------- open and close

  function openPanel({ focus = true } = {}) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    state.open = true;
    saveState();
    scrollToEnd();
    if (focus) input.focus();
  }

  function closePanel() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    state.open = false;
    saveState();
    launcher.focus();
  }

  // ---------------------------------------------------------------- events

  launcher.addEventListener("click", () => (panel.hidden ? openPanel() : closePanel()));
  closeButton.addEventListener("click", closePanel);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closePanel();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (pending) {
      showAlert(TEXT.waitForAnswer); // keep the text in the box
      return;
    }
    input.value = "";
    send(text, text);
  });

  // --------------------------------------------------------------- start up

  /** Adds chat.css once, from the widget's own folder. */
  function loadStyles() {
    const href = new URL("chat.css", widgetFolder).href;
    if (!document.querySelector(`link[href="${CSS.escape(href)}"]`)) {
      document.head.append(element("link", { rel: "stylesheet", href }));
    }
  }

  /** Shows the content store's disclaimer (served as disclaimer.json). */
  async function loadDisclaimer() {
    try {
      const response = await fetch(new URL("disclaimer.json", widgetFolder), { cache: "no-cache" });
      if (!response.ok) throw new HttpError(response.status);
      const data = await response.json();
      if (typeof data.disclaimer !== "string" || !data.disclaimer.trim()) {
        throw new Error("disclaimer.json has no disclaimer");
      }
      disclaimer.textContent = data.disclaimer;
    } catch (error) {
      console.warn("chat widget: could not load the disclaimer:", error);
      disclaimer.textContent = TEXT.fallbackDisclaimer;
    }
  }

  loadStyles();
  document.body.append(root);
  renderAll();
  if (state.open) openPanel({ focus: false }); // reopened after a reload: don't steal focus
  loadDisclaimer();
})();
