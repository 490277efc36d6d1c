// The review page: loads a job's review data with the API key and draws it. Every value from the
// invoice is written with textContent (never as HTML), so invoice text cannot become markup.
"use strict";
(() => {
  const KEY = "invoiceai-review-key";
  const byId = (id) => document.getElementById(id);
  const shown = (value) => (value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value));
  const imageUrls = [];

  function element(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }

  function headers(json) {
    const result = {};
    const key = sessionStorage.getItem(KEY);
    if (key) result.Authorization = "Bearer " + key;
    if (json) result["Content-Type"] = "application/json";
    return result;
  }

  // Paths are relative to /v1/jobs/{id}/review, so "review/data" is this job's data.
  async function call(path, options) {
    const body = options && options.body;
    const response = await fetch(path, { ...(options || {}), headers: headers(body !== undefined), cache: "no-store" });
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail || detail; } catch (ignored) { /* not problem+json */ }
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  function status(text, kind) {
    const line = byId("status");
    line.textContent = text;
    line.className = kind || "";
  }

  function verdict(review) {
    const box = byId("verdict");
    box.replaceChildren();
    if (review === null) {
      box.append(element("div", { class: "unknown", text: "No provenance for this job (the service runs with INVOICEAI_PROVENANCE=0): no boxes or confidence." }));
    } else if (review.needs_review) {
      box.append(element("div", { class: "needs-review" }, element("b", { text: "Needs review" }),
        element("ul", {}, ...review.reasons.map((reason) => element("li", { text: reason })))));
    } else {
      box.append(element("div", { class: "no-review" }, element("b", { text: "No review needed" })));
    }
  }

  function activate(path) {
    for (const node of document.querySelectorAll(".active")) node.classList.remove("active");
    for (const node of document.querySelectorAll("[data-field]")) {
      if (node.dataset.field === path) node.classList.add("active");
    }
    const row = [...document.querySelectorAll("tr[data-field]")].find((node) => node.dataset.field === path);
    if (row) row.scrollIntoView({ block: "nearest" });
  }

  async function save(field, value) {
    try {
      const response = await call("corrections", { method: "POST", body: JSON.stringify({ field, value }) });
      const entry = await response.json();
      await load();
      status(`${entry.action === "confirm" ? "Confirmed" : "Corrected"} ${entry.field}: ${shown(entry.old_value)} → ${shown(entry.new_value)}`, "ok");
    } catch (error) {
      status(`Not saved: ${error.message}`, "error");
    }
  }

  function fieldRow(field) {
    const input = element("input", { "aria-label": field.path });
    input.value = shown(field.value);
    const findings = element("ul", {}, ...field.findings.map((finding) => element("li", { text: `${finding.rule}: ${finding.message}` })));
    const confidence = element("td", { class: field.confidence ? "confidence-" + field.confidence : "", text: field.confidence || "" });
    if (field.reviewed) confidence.append(element("div", { class: "reviewed", text: field.reviewed === "confirm" ? "confirmed" : "corrected" }));
    const confirm = element("button", { type: "button", class: "confirm", text: "Confirm" });
    confirm.addEventListener("click", () => save(field.path, field.value));
    const correct = element("button", { type: "button", class: "save", text: "Save" });
    correct.addEventListener("click", () => save(field.path, input.value === "" ? null : input.value));
    input.addEventListener("keydown", (event) => { if (event.key === "Enter") correct.click(); });
    const row = element("tr", { "data-field": field.path, class: field.needs_review ? "flagged" : "" },
      element("td", { class: "path", text: field.path }), element("td", {}, input), confidence,
      element("td", {}, findings), element("td", {}, confirm, correct));
    row.addEventListener("focusin", () => activate(field.path));
    return row;
  }

  function fields(list) {
    byId("fields").tBodies[0].replaceChildren(...list.map(fieldRow));
  }

  function trail(list) {
    byId("trail").tBodies[0].replaceChildren(...list.map((entry) => element("tr", {},
      ...[entry.at, entry.key_id, entry.action, entry.field, shown(entry.old_value), shown(entry.new_value)]
        .map((value) => element("td", { text: value })))));
  }

  function box(field) {
    const [x0, y0, x1, y1] = field.box;
    const node = element("div", {
      class: `box ${field.confidence || ""}${field.needs_review ? " flagged" : ""}`,
      "data-field": field.path, title: `${field.path} = ${shown(field.value)}`,
    });
    // CSSOM, not a style attribute: the page's Content-Security-Policy allows only the former.
    node.style.left = `${x0 * 100}%`;
    node.style.top = `${y0 * 100}%`;
    node.style.width = `${(x1 - x0) * 100}%`;
    node.style.height = `${(y1 - y0) * 100}%`;
    node.addEventListener("click", () => activate(field.path));
    return node;
  }

  async function pages(view) {
    const area = byId("pages");
    area.replaceChildren();
    while (imageUrls.length) URL.revokeObjectURL(imageUrls.pop());
    if (view.pages_note) area.append(element("p", { text: view.pages_note }));
    for (const page of view.pages) {
      const image = element("img", { alt: `page ${page.number}` });
      const frame = element("div", { class: "page", "data-page": String(page.number) }, image);
      for (const field of view.fields) {
        if (field.page === page.number && Array.isArray(field.box)) frame.append(box(field));
      }
      area.append(frame);
      try {
        const url = URL.createObjectURL(await (await call(`pages/${page.number}`)).blob());
        imageUrls.push(url);
        image.src = url;
      } catch (error) {
        frame.replaceWith(element("p", { text: `Page ${page.number}: ${error.message}` }));
      }
    }
  }

  async function load() {
    status("Loading…");
    let view;
    try {
      view = await (await call("review/data")).json();
    } catch (error) {
      status(error.status === 401 ? "Enter a valid API key." : `Could not load the job: ${error.message}`, "error");
      return;
    }
    byId("job-source").textContent = view.job.source;
    document.title = `Review ${view.job.source}`;
    status(view.job.status === "succeeded" ? "" : `The job is ${view.job.status}; reload when it has succeeded.`,
      view.job.status === "succeeded" ? "" : "error");
    verdict(view.review);
    fields(view.fields);
    trail(view.corrections);
    await pages(view);
    document.body.dataset.loaded = "true";
  }

  byId("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId("api-key").value.trim();
    if (key) sessionStorage.setItem(KEY, key); else sessionStorage.removeItem(KEY);
    byId("api-key").value = "";
    load();
  });
  byId("other-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = byId("other-value").value;
    save(byId("other-field").value.trim(), value === "" ? null : value);
  });
  load();
})();
