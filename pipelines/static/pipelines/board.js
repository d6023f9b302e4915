/* The pipeline board: drag a card (or press ←/→ on a focused card) to move a lead; live updates over SSE.
 * A move is shown at once and confirmed by the server; a refused move snaps back and the reason is shown.
 * Lead events from /api/events/stream (the admin session authenticates it) refetch that lead's card; after any card
 * change the column headers (count and budget sum per stage) are refetched from the board's summary. */
(function () {
  "use strict";

  const board = document.getElementById("board");
  if (!board) {
    return;
  }
  const statusBox = document.getElementById("board-status");
  const live = document.getElementById("board-live");
  const texts = board.dataset; // the page's language: data-text-* attributes
  const query = board.dataset.query ? "?" + board.dataset.query : "";
  const inFlight = new Set();
  const staleWhileMoving = new Set();
  let dragged = null;
  let sumsTimer = null;

  function cardUrl(leadId) {
    return board.dataset.cardUrl.replace(/\/cards\/0\/$/, "/cards/" + leadId + "/");
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function list(stageId) {
    return board.querySelector('.board-cards[data-stage-id="' + stageId + '"]');
  }

  function findCard(leadId) {
    return board.querySelector('.board-card[data-lead-id="' + leadId + '"]');
  }

  function bump(cards, delta) {
    const counter = cards && cards.closest(".board-column").querySelector(".stage-count");
    if (counter) {
      counter.textContent = String(Math.max(0, Number(counter.textContent) + delta));
    }
  }

  function say(text, kind) {
    statusBox.textContent = text;
    statusBox.className = "board-status " + (kind || "");
    if (kind !== "error") {
      window.setTimeout(function () {
        if (statusBox.textContent === text) {
          statusBox.textContent = "";
          statusBox.className = "board-status";
        }
      }, 4000);
    }
  }

  function flash(card, kind) {
    card.classList.add(kind);
    window.setTimeout(function () { card.classList.remove(kind); }, 1600);
  }

  function fromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  /* Put the server's version of a card where it belongs: its stage's column, or nowhere (moved away / filtered out). */
  function place(leadId, stageId, html, highlight) {
    const old = findCard(leadId);
    const target = stageId ? list(stageId) : null;
    if (old) {
      bump(old.parentElement, -1);
      old.remove();
    }
    if (!html || !target) {
      return null;
    }
    const card = fromHtml(html);
    target.prepend(card);
    bump(target, +1);
    if (highlight) {
      flash(card, "fresh");
    }
    return card;
  }

  async function readJson(response) {
    const type = response.headers.get("Content-Type") || "";
    if (!type.includes("application/json")) {
      throw new Error(texts.textExpired);
    }
    return response.json();
  }

  /* The server's counts and sums replace the optimistic count bumps, once no move is waiting for its answer
   * (a burst of events asks once). */
  function scheduleSums() {
    window.clearTimeout(sumsTimer);
    sumsTimer = window.setTimeout(refreshSums, 250);
  }

  function showSums(columns) {
    columns.forEach(function (column) {
      const section = board.querySelector('.board-column[data-stage-id="' + column.stage_id + '"]');
      if (section) {
        section.querySelector(".stage-count").textContent = String(column.leads);
        section.querySelector(".stage-sum").textContent = column.price_total_text;
      }
    });
  }

  async function refreshSums() {
    if (inFlight.size) {
      scheduleSums();
      return;
    }
    try {
      const response = await fetch(board.dataset.summaryUrl + query, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await readJson(response);
      if (inFlight.size) {
        scheduleSums();
      } else if (response.ok) {
        showSums(body.columns);
      }
    } catch (error) {
      say(error.message, "error");
    }
  }

  async function refresh(leadId) {
    if (inFlight.has(leadId)) {
      staleWhileMoving.add(leadId);
      return;
    }
    try {
      const response = await fetch(cardUrl(leadId) + query, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.status === 404) {
        place(leadId, null, null);
        scheduleSums();
        return;
      }
      const body = await readJson(response);
      if (response.ok) {
        place(leadId, body.stage_id, body.html, true);
        scheduleSums();
      }
    } catch (error) {
      say(error.message, "error");
    }
  }

  async function move(card, targetList, before) {
    const leadId = card.dataset.leadId;
    const origin = card.parentElement;
    const originNext = card.nextElementSibling;
    const stageId = Number(targetList.dataset.stageId);
    if (origin === targetList) {
      return;
    }
    targetList.insertBefore(card, before || targetList.firstElementChild);
    bump(origin, -1);
    bump(targetList, +1);
    card.classList.add("pending");
    inFlight.add(leadId);
    let reason = null;
    try {
      const response = await fetch(cardUrl(leadId) + "move/" + query, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
        body: JSON.stringify({ stage_id: stageId }),
      });
      const body = await readJson(response);
      if (response.ok) {
        const stageName = targetList.closest(".board-column").querySelector(".stage-name").textContent;
        const fresh = place(leadId, body.stage_id, body.html, false);
        if (fresh) {
          flash(fresh, "moved");
          fresh.focus();
        }
        say("«" + (fresh ? fresh.getAttribute("aria-label") : texts.textLead) + "» → «" + stageName + "»", "ok");
      } else {
        // The message and the details often say the same thing (a one-field error): each part once.
        const parts = [body.message, ...Object.values(body.details || {}).flat()].filter(Boolean);
        reason = [...new Set(parts)].join(" ") || texts.textRefused;
      }
    } catch (error) {
      reason = error.message || texts.textNoConnection;
    } finally {
      inFlight.delete(leadId);
      card.classList.remove("pending");
    }
    if (reason !== null) {
      bump(card.parentElement, -1);
      origin.insertBefore(card, originNext);
      bump(origin, +1);
      flash(card, "rejected");
      say(texts.textNotMoved + " " + reason, "error");
    }
    scheduleSums();
    if (staleWhileMoving.delete(leadId)) {
      refresh(leadId);
    }
  }

  /* Drag and drop (HTML5). */
  board.addEventListener("dragstart", function (event) {
    const card = event.target.closest(".board-card");
    if (!card) {
      return;
    }
    dragged = card;
    card.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.leadId);
  });
  board.addEventListener("dragend", function () {
    if (dragged) {
      dragged.classList.remove("dragging");
    }
    dragged = null;
    board.querySelectorAll(".drop-target").forEach(function (el) { el.classList.remove("drop-target"); });
  });
  board.addEventListener("dragover", function (event) {
    const target = event.target.closest(".board-column");
    if (!dragged || !target) {
      return;
    }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    board.querySelectorAll(".drop-target").forEach(function (el) {
      if (el !== target) { el.classList.remove("drop-target"); }
    });
    target.classList.add("drop-target");
  });
  board.addEventListener("drop", function (event) {
    const column = event.target.closest(".board-column");
    if (!dragged || !column) {
      return;
    }
    event.preventDefault();
    column.classList.remove("drop-target");
    const before = event.target.closest(".board-card");
    move(dragged, column.querySelector(".board-cards"), before && before !== dragged ? before : null);
  });

  /* Keyboard: ← / → move the focused card to the neighbouring column. */
  board.addEventListener("keydown", function (event) {
    const card = event.target.closest(".board-card");
    if (!card || (event.key !== "ArrowLeft" && event.key !== "ArrowRight")) {
      return;
    }
    const columns = Array.from(board.querySelectorAll(".board-cards"));
    const next = columns[columns.indexOf(card.parentElement) + (event.key === "ArrowRight" ? 1 : -1)];
    if (next) {
      event.preventDefault();
      move(card, next, null);
    }
  });

  /* Live updates. EventSource reconnects by itself and resumes with Last-Event-ID. */
  function setLive(state, text) {
    live.className = "board-live " + state;
    live.querySelector("span").textContent = text;
  }
  if (window.EventSource && board.dataset.streamUrl) {
    const stream = new EventSource(board.dataset.streamUrl);
    stream.addEventListener("connected", function () { setLive("on", texts.textOnline); });
    stream.addEventListener("open", function () { setLive("on", texts.textOnline); });
    stream.addEventListener("error", function () {
      const closed = stream.readyState === EventSource.CLOSED;
      setLive("off", closed ? texts.textNoUpdates : texts.textReconnecting);
    });
    ["lead_created", "lead_updated"].forEach(function (type) {
      stream.addEventListener(type, function (event) {
        const payload = JSON.parse(event.data);
        refresh(String(payload.data.lead_id));
      });
    });
    window.addEventListener("beforeunload", function () { stream.close(); });
  } else {
    setLive("off", texts.textNoUpdates);
  }
})();
